// Slow and stalled clients against the lab: 60 uploads that declare a body and stall are aborted
// after UPLOAD_IDLE_TIMEOUT_MS (408, no object, multipart uploads aborted) while a normal upload
// completes in seconds; a trickling upload meets the whole-request limit; /readyz gives up on an S3
// that does not answer. Multipart uploads' listing: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html
import t from 'tap'
import { connect, createServer, type Socket } from 'node:net'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { BUCKET, clientsAs, openRequest, startTestLab, startUpload, eventually } from './helpers.js'

const MiB = 1024 * 1024
const IDLE_MS = 8_000

async function answer(response: Promise<IncomingMessage | Error>): Promise<{ status: number; type: string | undefined; json: any; at: number }> {
  const res = await response
  if (res instanceof Error) throw res
  let text = ''
  for await (const chunk of res) text += chunk
  return { status: res.statusCode!, type: res.headers['content-type'], json: JSON.parse(text), at: Date.now() }
}

async function multipartUploads(s3: ReturnType<typeof clientsAs>['s3']) {
  return (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []
}

t.test('60 stalled uploads are aborted after UPLOAD_IDLE_TIMEOUT_MS and leave nothing; a normal upload completes meanwhile', async (t) => {
  const lab = await startTestLab(t)
  const { url, api } = await startUpload(t, lab, 'uploader', { UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_MS), MULTIPART_PART_BYTES: String(5 * MiB) }, { singlePutMaxBytes: 8 * MiB })
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())
  const stalled: { name: string; response: Promise<IncomingMessage | Error>; stalledAt: number }[] = []
  // The same upload on an idle service, for comparison (the machine may be busy).
  const baselineStart = Date.now()
  t.equal((await api('/files/baseline.bin', { method: 'PUT', body: Buffer.alloc(256 * 1024, 6) })).status, 201)
  const baselineMs = Date.now() - baselineStart

  // 5 raw PUTs and 5 forms past their first part (multipart uploads begun, one part stored), then silence.
  for (let i = 0; i < 5; i++) {
    const { req, response } = openRequest(`${url}/files/stalled-big-${i}.bin`, 'PUT', { 'content-length': 40 * MiB })
    req.write(Buffer.alloc(6 * MiB, i))
    stalled.push({ name: `stalled-big-${i}.bin`, response, stalledAt: Date.now() })
    const B = `stallBoundary${i}`
    const head = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="stalled-form-${i}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
    const form = openRequest(`${url}/files`, 'POST', { 'content-type': `multipart/form-data; boundary=${B}`, 'content-length': head.length + 40 * MiB })
    form.req.write(head)
    form.req.write(Buffer.alloc(6 * MiB, i))
    stalled.push({ name: `stalled-form-${i}.bin`, response: form.response, stalledAt: Date.now() })
  }
  await eventually(async () => (await multipartUploads(admin.s3)).length === 10, '10 multipart uploads in progress', 30_000)
  // 50 PUTs that declare 1 MiB, send 1 KiB and stall: each holds a streaming PutObject (an S3 socket).
  for (let i = 0; i < 50; i++) {
    const { req, response } = openRequest(`${url}/files/stalled-${i}.bin`, 'PUT', { 'content-length': MiB })
    req.write(Buffer.alloc(1024, i))
    stalled.push({ name: `stalled-${i}.bin`, response, stalledAt: Date.now() })
  }
  t.equal(stalled.length, 60)

  let firstStalledAnswer = Number.POSITIVE_INFINITY
  const answering = Promise.all(stalled.map(async (s) => {
    const a = { ...s, ...(await answer(s.response)) }
    firstStalledAnswer = Math.min(firstStalledAnswer, a.at)
    return a
  }))
  const started = Date.now()
  const normal = await api('/files/normal.bin', { method: 'PUT', body: Buffer.alloc(256 * 1024, 7) })
  const normalDone = Date.now()
  const normalMs = normalDone - started
  t.equal(normal.status, 201, 'the normal upload is stored')
  t.ok(normalDone < firstStalledAnswer, 'it completed while all 60 stalled uploads were still open (no waiting for them to time out)')
  t.ok(normalMs < IDLE_MS, `the normal upload took ${normalMs} ms with 60 stalled uploads open`)
  t.comment(`normal 256 KiB upload beside 60 stalled ones: ${normalMs} ms; alone: ${baselineMs} ms (UPLOAD_IDLE_TIMEOUT_MS=${IDLE_MS}, AWS_CLIENT_MAX_SOCKETS=200)`)

  const answers = await answering
  for (const a of answers) {
    if (a.status !== 408 || a.json.code !== 'UPL_IDLE_TIMEOUT') t.fail(`${a.name}: ${a.status} ${JSON.stringify(a.json)}`)
  }
  t.ok(answers.every((a) => a.status === 408 && a.json.code === 'UPL_IDLE_TIMEOUT'), 'every stalled upload answered 408 UPL_IDLE_TIMEOUT')
  t.match(answers[0], { type: 'application/problem+json; charset=utf-8', json: { type: 'urn:kms-share:problem:UPL_IDLE_TIMEOUT', title: 'Request Timeout', status: 408, detail: new RegExp(`${IDLE_MS} ms \\(UPLOAD_IDLE_TIMEOUT_MS\\)`) } })
  const waited = answers.map((a) => a.at - a.stalledAt)
  t.ok(Math.min(...waited) >= IDLE_MS - 200, `none aborted early (shortest wait ${Math.min(...waited)} ms)`)
  t.ok(Math.max(...waited) < IDLE_MS + 15_000, `all aborted within the limit and some slack (longest ${Math.max(...waited)} ms)`)

  await eventually(async () => (await multipartUploads(admin.s3)).length === 0, 'every multipart upload aborted', 15_000)
  const keys = ((await admin.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((o) => o.Key)
  t.same(keys, ['baseline.bin', 'normal.bin'], 'only the normal uploads are stored')
})

t.test('an upload that trickles (never idle) is cut at HTTP_REQUEST_TIMEOUT_MS with 408 problem+json', async (t) => {
  const lab = await startTestLab(t)
  const { url } = await startUpload(t, lab, 'uploader', { HTTP_REQUEST_TIMEOUT_MS: '1500', HTTP_HEADERS_TIMEOUT_MS: '1000', UPLOAD_IDLE_TIMEOUT_MS: '1000' })
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())
  const started = Date.now()
  const { req, response } = openRequest(`${url}/files/trickle.bin`, 'PUT', { 'content-length': MiB })
  const timer = setInterval(() => req.write(Buffer.alloc(10, 1)), 100)
  const r = await answer(response)
  clearInterval(timer)
  req.destroy()
  const ms = Date.now() - started
  t.equal(r.status, 408)
  t.match(r, { type: 'application/problem+json; charset=utf-8', json: { code: 'SHR_REQUEST_TIMEOUT', status: 408, title: 'Request Timeout' } })
  t.ok(ms >= 1_400 && ms < 5_000, `cut after ${ms} ms`)
  await eventually(async () => ((await admin.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).KeyCount ?? 0) === 0, 'nothing stored', 5_000)
})

t.test('/readyz answers 503 within READINESS_TIMEOUT_MS when S3 does not answer', async (t) => {
  const lab = await startTestLab(t)
  const sockets = new Set<Socket>()
  const blackhole = createServer((socket) => { sockets.add(socket); socket.on('error', () => {}) })
  blackhole.listen(0, '127.0.0.1')
  await once(blackhole, 'listening')
  t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); blackhole.close(() => r()) }))
  const s3Endpoint = `http://127.0.0.1:${(blackhole.address() as { port: number }).port}`
  const { url } = await startUpload(t, lab, 'uploader', { AWS_ENDPOINT_URL_S3: s3Endpoint, READINESS_TIMEOUT_MS: '800' })
  const started = Date.now()
  const r = await fetch(`${url}/readyz`)
  const ms = Date.now() - started
  t.equal(r.status, 503)
  t.equal(r.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  t.match(await r.json(), { code: 'SHR_UNAVAILABLE', detail: /s3: no answer within 800 ms/ })
  t.ok(ms >= 700 && ms < 3_000, `answered after ${ms} ms`)
  t.equal((await fetch(`${url}/healthz`)).status, 200, 'liveness is not readiness')
})

t.test('a slow S3 is not a stalled client: an upload whose body is all in waits for S3 past UPLOAD_IDLE_TIMEOUT_MS and HTTP_IDLE_TIMEOUT_MS', async (t) => {
  const lab = await startTestLab(t)
  const target = new URL(lab.endpoint)
  // Between the service and the lab: answers held back 1.5 s (an S3 slow to answer once the body is in); TLS passes through.
  const sockets = new Set<Socket>()
  const slowS3 = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname)
    for (const s of [client, upstream]) { sockets.add(s); s.on('error', () => { client.destroy(); upstream.destroy() }) }
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => { setTimeout(() => { if (!client.destroyed) client.write(chunk) }, 1_500) })
    upstream.on('end', () => setTimeout(() => client.end(), 1_600))
  })
  slowS3.listen(0, '127.0.0.1')
  await once(slowS3, 'listening')
  t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); slowS3.close(() => r()) }))
  const { api } = await startUpload(t, lab, 'uploader', { UPLOAD_IDLE_TIMEOUT_MS: '500', HTTP_IDLE_TIMEOUT_MS: '700', AWS_ENDPOINT_URL_S3: `${target.protocol}//127.0.0.1:${(slowS3.address() as { port: number }).port}` })
  const started = Date.now()
  const put = await api('/files/slow-s3.bin', { method: 'PUT', body: Buffer.alloc(300 * 1024, 5) })
  t.equal(put.status, 201, 'stored, not cut as idle')
  t.ok(Date.now() - started >= 1_400, `S3 made it wait ${Date.now() - started} ms`)
})

t.test('OpenAPI documents the 408 of both upload routes', async (t) => {
  const lab = await startTestLab(t)
  const { api } = await startUpload(t, lab)
  const docs: any = await (await api('/docs/json')).json()
  const put = docs.paths['/files/{*}'] ?? docs.paths['/files/*']
  t.ok(put.put.responses['408'], 'PUT /files/<name>')
  t.ok(docs.paths['/files'].post.responses['408'], 'POST /files')
})

t.test('a form that stalls before its file starts is aborted too', async (t) => {
  const lab = await startTestLab(t)
  const { url } = await startUpload(t, lab, 'uploader', { UPLOAD_IDLE_TIMEOUT_MS: '800' })
  const B = 'earlyStall'
  // Headers and half of the "key" field, then silence: no file part, so no S3 upload has begun.
  const form = openRequest(`${url}/files`, 'POST', { 'content-type': `multipart/form-data; boundary=${B}`, 'content-length': 10_000 })
  form.req.on('error', () => {})
  form.req.write(`--${B}\r\nContent-Disposition: form-data; name="key"\r\n\r\nhalf-a-na`)
  const started = Date.now()
  const r = await answer(form.response)
  form.req.destroy()
  t.match(r, { status: 408, type: 'application/problem+json; charset=utf-8', json: { code: 'UPL_IDLE_TIMEOUT' } })
  t.ok(r.at - started >= 700 && r.at - started < 5_000, `answered after ${r.at - started} ms`)
})
