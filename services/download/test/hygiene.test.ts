// Plaintext hygiene: the cache folder is 0700 and its files 0600, and the periodic sweep deletes
// cached plaintext this service may no longer decrypt, with nobody asking for it again.
import t from 'tap'
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { GetKeyPolicyCommand, KMSClient, PutKeyPolicyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms'
import { fromIni } from '@aws-sdk/credential-providers'
import { awsEnv, filePath, KEY_ALIAS, putObject, s3As, scratchDir, startDownload, startTestLab, eventually } from './helpers.js'

const mode = (path: string) => statSync(path).mode & 0o777

t.test('a 0755 cache folder becomes 0700; files and index are 0600', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'private.txt', 'private')
  const dir = join(scratchDir(t), 'cache')
  mkdirSync(dir, { mode: 0o755 })
  chmodSync(dir, 0o755)
  const service = await startDownload(t, lab, 'downloader', { CACHE_DIR: dir, LOG_LEVEL: 'warn' })
  t.equal(mode(dir), 0o700, 'only the service user may list the folder')
  await (await service.api(filePath('private.txt'))).text()
  await service.app.downloader.cache.saveIndex()
  const files = readdirSync(dir)
  t.ok(files.includes('localfile-private.txt'))
  for (const name of files) t.equal(mode(join(dir, name)), 0o600, `${name} is 0600`)
})

// A key policy's explicit deny wins over any allow, and S3 decrypts SSE-KMS objects as the caller:
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
t.test('revoking kms:Decrypt in the key policy removes cached plaintext within one sweep, unasked', async (t) => {
  const lab = await startTestLab(t)
  const writer = s3As(lab, 'admin')
  // Without an S3 Bucket Key every read asks KMS (with one, S3 may reuse a bucket key for a while).
  await putObject(writer, 'swept-1.txt', 'first secret', undefined, false)
  await putObject(writer, 'swept-2.txt', 'second secret', undefined, false)
  const intervalMs = 1000
  const service = await startDownload(t, lab, 'downloader', { CACHE_SWEEP_INTERVAL: `${intervalMs}ms`, LOG_LEVEL: 'warn' })
  const { downloader } = service.app
  const dir = downloader.cache.dir
  for (const key of ['swept-1.txt', 'swept-2.txt']) await (await service.api(filePath(key))).text()
  t.same(readdirSync(dir).filter((n) => n.startsWith('localfile-')).sort(), ['localfile-swept-1.txt', 'localfile-swept-2.txt'])

  // While readable, sweeps revalidate and keep the files.
  const before = downloader.stats.revalidations
  await eventually(() => downloader.stats.revalidations >= before + 4, 'two sweeps', 10_000)
  t.equal(downloader.cache.list().length, 2, 'readable entries survive the sweep')

  const env = awsEnv(lab, 'admin')
  const kms = new KMSClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL, credentials: fromIni({ profile: 'admin', filepath: env.AWS_SHARED_CREDENTIALS_FILE, configFilepath: env.AWS_CONFIG_FILE }) })
  t.teardown(() => kms.destroy())
  const keyId = (await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))).KeyMetadata!.KeyId!
  const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!)
  policy.Statement.push({
    Sid: 'RevokeDownloaderDecrypt',
    Effect: 'Deny',
    Principal: { AWS: `arn:aws:iam::${lab.accountId}:role/kms-share-downloader` },
    Action: 'kms:Decrypt',
    Resource: '*',
  })
  const hitsBefore = downloader.stats.cacheHits
  const fetchesBefore = downloader.stats.s3Fetches
  await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: JSON.stringify(policy) }))
  const revoked = Date.now()

  await eventually(() => readdirSync(dir).filter((n) => n.startsWith('localfile-')).length === 0, 'the plaintext deleted by the sweep', 10_000)
  const took = Date.now() - revoked
  // One interval, plus the revalidation in flight when the policy changed.
  t.ok(took <= 2 * intervalMs + 1500, `plaintext gone ${took} ms after the revocation (sweep every ${intervalMs} ms)`)
  t.same(downloader.cache.list(), [], 'no entries left')
  t.equal(downloader.stats.cacheHits, hitsBefore, 'nobody asked for the files meanwhile')
  t.equal(downloader.stats.s3Fetches, fetchesBefore)

  const denied = await service.api(filePath('swept-1.txt'))
  t.equal(denied.status, 403, 'and a request is refused')
  t.match(await denied.json(), { action: 'kms:Decrypt' })
})

t.test('CACHE_SWEEP_INTERVAL takes milliseconds or a duration; a bad one stops the boot', async (t) => {
  const { durationMs, loadConfig } = await import('../src/config.js')
  t.equal(durationMs('60000'), 60_000)
  t.equal(durationMs('500ms'), 500)
  t.equal(durationMs('30s'), 30_000)
  t.equal(durationMs('5m'), 300_000)
  t.equal(durationMs('1h'), 3_600_000)
  t.equal(loadConfig({ BUCKET: 'b-1' }).CACHE_SWEEP_INTERVAL, '5m', 'default five minutes')
  t.throws(() => loadConfig({ BUCKET: 'b-1', CACHE_SWEEP_INTERVAL: 'often' }), /invalid configuration/)
})
