// CloudTrail is late (AWS: typically within about 5 minutes,
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/how-cloudtrail-works.html): with the lab's
// LAB_CLOUDTRAIL_DELAY_SECONDS the worker retries with back-off; VERIFIED once the event shows up,
// UNVERIFIED only after every attempt when it shows up later than the retries reach.
import t from 'tap'
import { BUCKET, eventually, startRedis, startTestLab, startUpload, startWorker } from './audit-helpers.js'

t.test('an event later than the first attempts: retried with back-off, then VERIFIED', async (t) => {
  const lab = await startTestLab(t, { cloudTrailDelaySeconds: 2 })
  const redis = await startRedis(t)
  // 300, 600, 1200, 2400 ms between attempts: the event (2 s late) is found on a later one.
  const worker = await startWorker(t, lab, redis, { AUDIT_ATTEMPTS: '6', AUDIT_BACKOFF_MS: '300' })
  const upload = await startUpload(t, lab, redis, { AUDIT_ATTEMPTS: '6', AUDIT_BACKOFF_MS: '300' })
  t.equal((await upload.put('late.txt', 'late event')).status, 201)
  const record = await eventually(async () => (await worker.store.getVerdict(BUCKET, 'late.txt')) ?? undefined, 'a verdict', 20_000)
  t.equal(record.verdict, 'VERIFIED', record.reasons.join('; '))
  t.ok(record.attempts > 1, `found on attempt ${record.attempts}, not the first`)
})

t.test('an event later than every retry: UNVERIFIED after the last attempt, not before', async (t) => {
  const lab = await startTestLab(t, { cloudTrailDelaySeconds: 30 })
  const redis = await startRedis(t)
  // 3 attempts, 200 + 400 ms apart: all over long before the event is visible.
  const worker = await startWorker(t, lab, redis, { AUDIT_ATTEMPTS: '3', AUDIT_BACKOFF_MS: '200' })
  const upload = await startUpload(t, lab, redis, { AUDIT_ATTEMPTS: '3', AUDIT_BACKOFF_MS: '200' })
  const started = Date.now()
  t.equal((await upload.put('never.txt', 'event too late')).status, 201)
  const record = await eventually(async () => (await worker.store.getVerdict(BUCKET, 'never.txt')) ?? undefined, 'a verdict', 20_000)
  t.equal(record.verdict, 'UNVERIFIED')
  t.equal(record.attempts, 3)
  t.ok(Date.now() - started >= 600, 'after both back-off delays')
  t.equal(record.event, null)
  t.match(record.reasons.join('\n'), new RegExp(`no GenerateDataKey event with aws:s3:arn=arn:aws:s3:::${BUCKET}/never.txt between .* after 3 attempts`))
  // The job completed with its verdict; it is not in the failed set.
  t.equal((await worker.queue.getJobs(['failed'])).length, 0)
})

t.test('a job that keeps failing ends in the failed set with its reason', async (t) => {
  const lab = await startTestLab(t)
  const redis = await startRedis(t)
  // The auditor may HeadObject only in the share's bucket: a job naming another bucket is denied on every attempt.
  const worker = await startWorker(t, lab, redis, { AUDIT_ATTEMPTS: '2', AUDIT_BACKOFF_MS: '100' })
  await worker.queue.add('audit-object', { v: 1, source: 'upload', bucket: 'no-such-bucket-here', key: 'x', etag: '"e"', expectedKeyArn: null, principal: null, bucketKey: false, uploadedAt: new Date().toISOString() }, { jobId: 'bad-bucket', attempts: 2, backoff: { type: 'exponential', delay: 100 } })
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- deliberately not a job: the worker must refuse it
  await worker.queue.add('audit-object', { v: 1, key: 'not a job' } as never, { jobId: 'bad-data', attempts: 5 })
  const failed = await eventually(async () => {
    const jobs = await worker.queue.getJobs(['failed'])
    return jobs.length === 2 ? jobs : undefined
  }, 'two failed jobs', 20_000)
  const bad = failed.find((j) => j.id === 'bad-data')!
  t.match(bad.failedReason, /invalid audit job/)
  t.equal(bad.attemptsMade, 1, 'bad data is not retried')
  const missing = failed.find((j) => j.id === 'bad-bucket')!
  t.equal(missing.attemptsMade, 2, 'retried, then given up')
  t.match(missing.failedReason, /AccessDenied|Forbidden|403/, `reason: ${missing.failedReason}`)
})
