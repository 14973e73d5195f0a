// The lab skips the plaintext MD5 of an SSE-KMS PutObject (its ETag is not the MD5:
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html), but never where the MD5 still
// matters: Content-MD5 is still checked (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html),
// SSE-S3 ETags stay the MD5, and multipart ETags stay the MD5 of the parts' ETags.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { S3Client, PutObjectCommand, CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand, GetObjectCommand } from '@aws-sdk/client-s3'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const BUCKET = 'kmsworkshop-111122223333'
const md5 = (b: Buffer) => createHash('md5').update(b).digest()

t.test('SSE-KMS PutObject and the MD5', async (t) => {
  const lab = await startTestLab(t, { ...WITHOUT_STACKS, defaultKeyPolicy: true })
  const s3 = new S3Client(lab.clientConfig('admin'))
  t.teardown(() => s3.destroy())
  const body = randomBytes(300_000)

  await t.test('a right Content-MD5 is accepted; the ETag is 32 hex digits and not the MD5', async (t) => {
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'md5/right.bin', Body: body, ContentMD5: md5(body).toString('base64'), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
    t.match(put.ETag, /^"[0-9a-f]{32}"$/)
    t.not(put.ETag, `"${md5(body).toString('hex')}"`)
  })

  await t.test('a wrong Content-MD5 is BadDigest, as without SSE-KMS', async (t) => {
    await t.rejects(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'md5/wrong.bin', Body: body, ContentMD5: md5(Buffer.from('other')).toString('base64'), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' })),
      { name: 'BadDigest', $metadata: { httpStatusCode: 400 } },
    )
  })

  await t.test('without Content-MD5 the object still reads back whole, with a distinct 32-hex ETag each time', async (t) => {
    const a = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'md5/none.bin', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
    const b = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'md5/none.bin', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
    t.match(a.ETag, /^"[0-9a-f]{32}"$/)
    t.not(a.ETag, b.ETag)
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'md5/none.bin' }))
    t.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body))
  })

  await t.test('SSE-S3 ETags stay the MD5', async (t) => {
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'md5/sse-s3.bin', Body: body, ServerSideEncryption: 'AES256' }))
    t.equal(put.ETag, `"${md5(body).toString('hex')}"`)
  })

  await t.test('an SSE-S3 multipart ETag is the MD5 of the parts’ MD5s', async (t) => {
    const part = randomBytes(5 * 1024 * 1024)
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'md5/mpu.bin', ServerSideEncryption: 'AES256' }))
    const up = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'md5/mpu.bin', UploadId, PartNumber: 1, Body: part }))
    t.equal(up.ETag, `"${md5(part).toString('hex')}"`, 'the part ETag is its MD5')
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'md5/mpu.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: up.ETag }] } }))
    t.equal(done.ETag, `"${createHash('md5').update(md5(part)).digest('hex')}-1"`)
  })
})
