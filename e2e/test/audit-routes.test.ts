// keyadmin's audit API over real HTTP: the object's verdict with the event's encryption context and
// its readers, the paged list, the summary, Prometheus metrics and the queue dashboard — all behind
// keyadmin's authentication (audit:read).
import t from 'tap'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { createS3Client, formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp, loadConfig } from '@kms-share/keyadmin'
import { BUCKET, eventually, labEnv, startRedis, startTestLab, startUpload, startWorker } from './audit-helpers.js'

const lab = await startTestLab(t)
const redis = await startRedis(t)
const worker = await startWorker(t, lab, redis)
const upload = await startUpload(t, lab, redis)

const auditToken = generateToken()
const keysToken = generateToken()
const config = loadConfig({
  ...labEnv(lab, 'keyadmin'),
  PORT: '0',
  REDIS_URL: redis.urls.reader,
  AUDIT_VERIFY_KEY: redis.keys.verifyKey,
  AUTH_TOKENS: [formatTokenEntry('auditor-person', ['audit:read'], hashToken(auditToken)), formatTokenEntry('key-person', ['keys:read'], hashToken(keysToken))].join(','),
})
const app = await buildApp(config)
t.teardown(() => app.close())
await app.listen({ host: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const get = async (path: string, token: string | undefined = auditToken) => {
  const r = await fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {})
  const text = await r.text()
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) }
}

t.test('authentication: 401 without a token, 403 without audit:read, for the API, metrics and dashboard', async (t) => {
  for (const path of ['/audit', '/audit/summary', '/audit/objects/x', '/metrics', '/audit/queues/']) {
    const anonymous = await get(path, '')
    t.equal(anonymous.status, 401, `${path} anonymous`)
    const keysOnly = await get(path, keysToken)
    t.equal(keysOnly.status, 403, `${path} with keys:read only`)
    t.match(keysOnly.type, /application\/problem\+json/)
  }
})

t.test('after an upload and a download: VERIFIED with the encryption context, and the reader', async (t) => {
  t.equal((await upload.put('SampleFile-KMS.txt', 'sample')).json.audit, 'queued')
  const verdict = await eventually(async () => {
    const r = await get('/audit/objects/SampleFile-KMS.txt')
    return r.status === 200 ? r.json() : undefined
  }, 'the verdict over HTTP', 20_000)
  t.equal(verdict.verdict, 'VERIFIED')
  t.same(verdict.event.encryptionContext, { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/SampleFile-KMS.txt` })
  t.same(verdict.readers, [])

  const s3 = createS3Client(labEnv(lab, 'downloader'))
  await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'SampleFile-KMS.txt' }))).Body!.transformToString()
  s3.destroy()
  await worker.pollReaders()
  const after = (await get('/audit/objects/SampleFile-KMS.txt')).json()
  t.equal(after.readers.length, 1)
  t.match(after.readers[0], { roleName: 'kms-share-downloader', viaS3: true, outcome: 'ok', unexpected: false })

  const missing = await get('/audit/objects/never-uploaded.txt')
  t.equal(missing.status, 404)
  t.equal(missing.json().code, 'KADM_AUDIT_NO_VERDICT')
})

t.test('GET /audit filters by verdict and time and pages', async (t) => {
  for (const name of ['a.txt', 'b.txt', 'c.txt']) await upload.put(name, name)
  await eventually(async () => ((await get('/audit?verdict=VERIFIED')).json().total === 4 ? true : undefined), '4 verdicts', 20_000)
  const first = (await get('/audit?limit=3')).json()
  t.equal(first.items.length, 3)
  t.equal(first.total, 4)
  t.ok(first.nextCursor)
  const second = (await get(`/audit?limit=3&cursor=${first.nextCursor}`)).json()
  t.equal(second.items.length, 1)
  t.equal(second.nextCursor, null)
  t.equal(new Set([...first.items, ...second.items].map((i: { key: string }) => i.key)).size, 4)
  t.equal((await get('/audit?verdict=MISMATCH')).json().total, 0)
  t.equal((await get(`/audit?since=${new Date(Date.now() + 60_000).toISOString()}`)).json().total, 0)
  const bad = await get('/audit?verdict=MAYBE')
  t.equal(bad.status, 400)
  t.match(bad.type, /problem\+json/)
})

t.test('summary and Prometheus metrics', async (t) => {
  const summary = (await get('/audit/summary')).json()
  t.match(summary, { bucket: BUCKET, total: 4, byVerdict: { VERIFIED: 4, MISMATCH: 0, UNVERIFIED: 0 }, lookupEvents: { throttles: 0 } })
  t.ok(summary.lookupEvents.calls > 0)
  t.equal(summary.delaySeconds.count, 4)
  t.ok(summary.delaySeconds.p50 >= 0)
  const metrics = await get('/metrics')
  t.equal(metrics.status, 200)
  t.match(metrics.type, /^text\/plain/)
  t.match(metrics.text, /kms_audit_verdicts\{verdict="VERIFIED"\} 4/)
  t.match(metrics.text, /kms_audit_queue_jobs\{state="completed"\} 4/)
  t.match(metrics.text, /# TYPE kms_audit_lookup_events_calls_total counter\nkms_audit_lookup_events_calls_total [1-9]/)
  t.match(metrics.text, /kms_audit_lookup_events_throttles_total 0/)
  t.match(metrics.text, /kms_audit_verdict_delay_seconds\{quantile="0.99"\} /)
})

t.test('the queue dashboard is served to audit:read', async (t) => {
  const page = await get('/audit/queues/')
  t.equal(page.status, 200)
  t.match(page.type, /text\/html/)
  const queues = await get('/audit/queues/api/queues')
  t.equal(queues.status, 200)
  t.match(queues.json(), { queues: [{ name: 'kms-audit', readOnlyMode: true }] })
})

t.test('Redis away: the audit routes answer 503 problem+json, not a hang', async (t) => {
  // Only keyadmin's reads are under test here.
  await worker.close()
  await upload.app.close()
  await redis.stop()
  const started = Date.now()
  const r = await get('/audit/summary')
  t.equal(r.status, 503)
  t.match(r.json(), { code: 'KADM_AUDIT_UNAVAILABLE' })
  t.ok(Date.now() - started < 5_000)
  await redis.start()
})
