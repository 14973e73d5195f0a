// keyadmin's impact report and a key's objects with their verdicts (issue 25), from the audit's
// results: objects uploaded through the upload service and one under another key found by the sweep;
// the report counts only the key's objects and their bytes, and names CloudTrail's last Decrypt.
import t from 'tap'
import { CreateKeyCommand } from '@aws-sdk/client-kms'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { createKmsClient, createS3Client, formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp, loadConfig } from '@kms-share/keyadmin'
import { BUCKET, eventually, labEnv, startRedis, startTestLab, startUpload, startWorker, withoutBucketPolicy } from './audit-helpers.js'

const lab = await startTestLab(t)
const redis = await startRedis(t)
const worker = await startWorker(t, lab, redis)
const upload = await startUpload(t, lab, redis)

const keysToken = generateToken()
const auditToken = generateToken()
const app = await buildApp(loadConfig({
  ...labEnv(lab, 'keyadmin'), PORT: '0', REDIS_URL: redis.urls.reader, AUDIT_VERIFY_KEY: redis.keys.verifyKey,
  AUTH_TOKENS: [formatTokenEntry('key-person', ['keys:read'], hashToken(keysToken)), formatTokenEntry('auditor-person', ['keys:read', 'audit:read'], hashToken(auditToken))].join(','),
}))
t.teardown(() => app.close())
await app.listen({ host: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const get = async (path: string, token = keysToken) => {
  const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })
  return { status: r.status, body: await r.json() }
}
const KEY = encodeURIComponent('alias/ImportedCMK')

t.test('the impact report counts the objects under the key and names the last Decrypt', async (t) => {
  const bodies = ['a'.repeat(1000), 'b'.repeat(2500), 'c'.repeat(300)]
  for (const [i, body] of bodies.entries()) t.equal((await upload.put(`impact/${i}.txt`, body)).status, 201)
  // One object under another key, which the sweep audits: not this key's.
  const admin = createKmsClient(labEnv(lab, 'admin'))
  const other = (await admin.send(new CreateKeyCommand({ Description: 'another key' }))).KeyMetadata!.Arn!
  admin.destroy()
  const uploader = createS3Client(labEnv(lab, 'uploader'))
  await withoutBucketPolicy(t, lab)
  await uploader.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'other-key.txt', Body: 'other', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: other }))
  uploader.destroy()
  await worker.sweep()
  await eventually(async () => ((await get('/audit/summary', auditToken)).body.total === 4 ? true : undefined), 'four verdicts', 30_000)

  const downloader = createS3Client(labEnv(lab, 'downloader'))
  await (await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'impact/1.txt' }))).Body!.transformToString()
  downloader.destroy()

  const impact = await get(`/keys/${KEY}/impact`)
  t.equal(impact.status, 200, JSON.stringify(impact.body))
  t.same(impact.body.objects, { known: true, count: 3, bytes: 3800, sizeUnknown: 0 })
  t.match(impact.body.lastUse, { eventName: 'Decrypt', name: 'kms-share-downloader', invokedBy: 'fas.s3.amazonaws.com' })
  t.match(impact.body.sentences.delete, /^Deleting this key makes 3 objects \(3\.7 KiB\) in kmsworkshop-111122223333 unreadable, for good; last Decrypt (just now|\d+ seconds? ago) by kms-share-downloader through S3\.$/)
  t.match(impact.body.sentences.disable, /^Disabling this key makes 3 objects .* until it is enabled again; /)

  const otherImpact = await get(`/keys/${encodeURIComponent(other)}/impact`)
  t.match(otherImpact.body.objects, { known: true, count: 1, bytes: 5 })
})

t.test("the key's objects with their verdicts, paged, for audit:read", async (t) => {
  t.equal((await get(`/keys/${KEY}/objects`)).status, 403, 'keys:read alone does not read verdicts')
  const first = await get(`/keys/${KEY}/objects?limit=2`, auditToken)
  t.equal(first.status, 200)
  t.equal(first.body.items.length, 2)
  t.ok(first.body.nextCursor)
  const second = await get(`/keys/${KEY}/objects?limit=2&cursor=${first.body.nextCursor}`, auditToken)
  const items = [...first.body.items, ...second.body.items]
  t.same(items.map((i: any) => i.key).sort(), ['impact/0.txt', 'impact/1.txt', 'impact/2.txt'], "only this key's objects")
  t.ok(items.every((i: any) => i.verdict === 'VERIFIED' && typeof i.size === 'number'), 'each VERIFIED, with its size')
  t.equal(second.body.nextCursor, null)
})
