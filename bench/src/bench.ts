// `pnpm bench` (`bench:upload`, `bench:download` for half of it): one lab, the upload and download
// services started as production runs them (`node dist/server.js` with an environment), and every row a
// ratio of two sides measured in the same run over rounds whose order rotates (issue 14):
//   upload  — PUT through the service, from curl and from Node's http client, vs a direct SDK PutObject
//   lab PUT — the lab's S3 PUT (the direct rounds) vs an fsync'd write of the same bytes on its disk,
//             beside AES-256-GCM's, MD5's and CRC32's speed per CPU-second (the lab's per-byte work)
//   cold    — a service miss vs a direct SDK GetObject, and vs a presigned GetObject fetched by curl
//             (direct, with the same client as the service side); and the ceiling of any service on
//             the path: a bare Node proxy of the presigned URL (no cache, no checksum) vs the same direct
//   warm    — a service hit vs a plain Node file server (1 MiB reads) of the cached file, both via curl
//   small   — p50/p99 of 1 KiB hits from 32 connections, revalidating every hit vs CACHE_REVALIDATE_AFTER_MS
//   RSS     — each service's peak RSS (VmHWM), fresh, after moving a BENCH_RSS_MIB file
// with the CPU seconds per GiB of every process on each side. The bench process only orchestrates:
// clients (curl, the SDK worker) and yardsticks (the plain server, the disk write) run in processes of
// their own, since on 2 cores a client sharing the bench's event loop decided the ratios. The yardsticks
// run with glibc malloc settings that keep them at their steady best (STEADY_MALLOC in harness.ts); the
// lab and the services run as shipped.
// Not a test: it prints figures. The root script builds first. BENCH_MIB (default 256), BENCH_ROUNDS
// (default 4), BENCH_RSS_MIB (default 1024; 0 skips), BENCH_HIT_SECONDS (default 5) size it.
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import {
  GiB, MiB, SdkWorker, cleanup, compareLine, cpuLine, cpuPerGiB, curlGet, curlPut, exitedChildrenCpuSeconds, fmt, load, makeFile,
  mbps, peakRssMiB, runRounds, smallHits, startDownload, startHopProxy, startLab, startPlainServer, startUpload, stop, work,
  type Lab, type Service, type Side,
} from './harness.js'

const SIZE = Number(process.env.BENCH_MIB ?? 256) * MiB
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const RSS_SIZE = Number(process.env.BENCH_RSS_MIB ?? 1024) * MiB
const HIT_SECONDS = Number(process.env.BENCH_HIT_SECONDS ?? 5)
const only = process.argv[2] as 'upload' | 'download' | undefined
if (only !== undefined && only !== 'upload' && only !== 'download') throw new Error(`unknown part ${only as string}: upload or download`)

/** MB per CPU-second of one per-byte step over `bytes`, in 64 KiB pieces as the lab does it: CPU time, so a loaded machine does not lower it. */
function cpuRate(bytes: number, step: (piece: Buffer, index: number) => void): number {
  const piece = randomBytes(64 * 1024)
  const selfCpu = () => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1e6
  }
  const begin = selfCpu()
  for (let i = 0, done = 0; done < bytes; i++, done += piece.length) step(piece, i)
  return bytes / 1e6 / (selfCpu() - begin)
}

/** Rows 1 and 2: upload through the service vs direct, and the lab's PUT vs the disk. */
async function uploadRows(lab: Lab, uploader: SdkWorker, file: string): Promise<Service> {
  const upload = await startUpload(lab)
  const direct: Side = { label: 'direct SDK PutObject', run: () => uploader.bytes({ op: 'put', key: 'bench/direct.bin', path: file, size: SIZE }), show: ['lab', 'sdk worker'] }
  const curl: Side = { label: 'service, curl', run: () => curlPut(`${upload.url}/files/bench/service-curl.bin?overwrite=true`, file, SIZE), show: ['lab', 'service', 'curl'] }
  const node: Side = {
    label: 'service, Node http client', show: ['lab', 'service', 'sdk worker'],
    run: () => uploader.bytes({ op: 'httpPut', url: `${upload.url}/files/bench/service-node.bin?overwrite=true`, path: file, size: SIZE }),
  }
  const disk: Side = { label: "fsync'd disk write", run: () => uploader.bytes({ op: 'diskWrite', dir: lab.dir, size: SIZE }), show: ['sdk worker'] }
  const probes = { 'lab': lab.child.pid!, 'service': upload.child.pid!, 'sdk worker': uploader.pid, 'curl': exitedChildrenCpuSeconds }
  const [d, c, n, w] = await runRounds([direct, curl, node, disk], { rounds: ROUNDS, bytes: SIZE, probes })
  console.log(compareLine('upload', c, d, 0.9))
  console.log(compareLine('upload', n, d, 0.9))
  console.log(cpuLine([c, n, d]))

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
  const labCpu = cpuPerGiB(d, 'lab')
  console.log(compareLine("lab S3 PUT vs fsync'd disk", d, w))
  console.log(`  per-byte limits, MB per CPU-second: AES-256-GCM ${fmt(gcm, 0)}, MD5 ${fmt(md5Rate, 0)}, CRC32 ${fmt(crcRate, 0)}; lab ${fmt(labCpu, 2)} CPU-s/GiB on a direct PUT (all its threads), so at most ${fmt(GiB / 1e6 / labCpu, 0)} MB/s with a core to itself`)
  return upload
}

/** Rows 3, 4 and 5: cold and warm downloads, small hits. */
async function downloadRows(lab: Lab, uploader: SdkWorker, downloader: SdkWorker, file: string): Promise<Service> {
  const key = 'bench/download.bin'
  await uploader.bytes({ op: 'put', key, path: file, size: SIZE, bucketKey: false })
  const small = join(work, 'small.bin')
  writeFileSync(small, randomBytes(1024))
  await uploader.bytes({ op: 'put', key: 'bench/small.bin', path: small, size: 1024 })
  const service = await startDownload(lab, 4 * SIZE)
  const fileUrl = `${service.url}/files/${key}`
  const presigned = (await downloader.call({ op: 'presign', key, expiresIn: 3600 })).url!

  // Cold: each service round starts from an empty cache (untimed).
  const miss: Side = {
    label: 'service miss, curl', show: ['lab', 'service', 'curl'], run: () => curlGet(fileUrl, 'miss'),
    prepare: async () => {
      const r = await fetch(`${service.url}/cache`, { method: 'DELETE' })
      if (!r.ok) throw new Error(`DELETE /cache: ${r.status}`)
    },
  }
  const direct: Side = { label: 'direct SDK GetObject', run: () => downloader.bytes({ op: 'get', key }), show: ['lab', 'sdk worker'] }
  const signed: Side = { label: 'presigned GetObject, curl', run: () => curlGet(presigned), show: ['lab', 'curl'] }
  const proxy = await startHopProxy(presigned)
  const hop: Side = { label: 'bare Node hop, curl', run: () => curlGet(proxy.url), show: ['lab', 'hop', 'curl'] }
  const probes = { 'lab': lab.child.pid!, 'service': service.child.pid!, 'sdk worker': downloader.pid, 'curl': exitedChildrenCpuSeconds }
  const [m, d, s, b] = await runRounds([miss, direct, signed, hop], { rounds: ROUNDS, bytes: SIZE, probes: { ...probes, hop: proxy.child.pid! } })
  await stop(proxy.child)
  console.log(compareLine('cold download', m, d, 0.9))
  console.log(compareLine('cold download vs direct with the same client', m, s))
  console.log(compareLine('cold ceiling: one bare Node hop (no cache, no checksum) vs direct', b, d))
  console.log(compareLine('cold download vs the bare hop', m, b))
  console.log(cpuLine([m, d, s, b]))

  // Warm: the same cached file, through the service and through a plain Node file server, both via curl.
  await curlGet(fileUrl) // the file is cached (and warm) before the rounds
  const list = await (await fetch(`${service.url}/cache`)).json() as { items: { key: string; name: string }[] }
  const cached = list.items.find((i) => i.key === key)
  if (!cached) throw new Error(`${key} is not in the cache`)
  const plain = await startPlainServer(join(service.cacheDir!, cached.name))
  const hit: Side = { label: 'service hit, curl', run: () => curlGet(fileUrl, 'hit'), show: ['lab', 'service', 'curl'] }
  const yardstick: Side = { label: 'plain Node server (1 MiB reads), curl', run: () => curlGet(plain.url), show: ['plain', 'curl'] }
  const [h, p] = await runRounds([hit, yardstick], { rounds: ROUNDS, bytes: SIZE, probes: { ...probes, plain: plain.child.pid! } })
  await stop(plain.child)
  console.log(compareLine('warm download', h, p, 0.8))
  console.log(cpuLine([h, p]))

  // Small hits: every hit revalidated (HEAD to S3), and within a revalidation window.
  const every = await smallHits(`${service.url}/files/bench/small.bin`, HIT_SECONDS)
  console.log(`1 KiB hits, 32 connections (after 2 s of warm-up), revalidating each hit: p50 ${fmt(every.p50, 2)} ms, p99 ${fmt(every.p99, 2)} ms, ${fmt(every.rps, 0)} req/s, ${every.errors} errors (target p99 < 10 ms)`)
  const windowed = await startDownload(lab, 4 * SIZE, { CACHE_REVALIDATE_AFTER_MS: '60000' })
  const inWindow = await smallHits(`${windowed.url}/files/bench/small.bin`, HIT_SECONDS)
  await stop(windowed.child)
  console.log(`1 KiB hits, 32 connections (after 2 s of warm-up), CACHE_REVALIDATE_AFTER_MS=60000: p50 ${fmt(inWindow.p50, 2)} ms, p99 ${fmt(inWindow.p99, 2)} ms, ${fmt(inWindow.rps, 0)} req/s, ${inWindow.errors} errors (target p99 < 10 ms)`)
  return service
}

async function timedMs(fn: () => Promise<unknown>): Promise<number> {
  const begin = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - begin) / 1e6
}

async function main(): Promise<void> {
  const lab = await startLab()
  console.log(`kms-share bench${only ? ` (${only})` : ''}: ${SIZE / MiB} MiB file, ${ROUNDS} rounds, sides rotated each round, RSS after ${RSS_SIZE / MiB} MiB · ${new Date().toISOString()} · load ${load()}`)
  const uploader = new SdkWorker(lab.aws('uploader'))
  const downloader = only === 'upload' ? undefined : new SdkWorker(lab.aws('downloader'))
  const file = join(work, 'file.bin')
  await makeFile(file, SIZE)
  const upload = only === 'download' ? undefined : await uploadRows(lab, uploader, file)
  const download = downloader ? await downloadRows(lab, uploader, downloader, file) : undefined
  rmSync(file)

  if (RSS_SIZE > 0) {
    // Fresh service processes, so each peak RSS is that of moving one large file.
    const big = join(work, 'big.bin')
    await makeFile(big, RSS_SIZE)
    const rssKey = 'bench/rss.bin'
    if (upload) {
      await stop(upload.child)
      const fresh = await startUpload(lab)
      const ms = await timedMs(() => curlPut(`${fresh.url}/files/${rssKey}?overwrite=true`, big, RSS_SIZE))
      console.log(`peak RSS (VmHWM), upload service after a ${RSS_SIZE / MiB} MiB PUT via curl (${fmt(mbps(RSS_SIZE, ms))} MB/s): ${fmt(peakRssMiB(fresh.child.pid!))} MiB (target < 200)`)
      await stop(fresh.child)
    } else {
      await uploader.bytes({ op: 'put', key: rssKey, path: big, size: RSS_SIZE })
    }
    rmSync(big)
    if (download) {
      await stop(download.child)
      const fresh = await startDownload(lab, 4 * RSS_SIZE)
      const url = `${fresh.url}/files/${rssKey}`
      const get = async () => {
        const bytes = await curlGet(url)
        if (bytes !== RSS_SIZE) throw new Error(`GET ${url}: ${bytes} bytes, expected ${RSS_SIZE}`)
      }
      const coldMs = await timedMs(get)
      const warmMs = await timedMs(get)
      console.log(`peak RSS (VmHWM), download service after a ${RSS_SIZE / MiB} MiB cold GET (${fmt(mbps(RSS_SIZE, coldMs))} MB/s) then a warm GET (${fmt(mbps(RSS_SIZE, warmMs))} MB/s) via curl: ${fmt(peakRssMiB(fresh.child.pid!))} MiB (target < 200)`)
      await stop(fresh.child)
    }
  }
  console.log(`peak RSS (VmHWM) of the lab over the run: ${fmt(peakRssMiB(lab.child.pid!))} MiB`)
  console.log(`load at the end: ${load()}`)
  uploader.close()
  downloader?.close()
}

try {
  await main()
} catch (err) {
  process.exitCode = 1
  console.error(err)
} finally {
  await cleanup()
}
