// Graceful shutdown: closing lets an in-flight upload finish; when the grace period ends
// (server.ts calls abortAll), uploads are aborted cleanly — 503, no object, no multipart upload.
import t from 'tap'
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3'
import type { IncomingMessage } from 'node:http'
import { UploadErrors } from '../src/errors.js'
import { BUCKET, clientsAs, openRequest, startTestLab, startUpload, eventually } from './helpers.js'

const MiB = 1024 * 1024

async function readJson(res: IncomingMessage | Error): Promise<{ status: number; json: any }> {
  if (res instanceof Error) throw res
  let text = ''
  for await (const chunk of res) text += chunk
  return { status: res.statusCode!, json: JSON.parse(text) }
}

t.test('close() waits for an in-flight PUT to finish', async (t) => {
  const lab = await startTestLab(t)
  const { app, url } = await startUpload(t, lab)
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())
  const { req, response } = openRequest(`${url}/files/in-flight.bin`, 'PUT', { 'content-length': 2 * MiB })
  req.write(Buffer.alloc(MiB, 1))
  await eventually(async () => app.inFlightUploads.size === 1, 'the upload is in flight', 5000)
  const closing = app.close()
  req.end(Buffer.alloc(MiB, 2))
  const r = await readJson(await response)
  t.equal(r.status, 201)
  t.equal(r.json.size, 2 * MiB)
  await closing
  t.equal((await admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'in-flight.bin' }))).ContentLength, 2 * MiB)
})

t.test('abortAll (grace period over): PUT and form uploads answer 503 and leave nothing', async (t) => {
  const lab = await startTestLab(t)
  const { app, url } = await startUpload(t, lab, 'uploader', { MULTIPART_PART_BYTES: String(5 * MiB) })
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())

  const put = openRequest(`${url}/files/aborted.bin`, 'PUT', { 'content-length': 3 * MiB })
  put.req.write(Buffer.alloc(MiB, 1))
  const B = 'shutdownBoundary42'
  const head = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="aborted-form.bin"\r\n\r\n`)
  const form = openRequest(`${url}/files`, 'POST', { 'content-type': `multipart/form-data; boundary=${B}`, 'content-length': head.length + 30 * MiB })
  form.req.write(head)
  for (let i = 0; i < 11; i++) form.req.write(Buffer.alloc(MiB, 3))
  await eventually(async () => ((await admin.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).length === 1, 'a multipart upload is in progress', 15_000)
  t.equal(app.inFlightUploads.size, 2)

  app.inFlightUploads.abortAll(new UploadErrors.SHUTTING_DOWN())
  const [p, f] = await Promise.all([readJson(await put.response), readJson(await form.response)])
  t.match(p, { status: 503, json: { code: 'UPL_SHUTTING_DOWN' } })
  t.match(f, { status: 503, json: { code: 'UPL_SHUTTING_DOWN' } })
  put.req.destroy()
  form.req.destroy()
  await eventually(async () => ((await admin.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).length === 0, 'multipart upload aborted', 15_000)
  for (const key of ['aborted.bin', 'aborted-form.bin']) {
    t.equal((await admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).catch((e: Error) => e) as Error).name, 'NotFound', `${key} not stored`)
  }
})
