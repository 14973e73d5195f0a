// POST /files (multipart form) against a real lab, as the uploader role.
// Multipart SSE-KMS uploads need kms:Decrypt as well as kms:GenerateDataKey to complete:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
import t from 'tap'
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3'
import { BUCKET, clientsAs, formParts, openRequest, postForm, startTestLab, startUpload, eventually } from './helpers.js'

const MiB = 1024 * 1024
const B = 'kmsShareBoundary7MA4YWxkTrZu0gW'

t.test('POST /files', async (t) => {
  const lab = await startTestLab(t)
  const { url, api } = await startUpload(t, lab, 'uploader', { MAX_UPLOAD_BYTES: String(16 * MiB), MULTIPART_PART_BYTES: String(5 * MiB) })
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => { admin.s3.destroy(); admin.kms.destroy() })
  const head = (key: string) => admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).catch((e: Error) => e)
  const pendingUploads = async () => (await admin.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []

  await t.test('a file named by its file name, through the browser-style FormData', async (t) => {
    const form = new FormData()
    form.append('file', new Blob(['hello from a form'], { type: 'text/plain' }), 'form.txt')
    const r = await api('/files', { method: 'POST', body: form })
    t.equal(r.status, 201)
    const json: any = await r.json()
    t.match(json, { key: 'form.txt', size: 17, sseAlgorithm: 'aws:kms', kmsKeyArn: /^arn:aws:kms:eu-west-1:111122223333:key\//, bucketKeyEnabled: false })
    const h = await head('form.txt')
    t.match(h, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: json.kmsKeyArn, ContentLength: 17, ContentType: 'text/plain' })
  })

  await t.test('a "key" field before the file names the object', async (t) => {
    const r = await postForm(api, formParts(B, [{ name: 'key', body: 'docs/renamed.txt' }, { name: 'file', filename: 'ignored.txt', body: 'x' }]), B)
    t.equal(r.status, 201)
    t.equal(r.json.key, 'docs/renamed.txt')
  })

  await t.test('a large file goes through a real multipart upload (3 parts) and completes', async (t) => {
    const data = Buffer.alloc(12 * MiB, 0x61)
    const r = await postForm(api, formParts(B, [{ name: 'file', filename: 'large.bin', body: data }]), B)
    t.equal(r.status, 201)
    t.match(r.json, { key: 'large.bin', size: 12 * MiB, sseAlgorithm: 'aws:kms' })
    t.match(r.json.etag, /-3"$/, 'a multipart ETag (3 parts)')
    t.equal((await head('large.bin') as { ContentLength: number }).ContentLength, 12 * MiB)
    t.same(await pendingUploads(), [])
  })

  await t.test('bad forms, each with its answer, and nothing stored', async (t) => {
    const none = await postForm(api, formParts(B, [{ name: 'key', body: 'k.txt' }]), B)
    t.match(none, { status: 400, json: { code: 'UPL_NO_FILE' } })

    const two = await postForm(api, formParts(B, [{ name: 'file', filename: 'one.txt', body: 'one' }, { name: 'file', filename: 'two.txt', body: 'two' }]), B)
    t.match(two, { status: 400, json: { code: 'UPL_TOO_MANY_FILES' } })
    t.equal((await head('one.txt') as Error).name, 'NotFound', 'the first of two files is not stored')

    const late = await postForm(api, formParts(B, [{ name: 'file', filename: 'late.txt', body: 'x' }, { name: 'key', body: 'late-key.txt' }]), B)
    t.match(late, { status: 400, json: { code: 'UPL_KEY_AFTER_FILE' } })
    t.equal((await head('late.txt') as Error).name, 'NotFound')

    const other = await postForm(api, formParts(B, [{ name: 'upload', filename: 'x.txt', body: 'x' }]), B)
    t.match(other, { status: 400, json: { code: 'UPL_UNEXPECTED_FIELD' } })

    const traversal = await postForm(api, formParts(B, [{ name: 'file', filename: '../../etc/passwd', body: 'root:x:0:0' }]), B)
    t.match(traversal, { status: 400, json: { code: 'UPL_INVALID_NAME', detail: /"\.\."/ } })
    t.equal((await head('passwd') as Error).name, 'NotFound', 'not silently stored as its base name')

    const long = await postForm(api, formParts(B, [{ name: 'key', body: 'b'.repeat(1025) }, { name: 'file', filename: 'x', body: 'x' }]), B)
    t.match(long, { status: 400, json: { code: 'UPL_INVALID_NAME', detail: /1025 bytes/ } })

    const notForm = await api('/files', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
    t.equal(notForm.status, 415)
    t.match(await notForm.json(), { code: 'UPL_NOT_MULTIPART' })
    t.same(await pendingUploads(), [], 'no multipart upload left behind')
  })

  await t.test('empty file, 300-byte and unicode names', async (t) => {
    const empty = await postForm(api, formParts(B, [{ name: 'file', filename: 'empty.txt', body: '' }]), B)
    t.match(empty, { status: 201, json: { key: 'empty.txt', size: 0 } })
    const name300 = `${'ü'.repeat(148)}.txt`
    const r300 = await postForm(api, formParts(B, [{ name: 'key', body: name300 }, { name: 'file', filename: 'x', body: 'x' }]), B)
    t.match(r300, { status: 201, json: { key: name300 } })
    const nfd = 'Ångström-日本語.txt'.normalize('NFD')
    const uni = await postForm(api, formParts(B, [{ name: 'file', filename: nfd, body: 'x' }]), B)
    t.equal(uni.status, 201)
    t.equal(uni.json.key, nfd.normalize('NFC'))
    t.not(uni.json.key, nfd)
  })

  await t.test('existing key → 409 unless ?overwrite=true', async (t) => {
    const r = await postForm(api, formParts(B, [{ name: 'file', filename: 'form.txt', body: 'again' }]), B)
    t.match(r, { status: 409, json: { code: 'UPL_OBJECT_EXISTS', awsErrorCode: 'PreconditionFailed' } })
    const big = await postForm(api, formParts(B, [{ name: 'file', filename: 'large.bin', body: Buffer.alloc(11 * MiB) }]), B)
    t.match(big, { status: 409, json: { code: 'UPL_OBJECT_EXISTS' } }, 'CompleteMultipartUpload is conditional too')
    t.equal((await head('large.bin') as { ContentLength: number }).ContentLength, 12 * MiB, 'the existing object is untouched')
    const over = await api('/files?overwrite=true', { method: 'POST', body: formParts(B, [{ name: 'file', filename: 'form.txt', body: 'again' }]), headers: { 'content-type': `multipart/form-data; boundary=${B}` } })
    t.equal(over.status, 201)
    t.same(await pendingUploads(), [])
  })

  await t.test('over MAX_UPLOAD_BYTES → 413, the multipart upload aborted, no object', async (t) => {
    const r = await postForm(api, formParts(B, [{ name: 'file', filename: 'toolarge.bin', body: Buffer.alloc(16 * MiB + 1) }]), B).catch((e: Error) => e)
    // The service answers 413 as soon as the count passes the limit and closes the connection.
    if (!(r instanceof Error)) t.match(r, { status: 413, json: { code: 'UPL_TOO_LARGE' } })
    await eventually(async () => (await pendingUploads()).length === 0, 'no multipart upload left', 15_000)
    t.equal((await head('toolarge.bin') as Error).name, 'NotFound')
  })

  await t.test('a client that disconnects mid-upload leaves nothing behind', async (t) => {
    const head1 = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
    const { req, response } = openRequest(`${url}/files`, 'POST', { 'content-type': `multipart/form-data; boundary=${B}`, 'content-length': head1.length + 40 * MiB })
    req.write(head1)
    for (let i = 0; i < 11; i++) req.write(Buffer.alloc(MiB, 0x62))
    // Wait until S3 (the lab) holds a multipart upload for it, so the test proves the abort.
    await eventually(async () => (await pendingUploads()).some((u) => u.Key === 'cut.bin'), 'a multipart upload in progress', 15_000)
    req.destroy()
    await response
    await eventually(async () => (await pendingUploads()).length === 0, 'the multipart upload was aborted', 15_000)
    t.equal((await head('cut.bin') as Error).name, 'NotFound', 'no object')
  })
})
