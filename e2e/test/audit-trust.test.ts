// An audit you can trust, with a real redis-server: the upload service's Redis user may add jobs
// to its queue and nothing else (no verdict written, no readers evidence deleted: NOPERM),
// keyadmin's user only reads, the default user is off; verdicts and readers are signed by the
// worker (Ed25519), so a verdict forged by anyone holding Redis itself shows as TAMPERED; and a
// read by a role other than the downloader is flagged in the signed verdict.
// Redis ACL: https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/
import t from 'tap'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { Redis } from 'ioredis'
import { AUDIT_RESULTS_PREFIX, createS3Client, formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp, loadConfig } from '@kms-share/keyadmin'
import { auditSigner, generateAuditKeys } from '@kms-share/keyadmin/audit/signature'
import { BUCKET, eventually, labEnv, startRedis, startTestLab, startUpload, startWorker } from './audit-helpers.js'

// The workshop's starting key policy (AWS's default): another role can still read, which the verdict must flag.
const lab = await startTestLab(t, { defaultKeyPolicy: true })
const redis = await startRedis(t)
const worker = await startWorker(t, lab, redis)
const upload = await startUpload(t, lab, redis)

const token = generateToken()
const app = await buildApp(loadConfig({
  ...labEnv(lab, 'keyadmin'),
  PORT: '0',
  REDIS_URL: redis.urls.reader,
  AUDIT_VERIFY_KEY: redis.keys.verifyKey,
  AUTH_TOKENS: formatTokenEntry('auditor-person', ['audit:read'], hashToken(token)),
}))
t.teardown(() => app.close())
await app.listen({ host: '127.0.0.1', port: 0 })
const keyadmin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const audit = async (key: string) => (await fetch(`${keyadmin}/audit/objects/${encodeURIComponent(key)}`, { headers: { authorization: `Bearer ${token}` } })).json()

const connect = (url: string) => {
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true })
  r.on('error', () => {})
  t.teardown(() => r.disconnect())
  return r
}
// Redis refuses a command with NOPERM, and one run by a script with "ERR The user executing the script can't run this command".
const refusal = (p: Promise<unknown>) => p.then(() => 'allowed', (err: Error) => (/can't run this command/.test(err.message) ? 'NOPERM' : err.message.split(' ')[0]))
const k = (...parts: string[]) => [AUDIT_RESULTS_PREFIX, ...parts].join(':')

// One object audited and read before the attempts, so there is a verdict and a readers hash to go after.
let verified: NonNullable<Awaited<ReturnType<typeof worker.store.getVerdict>>>
t.test('an upload is audited and its download recorded', async (t) => {
  t.equal((await upload.put('SampleFile-KMS.txt', 'hello kms')).json.audit, 'queued', 'the producer user adds its job')
  verified = await eventually(async () => (await worker.store.getVerdict(BUCKET, 'SampleFile-KMS.txt')) ?? undefined, 'the verdict', 30_000)
  t.equal(verified.verdict, 'VERIFIED')
  const downloader = createS3Client(labEnv(lab, 'downloader'))
  await (await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'SampleFile-KMS.txt' }))).Body!.transformToString()
  downloader.destroy()
  await eventually(async () => {
    await worker.pollReaders()
    return (await worker.store.readers(BUCKET, 'SampleFile-KMS.txt')).length === 1 ? true : undefined
  }, 'the download as a reader', 20_000)
  t.match(await audit('SampleFile-KMS.txt'), { verdict: 'VERIFIED', signature: 'valid', flags: [], reads: { total: 1, byOtherRoles: 0 } }, 'the downloader is an expected reader')
})

t.test("the upload service's Redis user adds jobs and can do nothing else to the audit", async (t) => {
  const asUpload = connect(redis.urls.producer)
  const objectRef = `${BUCKET}/SampleFile-KMS.txt`
  const forged = JSON.stringify({ ...verified, key: 'never-uploaded.txt', verdict: 'VERIFIED' })
  t.equal(await refusal(asUpload.set(k('verdict', `${BUCKET}/never-uploaded.txt`), forged)), 'NOPERM', 'SET a verdict')
  t.equal(await refusal(asUpload.del(k('readers', objectRef))), 'NOPERM', 'DEL the readers evidence')
  t.equal(await refusal(asUpload.hset(k('readers', objectRef), 'x', '{}')), 'NOPERM', 'HSET a reader')
  t.equal(await refusal(asUpload.zadd(k('index', 'VERIFIED'), Date.now(), `${BUCKET}/never-uploaded.txt`)), 'NOPERM', 'ZADD an index entry')
  t.equal(await refusal(asUpload.get(k('verdict', objectRef))), 'NOPERM', 'even reading a verdict')
  t.equal(await refusal(asUpload.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, k('verdict', objectRef), forged)), 'NOPERM', 'a script writing a verdict')
  t.equal(await refusal(asUpload.eval("return redis.call('DEL', KEYS[1])", 1, 'bull:kms-audit:wait')), 'NOPERM', 'a script deleting queued jobs')
  t.equal(await refusal(asUpload.del('bull:kms-audit:wait')), 'NOPERM', 'DEL the queue')
  t.equal(await refusal(asUpload.flushall()), 'NOPERM', 'FLUSHALL')
  t.equal(await refusal(asUpload.keys('*')), 'NOPERM', 'KEYS')
  t.equal(await refusal(asUpload.call('CONFIG', 'SET', 'appendonly', 'no')), 'NOPERM', 'CONFIG SET')
  t.equal(await refusal(asUpload.call('ACL', 'SETUSER', 'kms-audit-producer', '+@all')), 'NOPERM', 'ACL SETUSER')
  t.match(await worker.store.getVerdict(BUCKET, 'SampleFile-KMS.txt'), { verdict: 'VERIFIED', etag: verified.etag, verdictAt: verified.verdictAt }, 'the verdict is untouched')
  t.equal(await worker.store.getVerdict(BUCKET, 'never-uploaded.txt'), null, 'and none was added')
  t.equal((await worker.store.readers(BUCKET, 'SampleFile-KMS.txt')).length, 1, 'the reader is still there')
})

t.test("keyadmin's Redis user reads and cannot write; without a password nothing", async (t) => {
  const asKeyadmin = connect(redis.urls.reader)
  t.match(await asKeyadmin.get(k('verdict', `${BUCKET}/SampleFile-KMS.txt`)), /"sig"/, 'it reads the signed verdict')
  t.equal(await refusal(asKeyadmin.set(k('verdict', `${BUCKET}/x.txt`), '{}')), 'NOPERM', 'SET')
  t.equal(await refusal(asKeyadmin.del(k('readers', `${BUCKET}/SampleFile-KMS.txt`))), 'NOPERM', 'DEL')
  t.equal(await refusal(asKeyadmin.eval("return redis.call('SET', KEYS[1], 'x')", 1, k('verdict', `${BUCKET}/x.txt`))), 'NOPERM', 'a script that writes')
  const anonymous = connect(`redis://127.0.0.1:${redis.port}`)
  t.equal(await refusal(anonymous.get(k('verdict', `${BUCKET}/SampleFile-KMS.txt`))), 'NOAUTH', 'the default user is off')
})

t.test('a verdict the worker did not sign shows as TAMPERED, and the worker audits the object again', async (t) => {
  // Whoever holds Redis itself (here its administrator) can write anything; they cannot sign.
  const attacker = connect(redis.url)
  const record = { ...verified, key: 'never-uploaded.txt', etag: '"forged"' }
  await attacker.set(k('verdict', `${BUCKET}/never-uploaded.txt`), JSON.stringify(record))
  const plain = await audit('never-uploaded.txt')
  t.match(plain, { verdict: 'TAMPERED', signature: 'invalid', reasons: [/not a signed record/], stored: { verdict: 'VERIFIED' } }, 'a plain record')

  const otherKey = auditSigner(generateAuditKeys().signingKey)
  await attacker.set(k('verdict', `${BUCKET}/never-uploaded.txt`), otherKey.seal(record, 'verdict', `${BUCKET}/never-uploaded.txt`))
  t.match(await audit('never-uploaded.txt'), { verdict: 'TAMPERED', reasons: [/signature does not verify with the audit worker's key/] }, 'a record signed with another key')

  // A genuine envelope moved onto another object is caught too: the signature covers the object.
  await attacker.set(k('verdict', `${BUCKET}/never-uploaded.txt`), (await attacker.get(k('verdict', `${BUCKET}/SampleFile-KMS.txt`)))!)
  t.match(await audit('never-uploaded.txt'), { verdict: 'TAMPERED' }, "the uploaded object's own verdict, copied")
  t.equal(await worker.store.getVerdict(BUCKET, 'never-uploaded.txt'), null, 'the worker does not take it as a verdict')
  t.same(await worker.store.verdictEtags(BUCKET, ['never-uploaded.txt', 'SampleFile-KMS.txt']), [null, verified.etag], 'so its sweep would audit that object again')

  // A forged reader among genuine ones is marked, and removed evidence is counted.
  await attacker.hset(k('readers', `${BUCKET}/SampleFile-KMS.txt`), 'fake-event', JSON.stringify({ eventId: 'fake-event', principal: 'nobody' }))
  const withFake = await audit('SampleFile-KMS.txt')
  t.equal(withFake.verdict, 'VERIFIED')
  t.match(withFake.readers.find((r: { eventId: string }) => r.eventId === 'fake-event'), { signature: 'invalid' })
  await attacker.del(k('readers', `${BUCKET}/SampleFile-KMS.txt`))
  t.match(await audit('SampleFile-KMS.txt'), { verdict: 'VERIFIED', readers: [], readersMissing: 1 }, 'the signed verdict counted one reader that is gone')
})

t.test('a read by a role other than the downloader is flagged in the signed verdict', async (t) => {
  t.equal((await upload.put('reports/q4.csv', 'a,b\n1,2\n')).json.audit, 'queued')
  t.equal((await eventually(async () => (await worker.store.getVerdict(BUCKET, 'reports/q4.csv')) ?? undefined, 'the verdict', 30_000)).verdict, 'VERIFIED')
  t.same((await audit('reports/q4.csv')).flags, [], 'no flag before any read')
  // The workshop role may decrypt (its own policy): an ordinary read for S3, not for this share.
  const workshop = createS3Client(labEnv(lab, 'workshop'))
  await (await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'reports/q4.csv' }))).Body!.transformToString()
  workshop.destroy()
  const flagged = await eventually(async () => {
    await worker.pollReaders()
    const view = await audit('reports/q4.csv')
    return view.flags?.length ? view : undefined
  }, 'the flag', 20_000)
  t.equal(flagged.verdict, 'VERIFIED', 'the upload itself was right')
  t.equal(flagged.signature, 'valid', 'and the flag is part of what the worker signed')
  t.same(flagged.flags, ['READ_BY_OTHER_ROLE'])
  t.match(flagged.reads, { total: 1, byOtherRoles: 1, otherReaders: [{ principal: /assumed-role\/KMSWorkshop-InstaceInitRole\//, outcome: 'ok', viaS3: true }] })
})
