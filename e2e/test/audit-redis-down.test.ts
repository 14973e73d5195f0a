// Redis stopped during a burst of 50 uploads: every upload still answers 201 ("audit": "pending"),
// and once Redis is back (same append-only file) a sweep gives all 50 their verdict, while the
// verdicts from before the stop are still there.
import t from 'tap'
import { BUCKET, eventually, startRedis, startTestLab, startUpload, startWorker } from './audit-helpers.js'

const lab = await startTestLab(t)
const redis = await startRedis(t)
const worker = await startWorker(t, lab, redis)
const upload = await startUpload(t, lab, redis)

t.test('uploads go on without Redis, and the sweep audits them once it is back', async (t) => {
  const before = await upload.put('before-the-stop.txt', 'queued normally')
  t.equal(before.json.audit, 'queued')
  await eventually(async () => (await worker.store.getVerdict(BUCKET, 'before-the-stop.txt')) ?? undefined, 'the first verdict', 20_000)

  await redis.stop()
  const keys = Array.from({ length: 50 }, (_, i) => `burst/file-${String(i).padStart(2, '0')}.txt`)
  const started = Date.now()
  const answers = await Promise.all(keys.map((key) => upload.put(key, `body of ${key}`)))
  t.same(answers.map((a) => a.status), keys.map(() => 201), 'all 50 answer 201')
  t.same(answers.map((a) => a.json.audit), keys.map(() => 'pending'), 'each says its audit is pending')
  t.ok(Date.now() - started < 15_000, `the burst was not held up by Redis (${Date.now() - started} ms)`)

  await redis.start()
  // The producer comes back by itself.
  const after = await eventually(async () => {
    const put = await upload.put(`after-${Date.now()}.txt`, 'queued again')
    return put.json.audit === 'queued' ? put : undefined
  }, 'an upload queued again', 20_000)
  t.equal(after.status, 201)

  const added = await eventually(async () => worker.sweep().catch(() => undefined), 'a sweep', 20_000)
  t.ok(added >= 50, `the sweep enqueued the ${added} objects without a verdict`)
  const records = await eventually(async () => {
    const found = await Promise.all(keys.map((key) => worker.store.getVerdict(BUCKET, key)))
    return found.every(Boolean) ? found : undefined
  }, '50 verdicts', 60_000)
  t.same(records.map((r) => r!.verdict), keys.map(() => 'VERIFIED'), records.filter((r) => r!.verdict !== 'VERIFIED').map((r) => r!.reasons.join('; ')).join('\n'))
  t.same(records.map((r) => r!.source), keys.map(() => 'sweep'))
  t.ok(await worker.store.getVerdict(BUCKET, 'before-the-stop.txt'), 'the verdict from before the stop survived the restart')
  // A second sweep has nothing left to do.
  t.equal(await worker.sweep(), 0)
})
