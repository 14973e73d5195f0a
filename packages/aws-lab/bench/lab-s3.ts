// `pnpm bench:lab`: PUT and GET a 512 MiB object under SSE-KMS through the SDK against a lab child
// process, without and with S3 Bucket Keys; prints MB/s, the KMS calls S3 made (from CloudTrail) and
// the lab's peak RSS (VmHWM), which must stay under 256 MiB; beside the PUT, the limits it works under:
// an fsync'd write of the same size on the same disk, and AES-256-GCM and MD5 per CPU-second (issue 14).
import { spawn } from 'node:child_process'
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { S3Client, GetObjectCommand } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import { fromIni } from '@aws-sdk/credential-providers'
import { fsyncedWrite } from '../src/testing.js'

const MiB = 1024 * 1024
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 512) * MiB
const PART = 16 * MiB
const BUCKET = 'kmsworkshop-111122223333'
const RSS_LIMIT_MIB = 256
const here = dirname(fileURLToPath(import.meta.url))
const pkg = join(here, '..')

function vmHwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

/** A generated body of `size` bytes, in 1 MiB pieces (one random block reused: the lab encrypts it anyway). */
function generated(size: number): Readable {
  const block = randomBytes(MiB)
  let sent = 0
  return new Readable({
    read() {
      if (sent >= size) return this.push(null)
      const n = Math.min(MiB, size - sent)
      sent += n
      this.push(n === MiB ? block : block.subarray(0, n))
    },
  })
}

/** utime + stime of a process in seconds (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** MB/s of `size` bytes written in 1 MiB writes then fsynced, in `dir`. */
function fsyncedWriteMBps(dir: string, size: number): number {
  return size / MiB / fsyncedWrite(dir, size) // the unit of the PUT and GET rows
}

/** MB per CPU-second of a per-byte step over 256 MiB in 64 KiB pieces (the lab's segment size). */
function perCpuSecond(step: (piece: Buffer, index: number) => void): number {
  const piece = randomBytes(64 * 1024)
  const bytes = 256 * MiB
  const before = process.cpuUsage()
  for (let i = 0, done = 0; done < bytes; i++, done += piece.length) step(piece, i)
  const used = process.cpuUsage(before)
  return bytes / 1e6 / ((used.user + used.system) / 1e6)
}

async function startLabProcess(dataDir: string): Promise<{ pid: number; endpoint: string; stop(): Promise<void> }> {
  const built = join(pkg, 'dist', 'server.js')
  if (!existsSync(built)) throw new Error('build the lab first: pnpm --filter @kms-share/aws-lab build')
  // The workshop role writes under alias/ImportedCMK: AWS's default key policy, the workshop's starting point.
  const child = spawn(process.execPath, [built, '--quiet', '--default-key-policy'], { env: { ...process.env, LAB_PORT: '0', LAB_DATA_DIR: dataDir, INIT_CWD: dataDir }, stdio: ['ignore', 'pipe', 'inherit'] })
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1])
    })
    child.once('exit', (code) => reject(new Error(`lab exited with ${code}`)))
  })
  return {
    pid: child.pid!,
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lab-bench-'))
  const lab = await startLabProcess(dataDir)
  try {
    const config = (profile: string) => ({
      region: 'eu-west-1',
      endpoint: lab.endpoint,
      forcePathStyle: true,
      credentials: fromIni({ filepath: join(dataDir, 'credentials'), configFilepath: join(dataDir, 'config'), profile }),
    })
    const s3 = new S3Client(config('workshop'))
    const trail = new CloudTrailClient(config('admin'))
    const rows: string[] = []
    for (const bucketKey of [false, true]) {
      const key = bucketKey ? 'bench/bucket-key.bin' : 'bench/plain.bin'
      let t0 = performance.now()
      const cpu0 = cpuSeconds(lab.pid)
      await new Upload({
        client: s3,
        params: { Bucket: BUCKET, Key: key, Body: generated(SIZE), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK', BucketKeyEnabled: bucketKey },
        partSize: PART,
        queueSize: 4,
      }).done()
      const putSecs = (performance.now() - t0) / 1000
      const putCpu = cpuSeconds(lab.pid) - cpu0
      t0 = performance.now()
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
      let read = 0
      for await (const chunk of got.Body as AsyncIterable<Uint8Array>) read += chunk.length
      const getSecs = (performance.now() - t0) / 1000
      if (read !== SIZE) throw new Error(`GET returned ${read} bytes, expected ${SIZE}`)
      rows.push(`${bucketKey ? 'with bucket keys   ' : 'without bucket keys'}  PUT ${(SIZE / MiB / putSecs).toFixed(1)} MB/s (lab ${(putCpu / (SIZE / 1024 / MiB)).toFixed(2)} CPU-s/GiB)  GET ${(SIZE / MiB / getSecs).toFixed(1)} MB/s`)
    }
    // KMS calls S3 made, from CloudTrail: a bucket key's context is the bucket ARN, an object key's the object ARN.
    const counts = { plain: { GenerateDataKey: 0, Decrypt: 0 }, bucketKey: { GenerateDataKey: 0, Decrypt: 0 } }
    for (const name of ['GenerateDataKey', 'Decrypt'] as const) {
      let NextToken: string | undefined
      do {
        const page = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }], NextToken, MaxResults: 50 }))
        for (const e of page.Events ?? []) {
          const ev = JSON.parse(e.CloudTrailEvent!)
          if (ev.userIdentity?.invokedBy !== 'fas.s3.amazonaws.com') continue
          const arn = ev.requestParameters?.encryptionContext?.['aws:s3:arn']
          if (arn === `arn:aws:s3:::${BUCKET}/bench/plain.bin`) counts.plain[name]++
          else if (arn === `arn:aws:s3:::${BUCKET}`) counts.bucketKey[name]++
        }
        NextToken = page.NextToken
        if (NextToken) await new Promise((r) => setTimeout(r, 600)) // LookupEvents: two calls a second
      } while (NextToken)
    }
    const hwm = vmHwmMiB(lab.pid)
    process.stdout.write(`aws-lab S3 benchmark: ${SIZE / MiB} MiB object, SSE-KMS (alias/ImportedCMK), lib-storage ${PART / MiB} MiB parts x4, GET streamed\n`)
    process.stdout.write(`${rows[0]}  KMS calls: ${counts.plain.GenerateDataKey} GenerateDataKey + ${counts.plain.Decrypt} Decrypt\n`)
    process.stdout.write(`${rows[1]}  KMS calls: ${counts.bucketKey.GenerateDataKey} GenerateDataKey + ${counts.bucketKey.Decrypt} Decrypt\n`)
    const key = randomBytes(32)
    const gcm = perCpuSecond((piece, i) => {
      const iv = Buffer.alloc(12)
      iv.writeUInt32BE(i, 8)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.update(piece)
      cipher.final()
    })
    const md5 = createHash('md5')
    const md5Rate = perCpuSecond((piece) => void md5.update(piece))
    process.stdout.write(`limits: fsync'd ${SIZE / MiB} MiB write on the lab's disk ${fsyncedWriteMBps(dataDir, SIZE).toFixed(1)} MB/s; per CPU-second AES-256-GCM ${gcm.toFixed(0)} MB, MD5 ${md5Rate.toFixed(0)} MB (a PUT does both, plus CRC32 and the HTTP and aws-chunked decoding)\n`)
    process.stdout.write(`lab peak RSS (VmHWM): ${hwm.toFixed(1)} MiB (limit ${RSS_LIMIT_MIB} MiB) ${hwm < RSS_LIMIT_MIB ? 'OK' : 'OVER LIMIT'}\n`)
    s3.destroy()
    trail.destroy()
    if (!(hwm < RSS_LIMIT_MIB)) process.exitCode = 1
  } finally {
    await lab.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
