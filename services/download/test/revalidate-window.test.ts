// CACHE_REVALIDATE_AFTER_MS: within the window since S3 last vouched for a cached file, hits are
// served without asking S3 (no KMS request); after it, the next hit revalidates — so a revoked
// kms:Decrypt ends hits within one window, the trade-off the README documents.
import t from 'tap'
import { DescribeKeyCommand, GetKeyPolicyCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { fromIni } from '@aws-sdk/credential-providers'
import { awsEnv, filePath, KEY_ALIAS, putObject, s3As, startDownload, startTestLab } from './helpers.js'

t.test('hits inside the window skip S3; the first after it revalidates; a revocation lands within one window', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'windowed.txt', 'windowed secret', undefined, false)
  const windowMs = 2000
  const service = await startDownload(t, lab, 'downloader', { CACHE_REVALIDATE_AFTER_MS: String(windowMs), CACHE_SWEEP_INTERVAL: '0', LOG_LEVEL: 'warn' })
  const { stats } = service.app.downloader
  const get = async () => {
    const res = await service.api(filePath('windowed.txt'))
    return { status: res.status, cache: res.headers.get('x-cache'), body: await res.text() }
  }

  t.match(await get(), { status: 200, cache: 'miss', body: 'windowed secret' })
  const checks = stats.revalidations
  for (let i = 0; i < 10; i++) t.match(await get(), { status: 200, cache: 'hit', body: 'windowed secret' })
  t.equal(stats.revalidations, checks, 'ten hits inside the window: no revalidation')

  await new Promise((r) => setTimeout(r, windowMs + 200))
  t.match(await get(), { status: 200, cache: 'hit' })
  t.equal(stats.revalidations, checks + 1, 'the first hit after the window revalidates')
  await get()
  t.equal(stats.revalidations, checks + 1, 'and vouches for another window')

  // Revoke kms:Decrypt for the downloader role in the key policy (an explicit deny wins):
  // https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
  const env = awsEnv(lab, 'admin')
  const kms = new KMSClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL, credentials: fromIni({ profile: 'admin', filepath: env.AWS_SHARED_CREDENTIALS_FILE, configFilepath: env.AWS_CONFIG_FILE }) })
  t.teardown(() => kms.destroy())
  const keyId = (await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))).KeyMetadata!.KeyId!
  const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!)
  policy.Statement.push({ Sid: 'RevokeDownloaderDecrypt', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${lab.accountId}:role/kms-share-downloader` }, Action: 'kms:Decrypt', Resource: '*' })
  await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: JSON.stringify(policy) }))
  const revoked = Date.now()
  const cached = service.app.downloader.cache.lookup('windowed.txt')!
  t.equal(service.app.downloader.cache.inMemory(cached)?.toString(), 'windowed secret', 'a small hit is held in memory')

  // Inside the window the cached copy is still served: the accepted trade-off.
  t.match(await get(), { status: 200, cache: 'hit' }, 'still served inside the window')
  await new Promise((r) => setTimeout(r, windowMs + 200))
  const after = await get()
  t.equal(after.status, 403, `refused ${Date.now() - revoked} ms after the revocation (window ${windowMs} ms)`)
  t.equal(service.app.downloader.cache.lookup('windowed.txt'), undefined, 'and the plaintext removed')
  t.equal(service.app.downloader.cache.inMemory(cached), undefined, 'from memory too')
})
