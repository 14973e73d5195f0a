// Audit verdicts through a real redis-server, the lab and the upload service: plain and
// bucket-key uploads are VERIFIED with the event's encryption context; an object written by
// another role under another key is a MISMATCH that says what differs; downloads show up as readers.
// Encryption context S3 uses: https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context
// (aws:s3:arn names the object, or the bucket when S3 Bucket Keys are on).
import t from 'tap'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { createS3Client } from '@kms-share/shared'
import { BUCKET, eventually, labEnv, startRedis, startTestLab, startUpload, startWorker, withoutBucketPolicy } from './audit-helpers.js'

// AWS's default key policy, so that a role other than the downloader can read at all (the stack's
// separation-of-duties policy lets nobody else decrypt): the audit must still flag such a reader.
const lab = await startTestLab(t, { defaultKeyPolicy: true })
const redis = await startRedis(t)
const importedKeyArn = (await lab.invoke<{ KeyMetadata: { Arn: string } }>('kms', 'DescribeKey', { KeyId: 'alias/ImportedCMK' }, 'admin')).KeyMetadata.Arn
const worker = await startWorker(t, lab, redis, { AUDIT_KMS_KEY_ARN: importedKeyArn })
const upload = await startUpload(t, lab, redis)
const uploaderArn = lab.callerFor('uploader').principal.arn

const verdictOf = (key: string) => eventually(async () => (await worker.store.getVerdict(BUCKET, key)) ?? undefined, `a verdict for ${key}`, 30_000)

t.test('a plain upload is VERIFIED: HeadObject and the GenerateDataKey event agree, context names the object', async (t) => {
  const put = await upload.put('SampleFile-KMS.txt', 'hello kms')
  t.equal(put.status, 201)
  t.equal(put.json.audit, 'queued')
  const job = await worker.queue.getJob((await worker.queue.getJobs(['waiting', 'active', 'completed', 'delayed'])).find((j) => j.data.key === 'SampleFile-KMS.txt')!.id!)
  t.match(job!.data, { v: 1, source: 'upload', bucket: BUCKET, key: 'SampleFile-KMS.txt', etag: put.json.etag, expectedKeyArn: importedKeyArn, principal: uploaderArn, bucketKey: false })
  t.notOk(JSON.stringify(job!.data).includes('hello kms'), 'the job carries references, not content')
  t.match(job!.opts, { attempts: 6, backoff: { type: 'exponential', delay: 300 }, removeOnComplete: { count: Number }, removeOnFail: { count: Number } })
  const record = await verdictOf('SampleFile-KMS.txt')
  t.equal(record.verdict, 'VERIFIED', record.reasons.join('; '))
  t.equal(record.proves, 'object')
  t.same(record.event!.encryptionContext, { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/SampleFile-KMS.txt` })
  t.equal(record.event!.principal, uploaderArn)
  t.equal(record.event!.keyArn, importedKeyArn)
  t.equal(record.event!.invokedBy, 'fas.s3.amazonaws.com')
  t.match(record.head, { sseAlgorithm: 'aws:kms', kmsKeyArn: importedKeyArn, bucketKeyEnabled: false })
})

t.test('the same object version is queued once (job id from bucket, key and ETag)', async (t) => {
  const jobsBefore = (await worker.queue.getJobs(['waiting', 'active', 'completed', 'delayed', 'failed'])).length
  const record = await worker.store.getVerdict(BUCKET, 'SampleFile-KMS.txt')
  // The sweep finds the object with its verdict: nothing to add.
  t.equal(await worker.sweep(), 0)
  t.equal((await worker.queue.getJobs(['waiting', 'active', 'completed', 'delayed', 'failed'])).length, jobsBefore)
  t.equal((await worker.store.getVerdict(BUCKET, 'SampleFile-KMS.txt'))!.verdictAt, record!.verdictAt)
})

t.test('a bucket-key upload is VERIFIED and says it proves the key and the bucket, not the object', async (t) => {
  const bucketKeyUpload = await startUpload(t, lab, redis, { BUCKET_KEY: 'true' })
  const put = await bucketKeyUpload.put('bucket-key/report.txt', 'with a bucket key')
  t.equal(put.status, 201)
  t.equal(put.json.bucketKeyEnabled, true)
  t.equal(put.json.audit, 'queued')
  const record = await verdictOf('bucket-key/report.txt')
  t.equal(record.verdict, 'VERIFIED', record.reasons.join('; '))
  t.equal(record.proves, 'bucket')
  t.same(record.event!.encryptionContext, { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}` })
  t.match(record.reasons.join('\n'), /Bucket Key: the event proves the key and the bucket, not this object/)
})

t.test('an object written by another role under another key is a MISMATCH saying what differs', async (t) => {
  const otherKey = (await lab.invoke<{ KeyMetadata: { Arn: string; KeyId: string } }>('kms', 'CreateKey', { Description: 'not the share key' }, 'admin')).KeyMetadata
  const workshopS3: S3Client = createS3Client(labEnv(lab, 'workshop'))
  t.teardown(() => workshopS3.destroy())
  await withoutBucketPolicy(t, lab)
  // No bucket key: the deployed bucket's default would add one, and with it a verdict about the context as well.
  await workshopS3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'intruder.txt', Body: 'written around the service', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: otherKey.KeyId, BucketKeyEnabled: false }))
  // No upload job: the sweep finds it.
  t.equal(await worker.sweep(), 1)
  const record = await verdictOf('intruder.txt')
  t.equal(record.verdict, 'MISMATCH')
  t.equal(record.source, 'sweep')
  const reasons = record.reasons.join('\n')
  t.match(reasons, `HeadObject reports KMS key ${otherKey.Arn}, expected ${importedKeyArn}`)
  t.match(reasons, `GenerateDataKey used key ${otherKey.Arn}, expected ${importedKeyArn}`)
  t.match(reasons, /GenerateDataKey was called by arn:aws:sts::111122223333:assumed-role\/KMSWorkshop-InstaceInitRole\/.*, expected the role kms-share-uploader/)
  t.same(record.event!.encryptionContext, { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/intruder.txt` })
})

t.test('an upload whose object uses a bucket key when none was expected is a MISMATCH of the context', async (t) => {
  const uploaderS3: S3Client = createS3Client(labEnv(lab, 'uploader'))
  t.teardown(() => uploaderS3.destroy())
  await uploaderS3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'context.txt', Body: 'bucket key behind the service\'s back', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: importedKeyArn, BucketKeyEnabled: true }))
  t.equal(await worker.sweep(), 1)
  const record = await verdictOf('context.txt')
  t.equal(record.verdict, 'MISMATCH')
  t.match(record.reasons.join('\n'), `its encryption context is aws:s3:arn=arn:aws:s3:::${BUCKET}, expected aws:s3:arn=arn:aws:s3:::${BUCKET}/context.txt`)
})

t.test('downloads appear as readers; a reader that is not the download role is flagged', async (t) => {
  for (const profile of ['downloader', 'workshop']) {
    const s3 = createS3Client(labEnv(lab, profile))
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'SampleFile-KMS.txt' }))
    t.equal(await got.Body!.transformToString(), 'hello kms')
    s3.destroy()
  }
  const readers = await eventually(async () => {
    await worker.pollReaders()
    const list = await worker.store.readers(BUCKET, 'SampleFile-KMS.txt')
    return list.length >= 2 ? list : undefined
  }, 'two readers', 20_000)
  const downloader = readers.find((r) => 'roleName' in r && r.roleName === 'kms-share-downloader')
  const workshop = readers.find((r) => 'roleName' in r && r.roleName === 'KMSWorkshop-InstaceInitRole')
  t.match(downloader, { outcome: 'ok', viaS3: true, unexpected: false, principal: lab.callerFor('downloader').principal.arn, signature: 'valid' })
  t.match(workshop, { outcome: 'ok', viaS3: true, unexpected: true, signature: 'valid' })
  const verdict = await worker.store.getVerdict(BUCKET, 'SampleFile-KMS.txt')
  t.same(verdict!.flags, ['READ_BY_OTHER_ROLE'], 'and the verdict says so')
  // Polling again adds nothing: one reader per CloudTrail event.
  await worker.pollReaders()
  t.equal((await worker.store.readers(BUCKET, 'SampleFile-KMS.txt')).length, readers.length)
})

t.test('LookupEvents stayed within AWS limits: counted calls, the lab answered without a throttle', async (t) => {
  const stats = await worker.store.stats()
  t.ok(stats.lookup_calls > 0)
  t.equal(stats.lookup_throttles ?? 0, 0)
})
