// What the SDKs do on the wire, built by hand where no client here sends it: signed aws-chunked bodies
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with and without a signed trailer), payload-hash mismatches,
// and a connection cut mid-upload. https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
import t from 'tap'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { S3Client, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { startLab } from '../src/app.js'
import { checksumOf } from '../src/s3/checksums.js'
import { eventually } from '../src/testing.js'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const BUCKET = 'kmsworkshop-111122223333'
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const hmac = (key: Buffer | string, text: string) => createHmac('sha256', key).update(text).digest()
const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex')

interface Creds { accessKeyId: string; secretAccessKey: string; sessionToken?: string }

/** SigV4 header auth for one S3 request; returns the headers and what chunk signing needs. */
function sign(creds: Creds, host: string, method: string, path: string, headers: Record<string, string>, payloadHash: string) {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const date = amzDate.slice(0, 8)
  const scope = `${date}/eu-west-1/s3/aws4_request`
  const all: Record<string, string> = { ...headers, host, 'x-amz-date': amzDate, 'x-amz-content-sha256': payloadHash }
  if (creds.sessionToken) all['x-amz-security-token'] = creds.sessionToken
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort()
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v]))
  const canonical = [method, path, '', names.map((n) => `${n}:${lower[n].trim()}\n`).join(''), names.join(';'), payloadHash].join('\n')
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha(canonical)].join('\n')
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${creds.secretAccessKey}`, date), 'eu-west-1'), 's3'), 'aws4_request')
  const signature = createHmac('sha256', signingKey).update(stringToSign).digest('hex')
  all.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`
  return { headers: all, signingKey, signature, amzDate, scope }
}

function signedChunks(data: Buffer[], s: { signingKey: Buffer; signature: string; amzDate: string; scope: string }, trailer?: Record<string, string>): Buffer {
  const out: Buffer[] = []
  let prev = s.signature
  for (const c of [...data, Buffer.alloc(0)]) {
    const sig = createHmac('sha256', s.signingKey).update(['AWS4-HMAC-SHA256-PAYLOAD', s.amzDate, s.scope, prev, EMPTY, sha(c)].join('\n')).digest('hex')
    prev = sig
    out.push(Buffer.from(`${c.length.toString(16)};chunk-signature=${sig}\r\n`), c)
    if (c.length) out.push(Buffer.from('\r\n'))
  }
  if (trailer) {
    const canonical = Object.entries(trailer).map(([k, v]) => `${k}:${v}\n`).join('')
    const tsig = createHmac('sha256', s.signingKey).update(['AWS4-HMAC-SHA256-TRAILER', s.amzDate, s.scope, prev, sha(canonical)].join('\n')).digest('hex')
    for (const [k, v] of Object.entries(trailer)) out.push(Buffer.from(`${k}:${v}\r\n`))
    out.push(Buffer.from(`x-amz-trailer-signature:${tsig}\r\n`))
  }
  out.push(Buffer.from('\r\n'))
  return Buffer.concat(out)
}

function send(endpoint: string, method: string, path: string, headers: Record<string, string>, body: Buffer, cutAfter?: number): Promise<{ status: number; text: string }> {
  const url = new URL(endpoint)
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }))
    })
    req.on('error', (err) => (cutAfter !== undefined ? resolve({ status: 0, text: String(err) }) : reject(err)))
    if (cutAfter !== undefined) {
      req.write(body.subarray(0, cutAfter), () => setTimeout(() => req.destroy(), 200))
    } else req.end(body)
  })
}

function files(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...files(p))
    else out.push(p)
  }
  return out
}

// Real clients (Python CLI startups, SDK retries) on a shared, busy machine: allow more than tap's default.
t.setTimeout(10 * 60 * 1000)

t.test('hand-built S3 requests', async (t) => {
  const lab = await startTestLab(t, { ...WITHOUT_STACKS, defaultKeyPolicy: true })
  const creds = lab.profiles().workshop
  const host = new URL(lab.endpoint).host
  const s3 = new S3Client(lab.clientConfig('workshop'))
  t.teardown(() => s3.destroy())
  const read = async (key: string) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray())

  t.test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signature verified', async (t) => {
    const data = [randomBytes(65536), randomBytes(65536), randomBytes(777)]
    const whole = Buffer.concat(data)
    const path = `/${BUCKET}/signed-chunks.bin`
    const base = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(whole.length), 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'alias/ImportedCMK' }
    const first = sign(creds, host, 'PUT', path, base, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD')
    const body = signedChunks(data, first)
    const ok = await send(lab.endpoint, 'PUT', path, { ...first.headers, 'content-length': String(body.length) }, body)
    t.equal(ok.status, 200, ok.text)
    t.same(await read('signed-chunks.bin'), whole)

    const second = sign(creds, host, 'PUT', `/${BUCKET}/forged.bin`, base, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD')
    const forged = signedChunks(data, second)
    forged[forged.indexOf(data[1].subarray(0, 32)) + 10] ^= 0xff
    const bad = await send(lab.endpoint, 'PUT', `/${BUCKET}/forged.bin`, { ...second.headers, 'content-length': String(forged.length) }, forged)
    t.equal(bad.status, 403)
    t.match(bad.text, /<Code>SignatureDoesNotMatch<\/Code>/)
    t.equal((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'forged.bin' })).catch((e) => e)).$metadata.httpStatusCode, 404, 'nothing stored')
  })

  t.test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with a CRC32C trailer', async (t) => {
    const data = [randomBytes(100_000)]
    const crc = checksumOf('CRC32C', data[0])
    const path = `/${BUCKET}/signed-trailer.bin`
    const s = sign(creds, host, 'PUT', path, { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '100000', 'x-amz-trailer': 'x-amz-checksum-crc32c' }, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER')
    const body = signedChunks(data, s, { 'x-amz-checksum-crc32c': crc })
    const ok = await send(lab.endpoint, 'PUT', path, { ...s.headers, 'content-length': String(body.length) }, body)
    t.equal(ok.status, 200, ok.text)
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'signed-trailer.bin', ChecksumMode: 'ENABLED' }))
    t.equal(head.ChecksumCRC32C, crc, 'stored checksum returned')

    const s2 = sign(creds, host, 'PUT', `/${BUCKET}/bad-trailer.bin`, { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '100000', 'x-amz-trailer': 'x-amz-checksum-crc32c' }, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER')
    const wrong = signedChunks(data, s2, { 'x-amz-checksum-crc32c': 'AAAAAA==' })
    const bad = await send(lab.endpoint, 'PUT', `/${BUCKET}/bad-trailer.bin`, { ...s2.headers, 'content-length': String(wrong.length) }, wrong)
    t.equal(bad.status, 400)
    t.match(bad.text, /<Code>BadDigest<\/Code>/)
  })

  t.test('a hex x-amz-content-sha256 is checked against the body', async (t) => {
    const body = Buffer.from('the real body')
    const path = `/${BUCKET}/sha-mismatch.txt`
    const s = sign(creds, host, 'PUT', path, {}, sha('another body'))
    const r = await send(lab.endpoint, 'PUT', path, { ...s.headers, 'content-length': String(body.length) }, body)
    t.equal(r.status, 400)
    t.match(r.text, /<Code>XAmzContentSHA256Mismatch<\/Code>/)
    const good = sign(creds, host, 'PUT', path, {}, sha(body))
    t.equal((await send(lab.endpoint, 'PUT', path, { ...good.headers, 'content-length': String(body.length) }, body)).status, 200)
    t.same(await read('sha-mismatch.txt'), body)
  })

  t.test('x-amz-sdk-checksum-algorithm needs its checksum, and must name the same algorithm', async (t) => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html (x-amz-sdk-checksum-algorithm)
    const body = Buffer.from('checksummed')
    const path = `/${BUCKET}/sdk-alg.txt`
    const lone = sign(creds, host, 'PUT', path, { 'x-amz-sdk-checksum-algorithm': 'CRC32' }, sha(body))
    const r = await send(lab.endpoint, 'PUT', path, { ...lone.headers, 'content-length': String(body.length) }, body)
    t.equal(r.status, 400)
    t.match(r.text, /<Code>InvalidRequest<\/Code>/)
    const mixed = sign(creds, host, 'PUT', path, { 'x-amz-sdk-checksum-algorithm': 'CRC32', 'x-amz-checksum-sha256': createHash('sha256').update(body).digest('base64') }, sha(body))
    const r2 = await send(lab.endpoint, 'PUT', path, { ...mixed.headers, 'content-length': String(body.length) }, body)
    t.equal(r2.status, 400)
    t.match(r2.text, /<Code>BadDigest<\/Code>/)
    const good = sign(creds, host, 'PUT', path, { 'x-amz-sdk-checksum-algorithm': 'SHA256', 'x-amz-checksum-sha256': createHash('sha256').update(body).digest('base64') }, sha(body))
    const r3 = await send(lab.endpoint, 'PUT', path, { ...good.headers, 'content-length': String(body.length) }, body)
    t.equal(r3.status, 200, r3.text)
  })

  t.test('no plaintext on disk, with SSE-KMS or SSE-S3', async (t) => {
    const marker = Buffer.from(`PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}-`.repeat(50))
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'secret-sse-s3.txt', Body: marker }))
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'secret-kms.txt', Body: marker, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
    t.same(await read('secret-sse-s3.txt'), marker)
    const probe = marker.subarray(0, 40)
    const leaks = files(lab.dataDir).filter((f) => readFileSync(f).includes(probe))
    t.same(leaks, [], 'no file holds the plaintext')
  })

  t.test('a connection cut mid-upload leaves no object and no partial file', async (t) => {
    const before = files(join(lab.dataDir, 's3')).length
    const body = randomBytes(3 * 1024 * 1024)
    const path = `/${BUCKET}/cut.bin`
    const s = sign(creds, host, 'PUT', path, {}, 'UNSIGNED-PAYLOAD')
    await send(lab.endpoint, 'PUT', path, { ...s.headers, 'content-length': String(body.length) }, body, 1024 * 1024)
    // The lab removes the temporary file once it sees the cut: wait for that (a loaded machine takes a while), up to 10 s.
    const temporary = () => files(join(lab.dataDir, 's3')).filter((f) => /\.tmp-/.test(f))
    await eventually(() => temporary().length === 0, 'no temporary files', 10_000)
    t.equal((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'cut.bin' })).catch((e) => e)).$metadata.httpStatusCode, 404)
    t.same(temporary(), [], 'no temporary files')
    t.equal(files(join(lab.dataDir, 's3')).length, before, 'no new files')
  })
})

t.test('objects survive a restart; temp files of a crashed upload are swept', async (t) => {
  const dataDir = t.testdir()
  const first = await startLab({ dataDir, seedFile: WITHOUT_STACKS.seedFile, port: 0, quiet: true, defaultKeyPolicy: true })
  const body = randomBytes(150_000)
  let s3 = new S3Client({ region: first.region, endpoint: first.endpoint, forcePathStyle: true, credentials: first.profiles().workshop })
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'durable.bin', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
  s3.destroy()
  await first.close()
  // What kill -9 in the middle of an upload leaves behind.
  const leftover = join(dataDir, 's3', 'buckets', BUCKET, 'data', 'x.data.tmp-deadbeef')
  writeFileSync(leftover, randomBytes(100))
  const second = await startLab({ dataDir, seedFile: WITHOUT_STACKS.seedFile, port: 0, quiet: true })
  t.teardown(() => second.close())
  s3 = new S3Client({ region: second.region, endpoint: second.endpoint, forcePathStyle: true, credentials: second.profiles().workshop })
  t.teardown(() => s3.destroy())
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'durable.bin' }))
  t.equal(got.SSEKMSKeyId?.startsWith('arn:aws:kms:'), true)
  t.same(Buffer.from(await got.Body!.transformToByteArray()), body)
  t.notOk(existsSync(leftover), 'leftover removed')
})
