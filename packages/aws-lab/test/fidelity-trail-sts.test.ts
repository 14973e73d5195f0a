// CloudTrail and STS details through the AWS SDK v3: the algorithms KMS always records, S3-invoked
// events naming the key by ARN, STS responseElements as AWS records them, and MFA codes taken once.
// https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html ("always includes the encryptionAlgorithm")
// https://docs.aws.amazon.com/kms/latest/developerguide/ct-reencrypt.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html (STS entries)
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_checking-status.html
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { URI, type TOTP } from 'otpauth'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import { CreateKeyCommand, CreateAliasCommand, DecryptCommand, EncryptCommand, KMSClient, ReEncryptCommand } from '@aws-sdk/client-kms'
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { AssumeRoleCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts'
import t from 'tap'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const lab = await startTestLab(t, WITHOUT_STACKS)
const admin = new KMSClient(lab.clientConfig('admin'))
// LookupEvents allows 2 calls a second: the SDK's retries wait out ThrottlingException.
const trail = new CloudTrailClient(lab.clientConfig('admin', { maxAttempts: 10 }))
const totp = URI.parse(readFileSync(join(lab.mfaDir, 'userA.otpauth'), 'utf8').trim()) as TOTP
const serial = `arn:aws:iam::${lab.accountId}:mfa/userA`

async function events(name: string): Promise<any[]> {
  const out = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }] }))
  return (out.Events ?? []).map((e) => JSON.parse(e.CloudTrailEvent!))
}

t.test('Encrypt, Decrypt and ReEncrypt record their algorithms even when the request named none', async (t) => {
  const a = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  const b = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  const blob = (await admin.send(new EncryptCommand({ KeyId: a.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob!
  await admin.send(new DecryptCommand({ CiphertextBlob: blob }))
  await admin.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: b.KeyId }))
  t.equal((await events('Encrypt'))[0].requestParameters.encryptionAlgorithm, 'SYMMETRIC_DEFAULT')
  t.equal((await events('Decrypt'))[0].requestParameters.encryptionAlgorithm, 'SYMMETRIC_DEFAULT')
  const re = (await events('ReEncrypt'))[0]
  t.equal(re.requestParameters.sourceEncryptionAlgorithm, 'SYMMETRIC_DEFAULT')
  t.equal(re.requestParameters.destinationEncryptionAlgorithm, 'SYMMETRIC_DEFAULT')
  t.equal(re.requestParameters.destinationKeyId, b.KeyId)
  t.same(re.resources.map((r: { ARN: string }) => r.ARN), [a.Arn, b.Arn], 'source then destination key')
})

t.test('S3-invoked GenerateDataKey names the key by ARN, with S3 as source and user agent', async (t) => {
  const key = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  await admin.send(new CreateAliasCommand({ AliasName: 'alias/trail-test', TargetKeyId: key.KeyId }))
  const s3 = new S3Client(lab.clientConfig('admin'))
  await s3.send(new PutObjectCommand({ Bucket: `kmsworkshop-${lab.accountId}`, Key: 'trail.txt', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/trail-test' }))
  const event = (await events('GenerateDataKey')).find((e) => e.requestParameters?.encryptionContext?.['aws:s3:arn'] === `arn:aws:s3:::kmsworkshop-${lab.accountId}/trail.txt`)
  t.ok(event, 'recorded')
  t.equal(event.requestParameters.keyId, key.Arn, 'S3 sends the key ARN, whatever the caller wrote')
  t.equal(event.sourceIPAddress, 's3.amazonaws.com')
  t.equal(event.userAgent, 's3.amazonaws.com')
  t.match(event.userIdentity.invokedBy, /s3\.amazonaws\.com$/)
})

t.test('STS responseElements: credentials (key id, session token, expiration) and the assumed-role user, never the secret', async (t) => {
  const sts = new STSClient(lab.clientConfig('admin'))
  const out = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${lab.accountId}:role/kms-share-auditor`, RoleSessionName: 'trail-test' }))
  const event = (await events('AssumeRole')).find((e) => e.requestParameters?.roleSessionName === 'trail-test')
  t.equal(event.responseElements.credentials.accessKeyId, out.Credentials!.AccessKeyId)
  t.equal(event.responseElements.credentials.sessionToken, out.Credentials!.SessionToken)
  t.match(event.responseElements.credentials.expiration, /^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2} (AM|PM)$/)
  t.same(event.responseElements.assumedRoleUser, { assumedRoleId: out.AssumedRoleUser!.AssumedRoleId, arn: out.AssumedRoleUser!.Arn })
  t.notMatch(JSON.stringify(event), out.Credentials!.SecretAccessKey!)
})

t.test('MFA: a used code is refused the second time; a serial that is not the caller\'s gets AWS\'s answer', async (t) => {
  const userA = new STSClient(lab.clientConfig('userA'))
  // The previous window's code: still accepted (±1 window), and never used before in this lab.
  const code = totp.generate({ timestamp: Date.now() - 30_000 })
  const first = await userA.send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: code, DurationSeconds: 900 }))
  t.ok(first.Credentials?.AccessKeyId)
  const gte = (await events('GetSessionToken'))[0]
  t.equal(gte.responseElements.credentials.accessKeyId, first.Credentials!.AccessKeyId, 'GetSessionToken records its credentials too')
  await t.rejects(userA.send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: code, DurationSeconds: 900 })), {
    name: 'AccessDenied',
    message: 'MultiFactorAuthentication failed with invalid MFA one time pass code.',
  })
  const unknown = { name: 'AccessDenied', message: 'MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.' }
  await t.rejects(userA.send(new GetSessionTokenCommand({ SerialNumber: `arn:aws:iam::${lab.accountId}:mfa/nobody`, TokenCode: totp.generate() })), unknown)
  const admin = new STSClient(lab.clientConfig('admin'))
  await t.rejects(admin.send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: totp.generate() })), unknown, "another user's device")
})
