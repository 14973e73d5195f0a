// PUT /files/* against a real lab, as the uploader role.
// Conditional writes (If-None-Match: * → 412 when the key exists): https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
// SSE-KMS response headers (x-amz-server-side-encryption, …-aws-kms-key-id): https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
import t from 'tap'
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3'
import { DescribeKeyCommand } from '@aws-sdk/client-kms'
import { BUCKET, clientsAs, encodeKey, openRequest, startTestLab, startUpload, eventually } from './helpers.js'

const body = async (r: Response): Promise<any> => r.json()

t.test('PUT /files/*', async (t) => {
  const lab = await startTestLab(t)
  const { url, api } = await startUpload(t, lab, 'uploader', { MAX_UPLOAD_BYTES: String(4 * 1024 * 1024) })
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => { admin.s3.destroy(); admin.kms.destroy() })
  const keyArn = (await admin.kms.send(new DescribeKeyCommand({ KeyId: 'alias/ImportedCMK' }))).KeyMetadata!.Arn!

  await t.test('201 with the object as S3 reported it, encrypted under alias/ImportedCMK', async (t) => {
    const text = 'Welcome to the AWS KMS workshop\n'
    const r = await api('/files/SampleFile-KMS.txt', { method: 'PUT', body: text, headers: { 'content-type': 'text/plain' } })
    t.equal(r.status, 201)
    const json = await body(r)
    t.same(Object.keys(json).sort(), ['bucketKeyEnabled', 'etag', 'key', 'kmsKeyArn', 'size', 'sseAlgorithm'])
    t.match(json, { key: 'SampleFile-KMS.txt', size: Buffer.byteLength(text), sseAlgorithm: 'aws:kms', kmsKeyArn: keyArn, bucketKeyEnabled: false })
    t.match(json.etag, /^"[0-9a-f]{32}"$/)
    const head = await admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'SampleFile-KMS.txt' }))
    t.equal(head.ServerSideEncryption, 'aws:kms')
    t.equal(head.SSEKMSKeyId, keyArn)
    t.equal(head.ContentLength, Buffer.byteLength(text))
    t.equal(head.ContentType, 'text/plain')
    t.equal(head.ETag, json.etag)
  })

  await t.test('existing key → 409 unless ?overwrite=true', async (t) => {
    const first = await api('/files/dup.txt', { method: 'PUT', body: 'one' })
    t.equal(first.status, 201)
    const again = await api('/files/dup.txt', { method: 'PUT', body: 'two' })
    t.equal(again.status, 409)
    t.equal(again.headers.get('content-type'), 'application/problem+json; charset=utf-8')
    t.match(await body(again), { status: 409, code: 'UPL_OBJECT_EXISTS', awsErrorCode: 'PreconditionFailed', detail: /overwrite=true/ })
    t.equal((await admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'dup.txt' }))).ContentLength, 3, 'the first object is untouched')
    const replaced = await api('/files/dup.txt?overwrite=true', { method: 'PUT', body: 'three' })
    t.equal(replaced.status, 201)
    t.equal((await body(replaced)).size, 5)
  })

  await t.test('names: "/" allowed, NFC, refused names say what to fix', async (t) => {
    const nested = await api(`/files/${encodeKey('reports/2026/q4.csv')}`, { method: 'PUT', body: 'a,b\n' })
    t.equal(nested.status, 201)
    t.equal((await body(nested)).key, 'reports/2026/q4.csv')
    const nfd = 'Cafe\u0301 \u00fcber.txt'.normalize('NFD')
    const uni = await api(`/files/${encodeURIComponent(nfd)}`, { method: 'PUT', body: 'x' })
    t.equal(uni.status, 201)
    t.equal((await body(uni)).key, nfd.normalize('NFC'))
    const traversal = await api(`/files/${encodeURIComponent('../../etc/passwd')}`, { method: 'PUT', body: 'x' })
    t.equal(traversal.status, 400)
    t.match(await body(traversal), { code: 'UPL_INVALID_NAME', detail: /"\.\." path segments/ })
    const control = await api('/files/a%0Ab.txt', { method: 'PUT', body: 'x' })
    t.match(await body(control), { status: 400, code: 'UPL_INVALID_NAME', detail: /U\+000A/ })
    const long = await api(`/files/${'a'.repeat(1025)}`, { method: 'PUT', body: 'x' })
    t.match(await body(long), { status: 400, code: 'UPL_INVALID_NAME', detail: /1025 bytes/ })
    const name300 = `${'é'.repeat(148)}.txt` // 296 + 4 = 300 bytes of UTF-8
    t.equal(Buffer.byteLength(name300), 300)
    const ok300 = await api(`/files/${encodeURIComponent(name300)}`, { method: 'PUT', body: 'x' })
    t.equal(ok300.status, 201)
    const empty = await api('/files/', { method: 'PUT', body: 'x' })
    t.match(await body(empty), { status: 400, code: 'UPL_INVALID_NAME', detail: /empty/ })
  })

  await t.test('empty body allowed', async (t) => {
    const r = await api('/files/empty.bin', { method: 'PUT', body: '' })
    t.equal(r.status, 201)
    t.equal((await body(r)).size, 0)
  })

  await t.test('JSON bodies are stored, not parsed', async (t) => {
    const r = await api('/files/data.json', { method: 'PUT', body: '{"a":1}', headers: { 'content-type': 'application/json' } })
    t.equal(r.status, 201)
    t.equal((await body(r)).size, 7)
  })

  await t.test('over MAX_UPLOAD_BYTES → 413 before reading the body; no Content-Length → 411', async (t) => {
    const big = await api('/files/big.bin', { method: 'PUT', body: Buffer.alloc(4 * 1024 * 1024 + 1) })
    t.equal(big.status, 413)
    t.match(await body(big), { code: 'UPL_TOO_LARGE' })
    const gone = await admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'big.bin' })).catch((e: Error) => e)
    t.equal((gone as Error).name, 'NotFound')
    const chunked = await api('/files/chunked.bin', {
      method: 'PUT',
      body: new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1, 2, 3])); c.close() } }),
      duplex: 'half',
    })
    t.equal(chunked.status, 411)
    t.match(await body(chunked), { code: 'UPL_LENGTH_REQUIRED' })
  })

  await t.test('a client that disconnects mid-upload leaves no object', async (t) => {
    const { req, response } = openRequest(`${url}/files/cut.bin`, 'PUT', { 'content-length': 3 * 1024 * 1024 })
    req.write(Buffer.alloc(1024 * 1024, 7))
    await new Promise((r) => setTimeout(r, 300))
    req.destroy()
    await response
    // The service notices, aborts its PutObject; S3 (the lab) never stores a short body.
    await new Promise((r) => setTimeout(r, 500))
    const head = await admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'cut.bin' })).catch((e: Error) => e)
    t.equal((head as Error).name, 'NotFound')
    const uploads = await admin.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))
    t.equal(uploads.Uploads?.length ?? 0, 0)
    // The service still works afterwards.
    await eventually(async () => (await fetch(`${url}/healthz`)).status === 200, 'the service healthy', 15_000)
  })
})

t.test('a PUT over the single-PUT limit goes through a multipart upload', async (t) => {
  const lab = await startTestLab(t)
  const uploaded: string[] = []
  const { api } = await startUpload(t, lab, 'uploader', { MULTIPART_PART_BYTES: String(5 * 1024 * 1024) }, {
    singlePutMaxBytes: 1024 * 1024,
    onUploaded: (object) => { uploaded.push(`${object.bucket}/${object.key}`) },
  })
  const data = Buffer.alloc(11 * 1024 * 1024, 0x41)
  const r = await api('/files/huge.bin', { method: 'PUT', body: data })
  t.equal(r.status, 201)
  const json = await body(r)
  t.match(json, { key: 'huge.bin', size: data.length, sseAlgorithm: 'aws:kms' })
  t.match(json.etag, /-3"$/, 'a multipart ETag')
  t.same(uploaded, [`${BUCKET}/huge.bin`], 'the post-upload hook saw the object')
  const again = await api('/files/huge.bin', { method: 'PUT', body: data })
  t.equal(again.status, 409, 'conditional on the multipart path too')
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())
  t.equal((await admin.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads?.length ?? 0, 0)
})
