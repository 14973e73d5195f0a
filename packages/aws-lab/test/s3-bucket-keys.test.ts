// S3 Bucket Keys cut KMS calls: one bucket-level data key per requester and KMS key for a bounded
// time, with the bucket ARN as encryption context (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html).
// Presigned URLs (SigV4 query auth) for GET and PUT through plain fetch
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const BUCKET = 'kmsworkshop-111122223333'

// Real clients (Python CLI startups, SDK retries) on a shared, busy machine: allow more than tap's default.
t.setTimeout(10 * 60 * 1000)

t.test('bucket keys and presigned URLs', async (t) => {
  const lab = await startTestLab(t, { ...WITHOUT_STACKS, defaultKeyPolicy: true })
  const workshop = new S3Client(lab.clientConfig('workshop'))
  const downloader = new S3Client(lab.clientConfig('downloader'))
  t.teardown(() => { workshop.destroy(); downloader.destroy() })

  // The trail's records, read in-process: LookupEvents is rate-limited to two calls a second, as in AWS.
  const kmsEvents = async (name: string, who: RegExp): Promise<any[]> =>
    lab.trail.all().filter((e) => e.eventSource === 'kms.amazonaws.com' && e.eventName === name && who.test((e.userIdentity?.arn as string | undefined) ?? ''))

  const N = 10
  const bodies = Array.from({ length: N }, () => randomBytes(1000))

  t.test('without bucket keys every object costs a GenerateDataKey and a Decrypt', async (t) => {
    const gdkBefore = (await kmsEvents('GenerateDataKey', /KMSWorkshop-InstaceInitRole/)).length
    for (let i = 0; i < N; i++) await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: `plain/${i}`, Body: bodies[i], ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
    const gdk = (await kmsEvents('GenerateDataKey', /KMSWorkshop-InstaceInitRole/)).length - gdkBefore
    t.equal(gdk, N)
    for (let i = 0; i < N; i++) {
      const got = await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: `plain/${i}` }))
      t.same(Buffer.from(await got.Body!.transformToByteArray()), bodies[i])
    }
    t.equal((await kmsEvents('Decrypt', /kms-share-downloader/)).length, N)
  })

  t.test('with bucket keys one GenerateDataKey and one Decrypt serve them all', async (t) => {
    const gdkBefore = await kmsEvents('GenerateDataKey', /KMSWorkshop-InstaceInitRole/)
    const decBefore = (await kmsEvents('Decrypt', /kms-share-downloader/)).length
    for (let i = 0; i < N; i++) {
      const put = await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: `bk/${i}`, Body: bodies[i], ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK', BucketKeyEnabled: true }))
      t.equal(put.BucketKeyEnabled, true)
    }
    const fresh = (await kmsEvents('GenerateDataKey', /KMSWorkshop-InstaceInitRole/)).filter((e) => !gdkBefore.some((b) => b.eventID === e.eventID))
    t.equal(fresh.length, 1, 'one bucket-level data key')
    t.same(fresh[0].requestParameters.encryptionContext, { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}` }, 'the bucket ARN is the context')
    t.equal(fresh[0].userIdentity.invokedBy, 'fas.s3.amazonaws.com')
    for (let i = 0; i < N; i++) {
      const got = await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: `bk/${i}` }))
      t.equal(got.BucketKeyEnabled, true)
      t.same(Buffer.from(await got.Body!.transformToByteArray()), bodies[i])
    }
    const decrypts = (await kmsEvents('Decrypt', /kms-share-downloader/)).length - decBefore
    t.equal(decrypts, 1, 'the bucket key is decrypted once per requester')
  })

  t.test("the caller's encryption context joins aws:s3:arn and binds the data key", async (t) => {
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context
    const SSEKMSEncryptionContext = Buffer.from(JSON.stringify({ project: 'kms-share' })).toString('base64')
    const put = await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'ctx.txt', Body: 'with context', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK', SSEKMSEncryptionContext }))
    t.equal(put.SSEKMSEncryptionContext, SSEKMSEncryptionContext)
    const gdk = (await kmsEvents('GenerateDataKey', /KMSWorkshop-InstaceInitRole/)).at(-1)
    t.same(gdk.requestParameters.encryptionContext, { 'project': 'kms-share', 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/ctx.txt` })
    const got = await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'ctx.txt' }))
    t.equal(await got.Body!.transformToString(), 'with context')
    const dec = (await kmsEvents('Decrypt', /kms-share-downloader/)).at(-1)
    t.same(dec.requestParameters.encryptionContext, { 'project': 'kms-share', 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/ctx.txt` })
  })

  t.test('presigned GET and PUT through plain fetch', async (t) => {
    const body = randomBytes(50_000)
    await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'presigned/get.bin', Body: body }))
    const getUrl = await getSignedUrl(workshop, new GetObjectCommand({ Bucket: BUCKET, Key: 'presigned/get.bin' }), { expiresIn: 300 })
    t.match(getUrl, /X-Amz-Signature=/)
    const res = await fetch(getUrl)
    t.equal(res.status, 200)
    t.same(Buffer.from(await res.arrayBuffer()), body)

    const tampered = await fetch(getUrl.replace('presigned/get.bin', 'presigned/other.bin'))
    t.equal(tampered.status, 403)
    t.match(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/)

    const putUrl = await getSignedUrl(workshop, new PutObjectCommand({ Bucket: BUCKET, Key: 'presigned/put.bin' }), { expiresIn: 300 })
    const upload = randomBytes(40_000)
    const put = await fetch(putUrl, { method: 'PUT', body: upload })
    t.equal(put.status, 200, await put.clone().text())
    t.ok(put.headers.get('etag'))
    const back = await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'presigned/put.bin' }))
    t.same(Buffer.from(await back.Body!.transformToByteArray()), upload)
  })
})
