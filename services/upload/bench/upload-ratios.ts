// `pnpm --filter @kms-share/upload bench`: the upload service and the lab's S3 PUT as same-run ratios,
// each side alternated over several rounds (the order rotates every round, the file is in the page cache
// for all of them) (issue 14):
//   upload — PUT through the service (Node http client; and curl) vs a direct SDK PutObject of the same file
//   lab    — the lab's S3 PUT (the direct rounds) vs a plain fsync'd write of the same bytes on the same disk,
//            beside AES-256-GCM's, MD5's and CRC32's single-core speed (the lab's per-byte work)
// then CPU seconds per GiB of each process on the upload path and peak RSS (VmHWM) after a BENCH_RSS_MIB upload.
// Not a test: it prints figures. Build first (`pnpm build`). BENCH_MIB (default 256), BENCH_ROUNDS (default 4)
// and BENCH_RSS_MIB (default 1024; 0 skips) size it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { closeSync, createReadStream, createWriteStream, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { once } from 'node:events'
import { crc32 } from 'node:zlib'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { createS3Client } from '@kms-share/shared'

const ROOT = resolve(import.meta.dirname, '../../..')
const MiB = 1024 * 1024
const SIZE = Number(process.env.BENCH_MIB ?? 256) * MiB
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const RSS_SIZE = Number(process.env.BENCH_RSS_MIB ?? 1024) * MiB
const BUCKET = 'kmsworkshop-111122223333'
const KEY_ALIAS = 'alias/ImportedCMK'
const TICKS = 100 // USER_HZ: /proc/<pid>/stat times are in clock ticks
const work = mkdtempSync(join(tmpdir(), 'kms-share-bench-upload-'))
const children: ChildProcess[] = []

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

function start(script: string, env: Record<string, string>, cwd: string): ChildProcess {
  if (!existsSync(script)) throw new Error(`${script} is missing: run pnpm build first`)
  // BENCH_CPU_PROF=<dir>: each child writes a V8 CPU profile there on exit, to see where its time goes.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  const child = spawn(process.execPath, [...profile, script], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  return child
}

async function waitReady(url: string): Promise<void> {
  const until = Date.now() + 60_000
  while (!(await fetch(url).then((r) => r.ok, () => false))) {
    if (Date.now() > until) throw new Error(`${url} not ready`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

/** This process's own CPU (the bench's clients), in seconds. */
const selfCpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/** A file of `size` incompressible bytes, written in 1 MiB blocks. */
async function makeFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path)
  const block = randomBytes(MiB)
  for (let written = 0; written < size; written += MiB) {
    block[0] = written & 0xff
    if (!out.write(block.subarray(0, Math.min(MiB, size - written)))) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

/**
 * PUT a file with Content-Length from Node's http client; resolves when the 201 is in. 64 KiB reads, as
 * curl sends: with 1 MiB reads piped into the request this client itself was the slower side (each
 * 1 MiB write waits to drain whole before the next), which is part of what the 0.7 of issue 14 measured.
 */
function putWithNode(url: string, path: string, size: number): Promise<void> {
  return new Promise((res, rej) => {
    const req = request(url, { method: 'PUT', headers: { 'content-length': size, 'content-type': 'application/octet-stream' } }, (r) => {
      let text = ''
      r.on('data', (c: Buffer) => void (text += c.toString()))
      r.on('end', () => (r.statusCode === 201 ? res() : rej(new Error(`PUT ${url}: ${r.statusCode} ${text}`))))
    })
    req.on('error', rej)
    createReadStream(path, { highWaterMark: 64 * 1024 }).pipe(req)
  })
}

/** PUT a file with curl (-T sends Content-Length); an independent client, to tell the bench's client from the service. */
function putWithCurl(url: string, path: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'content-type: application/octet-stream', '-H', 'expect:', '-T', path, url], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => void (out += c.toString()))
    child.once('error', rej)
    child.once('exit', () => (out === '201' ? res() : rej(new Error(`curl PUT ${url}: ${out}`))))
  })
}

/** Writes `size` bytes in 1 MiB writes and fsyncs: what the disk under the lab's data folder allows. */
function fsyncedWrite(dir: string, size: number): void {
  const path = join(dir, `disk-${randomBytes(4).toString('hex')}.bin`)
  const block = randomBytes(MiB)
  const fd = openSync(path, 'wx')
  try {
    for (let written = 0; written < size; written += MiB) writeSync(fd, block, 0, Math.min(MiB, size - written))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
    rmSync(path, { force: true })
  }
}

/** MB per CPU-second of one per-byte step over `bytes`, in 64 KiB pieces as the lab does it: CPU time, so a loaded machine does not lower it. */
function cpuRate(bytes: number, step: (piece: Buffer, index: number) => void): number {
  const piece = randomBytes(64 * 1024)
  const begin = selfCpu()
  for (let i = 0, done = 0; done < bytes; i++, done += piece.length) step(piece, i)
  return bytes / 1e6 / (selfCpu() - begin)
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const fmt = (n: number, digits = 1) => n.toFixed(digits)

async function timedMs(fn: () => Promise<void> | void): Promise<number> {
  const begin = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - begin) / 1e6
}

interface Side {
  label: string
  run: (round: number) => Promise<void> | void
  ms: number[]
  /** CPU seconds per process name, summed over the rounds. */
  cpu: Record<string, number>
}

/** Every round runs each side once, the order rotated by one each round, so no side always goes first or last. */
async function rounds(sides: Side[], pids: Record<string, number>): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < sides.length; i++) {
      const side = sides[(i + round) % sides.length]
      const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, name === 'bench' ? selfCpu() : cpuSeconds(pid)]))
      side.ms.push(await timedMs(() => side.run(round)))
      for (const [name, pid] of Object.entries(pids)) {
        side.cpu[name] = (side.cpu[name] ?? 0) + (name === 'bench' ? selfCpu() : cpuSeconds(pid)) - before[name]
      }
    }
  }
}

/** Median of the per-round ratios of a's rate to b's (b's time over a's), and the rounds. */
function ratioLine(a: Side, b: Side): string {
  const ratios = a.ms.map((ms, i) => b.ms[i] / ms)
  return `ratio median ${fmt(median(ratios), 2)} (rounds ${ratios.map((r) => fmt(r, 2)).join(' ')})`
}

const rate = (side: Side, bytes = SIZE) => fmt(median(side.ms.map((ms) => mbps(bytes, ms))))
const cpuPerGiB = (side: Side, name: string) => fmt((side.cpu[name] ?? 0) / ((SIZE * side.ms.length) / (1024 * MiB)), 2)

async function main(): Promise<void> {
  const labPort = await freePort()
  const labDir = join(work, 'lab')
  const lab = start(join(ROOT, 'packages/aws-lab/dist/server.js'), { LAB_PORT: String(labPort), LAB_DATA_DIR: labDir }, join(ROOT, 'packages/aws-lab'))
  const endpoint = `http://127.0.0.1:${labPort}`
  const until = Date.now() + 60_000
  while (!existsSync(join(labDir, 'credentials')) || !existsSync(join(labDir, 'config'))) {
    if (Date.now() > until) throw new Error('the lab did not start')
    await new Promise((r) => setTimeout(r, 200))
  }
  const aws = (profile: string) => ({
    AWS_PROFILE: profile, AWS_SHARED_CREDENTIALS_FILE: join(labDir, 'credentials'), AWS_CONFIG_FILE: join(labDir, 'config'),
    AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: endpoint,
  })
  const startUpload = async () => {
    const port = await freePort()
    const child = start(join(ROOT, 'services/upload/dist/server.js'), {
      // Loopback only, so the figures measure transfers rather than token checks.
      ...aws('uploader'), BUCKET, KMS_KEY_ID: KEY_ALIAS, PORT: String(port), LOG_LEVEL: 'warn', AUTH_DISABLED: 'true',
      DOWNLOAD_PUBLIC_URL: 'http://127.0.0.1:1',
    }, join(ROOT, 'services/upload'))
    const url = `http://127.0.0.1:${port}`
    await waitReady(`${url}/readyz`)
    return { child, url }
  }
  let upload = await startUpload()
  const file = join(work, 'file.bin')
  await makeFile(file, SIZE)
  // The same identity as the service, the same SDK defaults (stream body, Content-Length, SSE-KMS).
  const s3 = createS3Client(aws('uploader'))
  const direct = (key: string, path: string, size: number) => s3.send(new PutObjectCommand({
    Bucket: BUCKET, Key: key, Body: createReadStream(path, { highWaterMark: MiB }), ContentLength: size,
    ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ALIAS,
  }))
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  console.log(`upload bench: ${SIZE / MiB} MiB file, ${ROUNDS} rounds, sides rotated each round · ${new Date().toISOString()} · load ${load()}`)

  // Warm-up: the file into the page cache, each path's sockets and credentials opened once.
  await direct('bench/warm.bin', file, SIZE)
  await putWithNode(`${upload.url}/files/bench/warm.bin?overwrite=true`, file, SIZE)

  const hasCurl = spawnSync('curl', ['--version']).status === 0
  const sdk: Side = { label: 'direct SDK PutObject', run: async () => void (await direct('bench/direct.bin', file, SIZE)), ms: [], cpu: {} }
  const node: Side = { label: 'service, Node http client', run: () => putWithNode(`${upload.url}/files/bench/service.bin?overwrite=true`, file, SIZE), ms: [], cpu: {} }
  const curl: Side = { label: 'service, curl', run: () => putWithCurl(`${upload.url}/files/bench/service-curl.bin?overwrite=true`, file), ms: [], cpu: {} }
  const disk: Side = { label: "fsync'd disk write", run: () => fsyncedWrite(labDir, SIZE), ms: [], cpu: {} }
  const pids = { bench: process.pid, upload: upload.child.pid!, lab: lab.pid! }
  await rounds([sdk, node, ...(hasCurl ? [curl] : []), disk], pids)

  console.log(`upload: through the service ${rate(node)} MB/s, direct SDK PutObject ${rate(sdk)} MB/s, ${ratioLine(node, sdk)}; target ≥ 0.90`)
  if (hasCurl) console.log(`upload with curl as the client: service ${rate(curl)} MB/s vs direct ${rate(sdk)} MB/s, ${ratioLine(curl, sdk)}`)
  console.log(`  CPU-s per GiB — direct: bench client ${cpuPerGiB(sdk, 'bench')}, lab ${cpuPerGiB(sdk, 'lab')} · through the service: client ${cpuPerGiB(node, 'bench')}, service ${cpuPerGiB(node, 'upload')}, lab ${cpuPerGiB(node, 'lab')}`)

  // The lab's PUT against what the machine allows: the disk with fsync, and the per-byte crypto it does.
  const aesKey = randomBytes(32)
  const cryptoBytes = Math.min(SIZE, 256 * MiB)
  const gcm = cpuRate(cryptoBytes, (piece, i) => {
    const iv = Buffer.alloc(12)
    iv.writeUInt32BE(i, 8)
    const cipher = createCipheriv('aes-256-gcm', aesKey, iv)
    cipher.update(piece)
    cipher.final()
    cipher.getAuthTag()
  })
  const md5 = createHash('md5')
  const md5Rate = cpuRate(cryptoBytes, (piece) => void md5.update(piece))
  let crc = 0
  const crcRate = cpuRate(cryptoBytes, (piece) => void (crc = crc32(piece, crc)))
  console.log(`lab S3 PUT (the direct rounds) ${rate(sdk)} MB/s vs fsync'd disk write ${rate(disk)} MB/s, ${ratioLine(sdk, disk)}`)
  console.log(`  per-byte limits, MB per CPU-second: AES-256-GCM ${fmt(gcm, 0)} MB/s, MD5 ${fmt(md5Rate, 0)} MB/s, CRC32 ${fmt(crcRate, 0)} MB/s; lab CPU ${cpuPerGiB(sdk, 'lab')} s/GiB on a direct PUT (all its threads), so at most ${fmt(1024 * MiB / 1e6 / Number(cpuPerGiB(sdk, 'lab')), 0)} MB/s with a core to itself`)

  if (RSS_SIZE > 0) {
    // A fresh service process, so its peak RSS is that of moving one large file.
    upload.child.kill('SIGTERM')
    await once(upload.child, 'exit')
    upload = await startUpload()
    rmSync(file)
    const big = join(work, 'big.bin')
    await makeFile(big, RSS_SIZE)
    const ms = await timedMs(() => putWithNode(`${upload.url}/files/bench/rss.bin?overwrite=true`, big, RSS_SIZE))
    rmSync(big)
    console.log(`peak RSS (VmHWM) after a ${RSS_SIZE / MiB} MiB PUT through the service (${fmt(mbps(RSS_SIZE, ms))} MB/s): upload ${fmt(peakRssMiB(upload.child.pid!))} MiB (target < 200), lab ${fmt(peakRssMiB(lab.pid!))} MiB`)
  }
  console.log(`load at the end: ${load()}`)
  s3.destroy()
}

try {
  await main()
} catch (err) {
  process.exitCode = 1
  console.error(err)
} finally {
  for (const child of children.reverse()) {
    if (child.exitCode !== null) continue
    child.kill('SIGTERM')
    await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 10_000))])
  }
  rmSync(work, { recursive: true, force: true })
}
