// Issue 22, row 14: an upload that trickles — never idle, so UPLOAD_IDLE_TIMEOUT_MS never fires —
// is cut once its average over UPLOAD_MIN_RATE_WINDOW_MS falls below UPLOAD_MIN_BYTES_PER_SECOND:
// 408 UPL_TOO_SLOW, no object, its multipart upload aborted. An upload above the floor completes.
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html
import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { BUCKET, clientsAs, openRequest, startTestLab, startUpload, eventually } from './helpers.js'

const MiB = 1024 * 1024
const WINDOW_MS = 2_000
const lab = await startTestLab(t)
// The floor at 1 KiB/s over 2 s; idle limit far away, so only the rate can cut.
const { url } = await startUpload(t, lab, 'uploader', { UPLOAD_MIN_BYTES_PER_SECOND: '1024', UPLOAD_MIN_RATE_WINDOW_MS: String(WINDOW_MS), UPLOAD_IDLE_TIMEOUT_MS: '60000', MULTIPART_PART_BYTES: String(5 * MiB) }, { singlePutMaxBytes: 8 * MiB })
const admin = clientsAs(lab, 'admin')
t.teardown(() => admin.s3.destroy())

async function answer(response: Promise<IncomingMessage | Error>) {
  const res = await response
  if (res instanceof Error) throw res
  let text = ''
  for await (const chunk of res) text += chunk
  return { status: res.statusCode!, type: res.headers['content-type'], json: JSON.parse(text) as { code: string; detail: string } }
}

async function stored(): Promise<{ objects: number; uploads: number }> {
  const objects = (await admin.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).KeyCount ?? 0
  const uploads = (await admin.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads?.length ?? 0
  return { objects, uploads }
}

t.test('a raw PUT trickling a byte every 200 ms is cut with 408 UPL_TOO_SLOW; nothing stored', async (t) => {
  const started = Date.now()
  const { req, response } = openRequest(`${url}/files/trickle.bin`, 'PUT', { 'content-length': MiB })
  const timer = setInterval(() => req.write(Buffer.alloc(1, 1)), 200)
  const r = await answer(response)
  clearInterval(timer)
  req.destroy()
  const ms = Date.now() - started
  t.equal(r.status, 408)
  t.match(r.type, /application\/problem\+json/)
  t.equal(r.json.code, 'UPL_TOO_SLOW')
  t.match(r.json.detail, /arrived at \d+ bytes\/s over the last 2000 ms, below the least accepted, 1024 bytes\/s/)
  t.ok(ms >= WINDOW_MS && ms < WINDOW_MS + 6_000, `cut after ${ms} ms`)
  t.same(await stored(), { objects: 0, uploads: 0 }, 'nothing stored')
})

t.test('a form past its first part, then trickling, is cut and its multipart upload aborted', async (t) => {
  const B = 'slowBoundary'
  const head = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="slow-form.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
  const { req, response } = openRequest(`${url}/files`, 'POST', { 'content-type': `multipart/form-data; boundary=${B}`, 'content-length': head.length + 20 * MiB })
  req.write(head)
  req.write(Buffer.alloc(6 * MiB, 7))
  await eventually(async () => (await stored()).uploads === 1, 'a multipart upload is in progress', 30_000)
  const timer = setInterval(() => req.write(Buffer.alloc(10, 1)), 100)
  const r = await answer(response)
  clearInterval(timer)
  req.destroy()
  t.equal(r.status, 408)
  t.equal(r.json.code, 'UPL_TOO_SLOW')
  await eventually(async () => (await stored()).uploads === 0, 'the multipart upload is aborted', 10_000)
  t.equal((await stored()).objects, 0, 'no object')
})

t.test('an upload above the floor, however slow, completes', async (t) => {
  const { req, response } = openRequest(`${url}/files/steady.bin`, 'PUT', { 'content-length': 16 * 1024 })
  // 512 bytes every 100 ms: 5 KiB/s for 3.2 s, past the window more than once.
  let sent = 0
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      req.write(Buffer.alloc(512, 3))
      sent += 512
      if (sent >= 16 * 1024) {
        clearInterval(timer)
        req.end()
        resolve()
      }
    }, 100)
  })
  const r = await answer(response)
  t.equal(r.status, 201)
  t.equal((await stored()).objects, 1)
})
