// What every row of `pnpm bench` is built from. The bench process only orchestrates: the lab, the
// services, the plain file server, the SDK worker and curl each run as a process of their own, so no
// client or yardstick shares an event loop (or a 2-core machine's spare core) with the bench's own
// 256 MiB of bookkeeping — in-process, its Node http client alone cost 4–6 CPU-s per GiB, more than
// the service it measured, and curl costs ~0.35. Each comparison is a same-run ratio over rounds whose
// order rotates, with the CPU seconds every process spent on each side.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import { freePort } from '@kms-share/aws-lab/testing'
import { BUCKET, GiB, KEY_ALIAS, MiB } from './constants.js'
import type { WorkerReply, WorkerRequest } from './sdk-worker.js'

export { BUCKET, GiB, KEY_ALIAS, MiB }

export const ROOT = resolve(import.meta.dirname, '../..')
const BENCH_DIR = resolve(import.meta.dirname, '..')
const TICKS = 100 // USER_HZ: /proc/<pid>/stat times are in clock ticks

const children: ChildProcess[] = []

/** A child's stderr, passed on but for its shutdown notice (`aws-lab: SIGTERM, closing`), so the output is the figures and real errors. */
function forwardStderr(child: ChildProcess): void {
  if (!child.stderr) return
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (!/^[\w-]+: SIG[A-Z]+, closing$/.test(line)) process.stderr.write(`${line}\n`)
  })
}
export const work = mkdtempSync(join(tmpdir(), 'kms-share-bench-'))

/** Every child gets an explicit environment; NODE_NO_WARNINGS hides the SDK's NodeVersionSupportWarning on Node 20. */
function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_NO_WARNINGS: '1', ...env }
}

/**
 * glibc malloc settings for the yardsticks (the SDK worker, the plain file server, the bare hop), so each
 * runs at its steady best and none flatters the service beside it; the lab and the services run as
 * shipped, without them. With glibc's defaults, a Node process moving a large body gives the 64 KiB
 * socket-read buffers the garbage collector frees in bulk back to the kernel, and faults them in again:
 * the same SDK GetObject cost 0.8 CPU-s/GiB in one run and 1.7–5.8 in another (a plain http.get client
 * 0.5 or 4.6–6.3), and the cold row compared whichever side the page faults hit harder. A 64 MiB trim
 * threshold keeps that memory. Setting it turns off glibc's own mmap-threshold adjustment, so the mmap
 * threshold is fixed at 4 MiB to keep 1 MiB file reads on the heap (without it the plain server's reads
 * cost 4.5 instead of 0.5 CPU-s/GiB). `ld.so --list-tunables` shows what glibc read.
 */
const STEADY_MALLOC = { GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=4194304' }

/** BENCH_CPU_PROF=<dir>: each Node child writes a V8 CPU profile there on exit, to see where its time goes. */
const profileArgs = () => (process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])

/** Whether this Node takes a V8 flag (Node 20 refuses the services' young-generation cap as a bad option), asked once per flag. */
const takes = new Map<string, boolean>()
function nodeTakes(flag: string): boolean {
  if (!takes.has(flag)) takes.set(flag, spawnSync(process.execPath, [flag, '-e', ''], { stdio: 'ignore' }).status === 0)
  return takes.get(flag)!
}

/** The Node options of a package's start script (`node <options> dist/server.js`), less those this Node does not take. */
function startScriptNodeArgs(packageDir: string): string[] {
  const start = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { scripts?: { start?: string } }).scripts?.start ?? ''
  return (/^node((?:\s+--\S+)*)\s+dist\/[\w-]+\.js$/.exec(start)?.[1] ?? '').split(/\s+/).filter((arg) => arg && nodeTakes(arg))
}

/**
 * The services' young-generation cap (their start scripts) for the Node yardsticks too, so the ratios compare like with
 * like: on Node 24 without it a Node process moving a large body costs about three times the CPU (README "Benchmark").
 */
const STEADY_GC = startScriptNodeArgs(join(ROOT, 'services/upload'))

/** `node <options> <script> <args>` as production runs it (the options of the package's start script in `cwd`), with only PATH, HOME and `env`. */
export function start(script: string, env: Record<string, string>, cwd: string, args: string[] = []): ChildProcess {
  if (!existsSync(script)) throw new Error(`${script} is missing: run pnpm build first`)
  const child = spawn(process.execPath, [...profileArgs(), ...startScriptNodeArgs(cwd), script, ...args], { cwd, env: childEnv(env), stdio: ['ignore', 'ignore', 'pipe'] })
  forwardStderr(child)
  children.push(child)
  return child
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 10_000))])
}

/** Stops every child (newest first) and removes the work folder. */
export async function cleanup(): Promise<void> {
  for (const child of children.reverse()) await stop(child)
  rmSync(work, { recursive: true, force: true })
}

export async function waitReady(url: string): Promise<void> {
  const until = Date.now() + 60_000
  while (!(await fetch(url).then((r) => r.ok, () => false))) {
    if (Date.now() > until) throw new Error(`${url} not ready`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

export interface Lab {
  child: ChildProcess
  dir: string
  /** The standard AWS variables for a lab profile (admin, uploader, downloader, …). */
  aws: (profile: string) => Record<string, string>
}

export async function startLab(): Promise<Lab> {
  const port = await freePort()
  const dir = join(work, 'lab')
  // As the lab's start script runs it (see the lab's README: a larger first old-generation limit halves its PUT's CPU).
  // The figures stay comparable with earlier runs: plain HTTP and the seed that makes the roles and a plain bucket itself,
  // no stacks deployed (the data stack's bucket refuses plain HTTP).
  const child = start(join(ROOT, 'packages/aws-lab/dist/server.js'), { LAB_PORT: String(port), LAB_DATA_DIR: dir, LAB_TEMPLATE_DIR: 'none' }, join(ROOT, 'packages/aws-lab'), ['--seed', join(ROOT, 'packages/aws-lab/seed/without-stacks.yaml')])
  const until = Date.now() + 60_000
  while (!existsSync(join(dir, 'credentials')) || !existsSync(join(dir, 'config'))) {
    if (child.exitCode !== null) throw new Error('the lab exited')
    if (Date.now() > until) throw new Error('the lab did not start')
    await new Promise((r) => setTimeout(r, 200))
  }
  const aws = (profile: string) => ({
    AWS_PROFILE: profile, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_CONFIG_FILE: join(dir, 'config'),
    AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
  })
  return { child, dir, aws }
}

export interface Service { child: ChildProcess; url: string; cacheDir?: string }

/** The upload service as the uploader role; loopback only and AUTH_DISABLED, so the figures measure transfers rather than token checks. */
export async function startUpload(lab: Lab): Promise<Service> {
  const port = await freePort()
  const child = start(join(ROOT, 'services/upload/dist/server.js'), {
    ...lab.aws('uploader'), BUCKET, KMS_KEY_ID: KEY_ALIAS, PORT: String(port), LOG_LEVEL: 'warn', AUTH_DISABLED: 'true',
    DOWNLOAD_PUBLIC_URL: 'http://127.0.0.1:1',
  }, join(ROOT, 'services/upload'))
  const url = `http://127.0.0.1:${port}`
  await waitReady(`${url}/readyz`)
  return { child, url }
}

/** The download service as the downloader role, with a fresh cache folder of its own. */
export async function startDownload(lab: Lab, cacheMaxBytes: number, env: Record<string, string> = {}): Promise<Service> {
  const port = await freePort()
  const cacheDir = join(work, `cache-${port}`)
  const child = start(join(ROOT, 'services/download/dist/server.js'), {
    ...lab.aws('downloader'), BUCKET, PORT: String(port), LOG_LEVEL: 'warn', AUTH_DISABLED: 'true',
    CACHE_DIR: cacheDir, CACHE_MAX_BYTES: String(cacheMaxBytes), ...env,
  }, join(ROOT, 'services/download'))
  const url = `http://127.0.0.1:${port}`
  await waitReady(`${url}/readyz`)
  return { child, url, cacheDir }
}

/** A plain Node file server of one file (argv: path, port): http + fs.createReadStream with 1 MiB reads. */
const PLAIN_SERVER = `
const { createServer } = require('node:http')
const { createReadStream, statSync } = require('node:fs')
const [path, port] = process.argv.slice(1)
createServer((req, res) => {
  res.writeHead(200, { 'content-length': statSync(path).size })
  createReadStream(path, { highWaterMark: 1024 * 1024 }).pipe(res)
}).listen(Number(port), '127.0.0.1')
`

/**
 * One bare pass-through hop (argv: upstream URL, port): each GET is a GET of `upstream` piped to the
 * answer, with no cache file, no checksum and no SDK. Whatever a service between client and S3 does,
 * it moves every byte through a process like this one, so this is the cold row's ceiling on this machine.
 */
const HOP_PROXY = `
const { get, createServer } = require('node:http')
const [upstream, port] = process.argv.slice(1)
createServer((req, res) => {
  get(upstream, (r) => {
    res.writeHead(r.statusCode, { 'content-length': r.headers['content-length'] })
    r.pipe(res)
  }).on('error', () => res.destroy())
}).listen(Number(port), '127.0.0.1')
`

/** A yardstick: a Node process of its own serving `script` on a free port (argv: arg, port), with STEADY_MALLOC and STEADY_GC. */
async function startYardstick(script: string, arg: string): Promise<Service> {
  const port = await freePort()
  const child = spawn(process.execPath, [...STEADY_GC, '-e', script, arg, String(port)], { env: childEnv(STEADY_MALLOC), stdio: ['ignore', 'ignore', 'pipe'] })
  forwardStderr(child)
  children.push(child)
  const url = `http://127.0.0.1:${port}/`
  await waitReady(url)
  return { child, url }
}

/** The cold row's ceiling: one bare Node hop in front of `upstream` (a presigned GetObject URL). */
export function startHopProxy(upstream: string): Promise<Service> {
  return startYardstick(HOP_PROXY, upstream)
}

/** The warm row's yardstick, as a process of its own like the service it is compared with. */
export function startPlainServer(path: string): Promise<Service> {
  return startYardstick(PLAIN_SERVER, path)
}

/** The SDK clients and Node's http client, forked as one process for one lab role (see sdk-worker.ts), with STEADY_MALLOC and STEADY_GC. */
export class SdkWorker {
  readonly child: ChildProcess
  private next = 0
  private readonly waiting = new Map<number, { res: (reply: WorkerReply) => void; rej: (err: Error) => void }>()

  constructor(env: Record<string, string>) {
    this.child = fork(join(import.meta.dirname, 'sdk-worker.ts'), [], {
      cwd: BENCH_DIR, execArgv: ['--import', 'tsx', ...STEADY_GC, ...profileArgs()], env: childEnv({ ...env, ...STEADY_MALLOC }), stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    forwardStderr(this.child)
    children.push(this.child)
    this.child.on('message', (reply: WorkerReply) => {
      const call = this.waiting.get(reply.id)
      this.waiting.delete(reply.id)
      if (reply.error) call?.rej(new Error(reply.error))
      else call?.res(reply)
    })
    this.child.once('exit', (code) => {
      for (const call of this.waiting.values()) call.rej(new Error(`the SDK worker exited (${code})`))
      this.waiting.clear()
    })
  }

  get pid(): number { return this.child.pid! }

  call(request: WorkerRequest): Promise<WorkerReply> {
    const id = this.next++
    return new Promise((res, rej) => {
      this.waiting.set(id, { res, rej })
      this.child.send({ id, ...request })
    })
  }

  async bytes(request: WorkerRequest): Promise<number> {
    return (await this.call(request)).bytes ?? 0
  }

  close(): void {
    if (this.child.connected) this.child.disconnect()
  }
}

/** curl's exit: `<http code> <bytes> <x-cache>` from -w, or a rejection with what curl said. */
function curl(args: string[]): Promise<{ code: number; bytes: number; cache: string }> {
  return new Promise((res, rej) => {
    const child = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %header{x-cache}', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => void (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => void (err += c.toString()))
    child.once('error', rej)
    child.once('close', (status) => {
      const [code, bytes, cache] = out.trim().split(' ')
      if (status !== 0) rej(new Error(`curl ${args.join(' ')}: exit ${status} ${err.trim()}`))
      else res({ code: Number(code), bytes: Number(bytes), cache: cache ?? '' })
    })
  })
}

/**
 * GET with curl, the body discarded: the bytes received; rejects on a non-2xx answer, and on an answer
 * whose X-Cache is not `cache` when given (a "hit" row must time hits, a "miss" row misses).
 */
export async function curlGet(url: string, cache?: 'hit' | 'miss'): Promise<number> {
  const answer = await curl([url])
  if (answer.code < 200 || answer.code > 299) throw new Error(`curl GET ${url}: ${answer.code}`)
  if (cache && answer.cache !== cache) throw new Error(`curl GET ${url}: X-Cache ${answer.cache || '(none)'}, expected ${cache}`)
  return answer.bytes
}

/** PUT a file with curl (-T sends Content-Length, no Expect: 100-continue); resolves to the file's size on a 201. */
export async function curlPut(url: string, path: string, size: number): Promise<number> {
  const { code } = await curl(['-T', path, '-H', 'expect:', '-H', 'content-type: application/octet-stream', url])
  if (code !== 201) throw new Error(`curl PUT ${url}: ${code}`)
  return size
}

export function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024
}

function statFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** utime + stime of a process in seconds (this process: its own usage). */
export function cpuSeconds(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1e6
  }
  const fields = statFields(pid)
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

/** CPU seconds of this process's children that have exited and been reaped (cutime + cstime): curl's, round by round. */
export function exitedChildrenCpuSeconds(): number {
  const fields = statFields('self')
  return (Number(fields[13]) + Number(fields[14])) / TICKS
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
export const fmt = (n: number, digits = 1) => n.toFixed(digits)
export const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000)
export const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

/** A file of `size` incompressible bytes, written in 1 MiB blocks. */
export async function makeFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path)
  const block = randomBytes(MiB)
  for (let written = 0; written < size; written += MiB) {
    block[0] = written & 0xff
    if (!out.write(block.subarray(0, Math.min(MiB, size - written)))) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

export interface Side {
  label: string
  /** Untimed, before each run (e.g. empty the cache). */
  prepare?: () => Promise<void>
  /** One transfer; resolves to the bytes moved. */
  run: () => Promise<number>
  /** The CPU probes to print for this side (default: all). */
  show?: string[]
}

export interface Measured {
  side: Side
  bytes: number
  ms: number[]
  /** CPU seconds per probe, summed over the rounds. */
  cpu: Record<string, number>
}

/** A pid, or a function giving CPU seconds (exitedChildrenCpuSeconds for curl). */
export type Probe = number | (() => number)
const probe = (p: Probe) => (typeof p === 'number' ? cpuSeconds(p) : p())

/**
 * One untimed run of each side (page cache, sockets, credentials, JIT), then rounds: every round runs
 * each side once, the order rotated by one each round so no side always goes first or last; each run's
 * time, its byte count (checked) and the CPU seconds of every probe around it.
 */
export async function runRounds(sides: Side[], opts: { rounds: number; bytes: number; probes: Record<string, Probe> }): Promise<Measured[]> {
  for (const side of sides) {
    await side.prepare?.()
    await side.run()
  }
  const measured = sides.map((side): Measured => ({ side, bytes: opts.bytes, ms: [], cpu: {} }))
  for (let round = 0; round < opts.rounds; round++) {
    for (let i = 0; i < sides.length; i++) {
      const m = measured[(i + round) % sides.length]
      await m.side.prepare?.()
      const before = Object.fromEntries(Object.entries(opts.probes).map(([name, p]) => [name, probe(p)]))
      const begin = process.hrtime.bigint()
      const bytes = await m.side.run()
      const ms = Number(process.hrtime.bigint() - begin) / 1e6
      for (const [name, p] of Object.entries(opts.probes)) m.cpu[name] = (m.cpu[name] ?? 0) + probe(p) - before[name]
      if (bytes !== opts.bytes) throw new Error(`${m.side.label}: ${bytes} bytes, expected ${opts.bytes}`)
      m.ms.push(ms)
    }
  }
  return measured
}

/** A side's median MB/s over its rounds. */
export const rate = (m: Measured) => median(m.ms.map((ms) => mbps(m.bytes, ms)))

/** `name: A x MB/s, B y MB/s, ratio median r (rounds …; target ≥ t)`: A's rate over B's, round by round. */
export function compareLine(name: string, a: Measured, b: Measured, target?: number): string {
  const ratios = a.ms.map((ms, i) => b.ms[i] / ms)
  const aim = target === undefined ? '' : `; target ≥ ${target}`
  return `${name}: ${a.side.label} ${fmt(rate(a))} MB/s, ${b.side.label} ${fmt(rate(b))} MB/s, ratio median ${fmt(median(ratios), 2)} (rounds ${ratios.map((r) => fmt(r, 2)).join(' ')}${aim})`
}

/** CPU seconds per GiB moved, of one probe on one side. */
export const cpuPerGiB = (m: Measured, name: string) => (m.cpu[name] ?? 0) / ((m.bytes * m.ms.length) / GiB)

/** `  CPU-s per GiB — A: lab 1.2, service 0.8, client 0.3 · B: …` */
export function cpuLine(measured: Measured[]): string {
  const parts = measured.map((m) => {
    const names = m.side.show ?? Object.keys(m.cpu)
    return `${m.side.label}: ${names.map((name) => `${name} ${fmt(cpuPerGiB(m, name), 2)}`).join(', ')}`
  })
  return `  CPU-s per GiB — ${parts.join(' · ')}`
}

/** 1 KiB hits from 32 connections for `seconds` (autocannon: a client light enough not to be the bottleneck). */
export async function smallHits(url: string, seconds: number): Promise<{ p50: number; p99: number; rps: number; errors: number }> {
  await fetch(url).then((r) => r.arrayBuffer(), () => undefined) // the first hit reads the file and keeps it in memory
  // Steady state: a fresh process's first second or two (code not yet optimised) is warm-up, not measured.
  await autocannon({ url, connections: 32, duration: 2 })
  const result = await autocannon({ url, connections: 32, duration: seconds })
  return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, errors: result.errors + result.non2xx }
}
