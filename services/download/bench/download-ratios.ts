// `pnpm --filter @kms-share/download bench:download`: the download service's figures as ratios,
// each side alternated over several rounds in one run (issue 14):
//   cold  — a service miss (fills the cache) vs a direct SDK GetObject as the downloader role
//   warm  — a service hit vs a plain Node http + fs.createReadStream(1 MiB reads) server of the same file
//   small — p50/p99 of 1 KiB hits from 32 clients, revalidating every hit vs CACHE_REVALIDATE_AFTER_MS
// and the service's peak RSS. Lab and service run as production does (`node dist/server.js`).
// Not a test: it prints figures. Build first (`pnpm build`). BENCH_MIB (default 256) and
// BENCH_ROUNDS (default 3) size it.
import { spawn, type ChildProcess } from 'node:child_process'
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { Agent, createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { createS3Client } from '@kms-share/shared'

const ROOT = resolve(import.meta.dirname, '../../..')
const MiB = 1024 * 1024
const SIZE = Number(process.env.BENCH_MIB ?? 256) * MiB
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const BUCKET = 'kmsworkshop-111122223333'
const KEY_ALIAS = 'alias/ImportedCMK'
const work = mkdtempSync(join(tmpdir(), 'kms-share-bench-download-'))
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
  const child = spawn(process.execPath, [script], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
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

/** GET a URL, discarding the body; the byte count. */
function getBytes(url: string, agent?: Agent): Promise<number> {
  return new Promise((res, rej) => {
    request(url, agent ? { agent } : {}, (r) => {
      if (r.statusCode !== 200) rej(new Error(`GET ${url}: ${r.statusCode}`))
      let n = 0
      r.on('data', (c: Buffer) => void (n += c.length))
      r.on('end', () => res(n))
      r.on('error', rej)
    }).on('error', rej).end()
  })
}

async function timed(fn: () => Promise<number>): Promise<number> {
  const begin = process.hrtime.bigint()
  const bytes = await fn()
  if (bytes !== SIZE) throw new Error(`short transfer: ${bytes} of ${SIZE}`)
  return Number(process.hrtime.bigint() - begin) / 1e6
}

const mbps = (ms: number) => SIZE / 1e6 / (ms / 1000)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const fmt = (n: number, digits = 1) => n.toFixed(digits)

/** Rounds of A then B (B then A on odd rounds); per-round ratios A/B and each side's median MB/s. */
async function alternate(name: string, a: () => Promise<number>, b: () => Promise<number>, labels: [string, string], target: number): Promise<void> {
  const ratios: number[] = []
  const aRates: number[] = []
  const bRates: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    let aMs: number
    let bMs: number
    if (round % 2 === 0) {
      aMs = await timed(a)
      bMs = await timed(b)
    } else {
      bMs = await timed(b)
      aMs = await timed(a)
    }
    aRates.push(mbps(aMs))
    bRates.push(mbps(bMs))
    ratios.push(bMs / aMs)
  }
  console.log(`${name}: ${labels[0]} ${fmt(median(aRates))} MB/s, ${labels[1]} ${fmt(median(bRates))} MB/s, ratio median ${fmt(median(ratios), 2)} (rounds ${ratios.map((r) => fmt(r, 2)).join(' ')}; target ≥ ${target})`)
}

async function smallHits(url: string): Promise<{ p50: number; p99: number; rps: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 })
  await getBytes(url, agent).catch(() => 0)
  const latencies: number[] = []
  const total = 3200
  let issued = 0
  const began = Date.now()
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (issued++ < total) {
      const t0 = process.hrtime.bigint()
      await getBytes(url, agent).catch(() => 0)
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
  }))
  agent.destroy()
  latencies.sort((x, y) => x - y)
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]
  return { p50: pct(0.5), p99: pct(0.99), rps: total / ((Date.now() - began) / 1000) }
}

async function main(): Promise<void> {
  const labPort = await freePort()
  const labDir = join(work, 'lab')
  start(join(ROOT, 'packages/aws-lab/dist/server.js'), { LAB_PORT: String(labPort), LAB_DATA_DIR: labDir }, join(ROOT, 'packages/aws-lab'))
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
  const startDownload = async (env: Record<string, string>) => {
    const port = await freePort()
    const child = start(join(ROOT, 'services/download/dist/server.js'), {
      ...aws('downloader'), BUCKET, PORT: String(port), LOG_LEVEL: 'warn', AUTH_DISABLED: 'true',
      CACHE_DIR: join(work, `cache-${port}`), CACHE_MAX_BYTES: String(4 * SIZE), ...env,
    }, join(ROOT, 'services/download'))
    const url = `http://127.0.0.1:${port}`
    await waitReady(`${url}/readyz`)
    return { child, url, cacheDir: join(work, `cache-${port}`) }
  }

  const writer = createS3Client(aws('admin'))
  const reader = createS3Client(aws('downloader'))
  const key = 'bench/download.bin'
  const body = Buffer.alloc(SIZE)
  for (let i = 0; i < SIZE; i += MiB) randomBytes(MiB).copy(body, i)
  await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ALIAS, BucketKeyEnabled: false }))
  await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'bench/small.bin', Body: randomBytes(1024), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ALIAS }))
  console.log(`object ${SIZE / MiB} MiB, ${ROUNDS} alternated rounds per row · ${new Date().toISOString()} · load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)

  const service = await startDownload({})
  const fileUrl = `${service.url}/files/${key}`

  // Cold: each service round starts from an empty cache.
  const direct = async () => {
    const out = await reader.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
    let n = 0
    for await (const chunk of out.Body as Readable) n += (chunk as Buffer).length
    return n
  }
  const cold = async () => {
    await fetch(`${service.url}/cache`, { method: 'DELETE' })
    return getBytes(fileUrl)
  }
  await alternate('cold download', cold, direct, ['service miss', 'direct SDK GetObject'], 0.9)

  // Warm: the same cached file, through the service and through a plain Node file server.
  await getBytes(fileUrl)
  const cached = JSON.parse(await (await fetch(`${service.url}/cache`)).text()).items.find((i: { key: string }) => i.key === key)
  const cachedPath = join(service.cacheDir, cached.name)
  const plain = createServer((req, res) => {
    res.writeHead(200, { 'content-length': statSync(cachedPath).size })
    createReadStream(cachedPath, { highWaterMark: MiB }).pipe(res)
  })
  plain.listen(0, '127.0.0.1')
  await once(plain, 'listening')
  const plainUrl = `http://127.0.0.1:${(plain.address() as { port: number }).port}/`
  await alternate('warm download', () => getBytes(fileUrl), () => getBytes(plainUrl), ['service hit', 'plain Node server, 1 MiB reads'], 0.8)
  plain.close()

  const every = await smallHits(`${service.url}/files/bench/small.bin`)
  console.log(`1 KiB hits, 32 clients, revalidating each hit: p50 ${fmt(every.p50, 2)} ms, p99 ${fmt(every.p99, 2)} ms, ${fmt(every.rps, 0)} req/s`)
  const windowed = await startDownload({ CACHE_REVALIDATE_AFTER_MS: '60000' })
  const inWindow = await smallHits(`${windowed.url}/files/bench/small.bin`)
  console.log(`1 KiB hits, 32 clients, CACHE_REVALIDATE_AFTER_MS=60000: p50 ${fmt(inWindow.p50, 2)} ms, p99 ${fmt(inWindow.p99, 2)} ms, ${fmt(inWindow.rps, 0)} req/s (target p99 < 10 ms)`)
  console.log(`download service peak RSS (VmHWM): ${fmt(peakRssMiB(service.child.pid!))} MiB after the cold and warm rows (target < 200)`)
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
