// `pnpm bench`: the lab, upload and download services as child processes started like production
// (`node dist/server.js` with an environment), then throughput, CPU, latency and peak-memory figures.
// Not a test: it prints figures. Build first (the root script does).
import { spawn, type ChildProcess } from 'node:child_process'
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { createS3Client } from '@kms-share/shared'

const ROOT = resolve(import.meta.dirname, '../../..')
const MiB = 1024 * 1024
const GiB = 1024 * MiB
const BUCKET = 'kmsworkshop-111122223333'
const KEY_ALIAS = 'alias/ImportedCMK'
const TICKS = 100 // USER_HZ on Linux: /proc/<pid>/stat times are in clock ticks

const work = mkdtempSync(join(tmpdir(), 'kms-share-bench-'))
const children: ChildProcess[] = []

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => res(port))
    })
  })
}

function start(name: string, script: string, env: Record<string, string>, cwd: string): ChildProcess {
  if (!existsSync(script)) throw new Error(`${script} is missing: run pnpm build first`)
  const child = spawn(process.execPath, [script], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let tail = ''
  const keep = (chunk: Buffer) => { tail = (tail + chunk.toString()).slice(-4000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  child.once('exit', (code) => {
    if (code && code !== 0 && !stopping) process.stderr.write(`${name} exited with ${code}:\n${tail}\n`)
  })
  children.push(child)
  return child
}

async function waitReady(url: string, what: string): Promise<void> {
  const until = Date.now() + 60_000
  for (;;) {
    try {
      const res = await fetch(url)
      if (res.ok) return
    } catch { /* not listening yet */ }
    if (Date.now() > until) throw new Error(`${what} did not become ready at ${url}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

/** Peak resident set size (VmHWM) in MiB. */
function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024
}

/** A file of `size` bytes of incompressible data, written in 1 MiB blocks. */
async function makeFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path)
  const block = randomBytes(MiB)
  for (let written = 0; written < size; written += MiB) {
    block[0] = written & 0xff // vary the blocks a little
    if (!out.write(block.subarray(0, Math.min(MiB, size - written)))) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

/** PUT a file to a URL with Content-Length; resolves with the status. */
async function putFile(url: string, path: string, size: number): Promise<number> {
  return new Promise((res, rej) => {
    const req = request(url, { method: 'PUT', headers: { 'content-length': size, 'content-type': 'application/octet-stream' } }, (r) => {
      r.resume()
      r.on('end', () => res(r.statusCode ?? 0))
    })
    req.on('error', rej)
    createReadStream(path, { highWaterMark: MiB }).pipe(req)
  })
}

/** GET a URL, discarding the body; resolves with the byte count. */
async function getBytes(url: string): Promise<number> {
  return new Promise((res, rej) => {
    request(url, (r) => {
      if (r.statusCode !== 200) rej(new Error(`GET ${url}: ${r.statusCode}`))
      let n = 0
      r.on('data', (c: Buffer) => { n += c.length })
      r.on('end', () => res(n))
      r.on('error', rej)
    }).on('error', rej).end()
  })
}

const mbps = (bytes: number, ms: number) => (bytes / 1e6) / (ms / 1000)
const fmt = (n: number, digits = 1) => n.toFixed(digits)
let stopping = false

async function main(): Promise<void> {
  const [labPort, uploadPort, downloadPort] = [await freePort(), await freePort(), await freePort()]
  const labDir = join(work, 'lab')
  const lab = start('lab', join(ROOT, 'packages/aws-lab/dist/server.js'), { LAB_PORT: String(labPort), LAB_DATA_DIR: labDir }, join(ROOT, 'packages/aws-lab'))
  const endpoint = `http://127.0.0.1:${labPort}`
  const credentialsFile = join(labDir, 'credentials')
  const until = Date.now() + 60_000
  while (!existsSync(credentialsFile) || !existsSync(join(labDir, 'config'))) {
    if (Date.now() > until) throw new Error('the lab did not start')
    await new Promise((r) => setTimeout(r, 200))
  }
  const aws = (profile: string) => ({
    AWS_PROFILE: profile,
    AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
    AWS_CONFIG_FILE: join(labDir, 'config'),
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL: endpoint,
  })
  const uploadUrl = `http://127.0.0.1:${uploadPort}`
  const downloadUrl = `http://127.0.0.1:${downloadPort}`
  const startServices = async () => {
    const upload = start('upload', join(ROOT, 'services/upload/dist/server.js'), {
      // Loopback only, so the figures measure transfers rather than token checks.
      ...aws('uploader'), BUCKET, KMS_KEY_ID: KEY_ALIAS, PORT: String(uploadPort), LOG_LEVEL: 'warn', AUTH_DISABLED: 'true',
      DOWNLOAD_PUBLIC_URL: downloadUrl,
    }, join(ROOT, 'services/upload'))
    const download = start('download', join(ROOT, 'services/download/dist/server.js'), {
      ...aws('downloader'), BUCKET, PORT: String(downloadPort), LOG_LEVEL: 'warn', AUTH_DISABLED: 'true',
      CACHE_DIR: join(work, 'cache'), CACHE_MAX_BYTES: String(4 * GiB), UPLOAD_PUBLIC_URL: uploadUrl,
    }, join(ROOT, 'services/download'))
    await waitReady(`${uploadUrl}/readyz`, 'upload')
    await waitReady(`${downloadUrl}/readyz`, 'download')
    return { upload, download }
  }
  let { upload, download } = await startServices()
  console.log(`lab ${endpoint} · upload ${uploadUrl} · download ${downloadUrl} · work ${work}`)

  const file512 = join(work, 'file-512MiB.bin')
  await makeFile(file512, 512 * MiB)
  const s3 = createS3Client(aws('uploader'))

  // Upload: a direct SDK PutObject as the same identity vs PUT through the service; same file, same run.
  let t0 = Date.now()
  await s3.send(new PutObjectCommand({
    Bucket: BUCKET, Key: 'bench/direct-512.bin', Body: createReadStream(file512, { highWaterMark: MiB }),
    ContentLength: 512 * MiB, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ALIAS,
  }))
  const directMs = Date.now() - t0
  const cpuBefore = cpuSeconds(upload.pid!)
  t0 = Date.now()
  const status = await putFile(`${uploadUrl}/files/bench/service-512.bin`, file512, 512 * MiB)
  const serviceMs = Date.now() - t0
  if (status !== 201) throw new Error(`upload answered ${status}`)
  const uploadCpu = cpuSeconds(upload.pid!) - cpuBefore
  const direct = mbps(512 * MiB, directMs)
  const service = mbps(512 * MiB, serviceMs)
  console.log(`upload 512 MiB: direct SDK PutObject ${fmt(direct)} MB/s, through the service ${fmt(service)} MB/s, ratio ${fmt(service / direct, 2)} (target ≥ 0.80)`)
  console.log(`upload service CPU: ${fmt(uploadCpu, 2)} s for 512 MiB = ${fmt(uploadCpu * 2, 2)} CPU-s/GiB`)

  // Download: cold (S3 → client and cache), then warm (cache → client, after an ETag check).
  t0 = Date.now()
  const coldBytes = await getBytes(`${downloadUrl}/files/bench/service-512.bin`)
  const coldMs = Date.now() - t0
  t0 = Date.now()
  const warmBytes = await getBytes(`${downloadUrl}/files/bench/service-512.bin`)
  const warmMs = Date.now() - t0
  if (coldBytes !== 512 * MiB || warmBytes !== 512 * MiB) throw new Error('short download')
  console.log(`download 512 MiB: cold (from S3) ${fmt(mbps(coldBytes, coldMs))} MB/s, warm (from cache) ${fmt(mbps(warmBytes, warmMs))} MB/s`)
  console.log(`  peak RSS so far: upload ${fmt(peakRssMiB(upload.pid!))} MiB, download ${fmt(peakRssMiB(download.pid!))} MiB`)

  // Latency of 1 KiB cached downloads, 32 concurrent clients.
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'bench/small-1KiB.bin', Body: randomBytes(1024), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ALIAS }))
  await getBytes(`${downloadUrl}/files/bench/small-1KiB.bin`)
  const agent = new Agent({ keepAlive: true, maxSockets: 32 })
  const latencies: number[] = []
  const total = 3200
  let issued = 0
  const client = async () => {
    while (issued < total) {
      issued++
      const begin = process.hrtime.bigint()
      await new Promise<void>((res, rej) => {
        request(`${downloadUrl}/files/bench/small-1KiB.bin`, { agent }, (r) => {
          r.resume()
          r.on('end', () => (r.statusCode === 200 ? res() : rej(new Error(String(r.statusCode)))))
        }).on('error', rej).end()
      })
      latencies.push(Number(process.hrtime.bigint() - begin) / 1e6)
    }
  }
  t0 = Date.now()
  await Promise.all(Array.from({ length: 32 }, client))
  const latencyMs = Date.now() - t0
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]
  console.log(`1 KiB cached downloads, 32 clients, ${total} requests: p50 ${fmt(pct(0.5), 2)} ms, p99 ${fmt(pct(0.99), 2)} ms, ${fmt(total / (latencyMs / 1000), 0)} req/s`)
  console.log(`  peak RSS so far: download ${fmt(peakRssMiB(download.pid!))} MiB`)

  // Fresh service processes, so their peak RSS is that of moving the 1 GiB file.
  for (const child of [upload, download]) {
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
  ;({ upload, download } = await startServices())

  // Peak memory while moving a 1 GiB file through each service.
  rmSync(file512)
  const file1g = join(work, 'file-1GiB.bin')
  await makeFile(file1g, GiB)
  const upStatus = await putFile(`${uploadUrl}/files/bench/service-1GiB.bin`, file1g, GiB)
  if (upStatus !== 201) throw new Error(`upload of 1 GiB answered ${upStatus}`)
  rmSync(file1g)
  await getBytes(`${downloadUrl}/files/bench/service-1GiB.bin`)
  await getBytes(`${downloadUrl}/files/bench/service-1GiB.bin`)
  const upRss = peakRssMiB(upload.pid!)
  const downRss = peakRssMiB(download.pid!)
  console.log(`peak RSS (VmHWM) moving 1 GiB (upload PUT; download cold + warm): upload ${fmt(upRss)} MiB, download ${fmt(downRss)} MiB, lab ${fmt(peakRssMiB(lab.pid!))} MiB (target < 200 MiB per service)`)
}

async function stop(): Promise<void> {
  stopping = true
  for (const child of children.reverse()) {
    if (child.exitCode !== null) continue
    child.kill('SIGTERM')
    await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 15_000))])
  }
  rmSync(work, { recursive: true, force: true })
}

try {
  await main()
} catch (err) {
  process.exitCode = 1
  console.error(err)
} finally {
  await stop()
}
