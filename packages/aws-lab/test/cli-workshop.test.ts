// Issue 3's "Done when", through AWS CLI v2 (/usr/bin/aws) with the lab's generated credentials
// and config files, as a new user following the KMS workshop would. Each policy test uses a fresh key.
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
// https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html (lockout safety check)
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { URI, type TOTP } from 'otpauth'
import { startTestLab } from './helpers/lab.js'

const exec = promisify(execFile)
const lab = await startTestLab(t, { defaultKeyPolicy: true })
// Work files live beside the lab's data (a second t.testdir() call would recreate the same folder).
const dir = join(lab.dataDir, 'cli-work')
mkdirSync(dir)
const FIXTURES = join(import.meta.dirname, '..', '..', 'policy', 'test', 'fixtures', 'seed-policies')

interface CliResult { code: number; stdout: string; stderr: string; json: any }

async function aws(profile: string | Record<string, string>, args: string[]): Promise<CliResult> {
  const env = { ...lab.cliEnv(), ...(typeof profile === 'string' ? { AWS_PROFILE: profile } : { ...profile, AWS_SHARED_CREDENTIALS_FILE: '/dev/null' }) }
  let result: CliResult
  try {
    const { stdout, stderr } = await exec('/usr/bin/aws', ['--endpoint-url', lab.endpoint, '--output', 'json', ...args], { env })
    result = { code: 0, stdout, stderr, json: undefined }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, json: undefined }
  }
  if (/^\s*[[{]/.test(result.stdout)) result.json = JSON.parse(result.stdout)
  return result
}

/** The workshop's policy text with its placeholder account ids filled in, nothing else changed. */
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8').replaceAll('your-acount-id', lab.accountId).replaceAll('your-account-id', lab.accountId)

async function freshKey(description: string): Promise<string> {
  const r = await aws('admin', ['kms', 'create-key', '--description', description])
  if (r.code !== 0) throw new Error(r.stderr)
  return r.json.KeyMetadata.KeyId
}

async function putPolicy(keyId: string, text: string, extra: string[] = []) {
  const file = join(dir, `policy-${keyId}.json`)
  writeFileSync(file, text)
  return aws('admin', ['kms', 'put-key-policy', '--key-id', keyId, '--policy-name', 'default', '--policy', `file://${file}`, ...extra])
}

async function encryptAs(profile: string, keyId: string) {
  const file = join(dir, 'plain.txt')
  writeFileSync(file, 'Hello from the workshop')
  return aws(profile, ['kms', 'encrypt', '--key-id', keyId, '--plaintext', `fileb://${file}`])
}

const deniedSentence = (role: string, session: string, action: string, keyId: string, tail: string) =>
  `User: arn:aws:sts::111122223333:assumed-role/${role}/${session} is not authorized to perform: ${action} on resource: arn:aws:kms:eu-west-1:111122223333:key/${keyId} ${tail}`

t.test('list-aliases shows alias/ImportedCMK with its key of origin EXTERNAL', async (t) => {
  const aliases = await aws('workshop', ['kms', 'list-aliases'])
  t.equal(aliases.code, 0, aliases.stderr)
  const alias = aliases.json.Aliases.find((a: any) => a.AliasName === 'alias/ImportedCMK')
  t.match(alias, { AliasArn: 'arn:aws:kms:eu-west-1:111122223333:alias/ImportedCMK', TargetKeyId: /^[0-9a-f-]{36}$/ })
  const key = await aws('workshop', ['kms', 'describe-key', '--key-id', 'alias/ImportedCMK'])
  t.match(key.json.KeyMetadata, { KeyId: alias.TargetKeyId, Origin: 'EXTERNAL', KeyState: 'Enabled', KeyManager: 'CUSTOMER' })
})

t.test('list-key-policies gives default; get-key-policy the default policy', async (t) => {
  // These two take a key id or ARN only, not an alias, as in AWS.
  const keyId = (await aws('workshop', ['kms', 'describe-key', '--key-id', 'alias/ImportedCMK'])).json.KeyMetadata.KeyId
  const names = await aws('workshop', ['kms', 'list-key-policies', '--key-id', keyId])
  t.same(names.json.PolicyNames, ['default'])
  const policy = await aws('workshop', ['kms', 'get-key-policy', '--key-id', keyId, '--policy-name', 'default'])
  const doc = JSON.parse(policy.json.Policy)
  t.match(doc.Statement, [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }])
})

t.test('encrypt/decrypt round trip; another encryption context → InvalidCiphertextException', async (t) => {
  const plain = join(dir, 'sample.txt')
  writeFileSync(plain, 'SampleFile-KMS contents')
  const enc = await aws('workshop', ['kms', 'encrypt', '--key-id', 'alias/ImportedCMK', '--plaintext', `fileb://${plain}`, '--encryption-context', 'project=workshop', '--query', 'CiphertextBlob', '--output', 'text'])
  t.equal(enc.code, 0, enc.stderr)
  const blobFile = join(dir, 'sample.enc')
  writeFileSync(blobFile, Buffer.from(enc.stdout.trim(), 'base64'))
  const dec = await aws('workshop', ['kms', 'decrypt', '--ciphertext-blob', `fileb://${blobFile}`, '--encryption-context', 'project=workshop', '--query', 'Plaintext', '--output', 'text'])
  t.equal(Buffer.from(dec.stdout.trim(), 'base64').toString(), 'SampleFile-KMS contents')
  const wrong = await aws('workshop', ['kms', 'decrypt', '--ciphertext-blob', `fileb://${blobFile}`, '--encryption-context', 'project=other'])
  t.not(wrong.code, 0)
  t.match(wrong.stderr, /An error occurred \(InvalidCiphertextException\) when calling the Decrypt operation/)
})

t.test('default key policy: the workshop role works through its IAM policy, the downloader cannot encrypt', async (t) => {
  const keyId = await freshKey('default policy')
  t.equal((await putPolicy(keyId, fixture('default-key-policy.json'))).code, 0)
  t.equal((await encryptAs('workshop', keyId)).code, 0)
  const denied = await encryptAs('downloader', keyId)
  t.match(denied.stderr, `(AccessDeniedException) when calling the Encrypt operation: ${deniedSentence('kms-share-downloader', 'i-0download9c8d7e6f5', 'kms:Encrypt', keyId, 'because no identity-based policy allows the kms:Encrypt action')}`)
})

t.test('kms:CallerAccount policy: same-account callers allowed', async (t) => {
  const keyId = await freshKey('caller account')
  const put = await putPolicy(keyId, fixture('account-only-caller-account.json'))
  t.equal(put.code, 0, put.stderr)
  t.equal((await encryptAs('workshop', keyId)).code, 0)
  t.equal((await aws('uploader', ['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256'])).code, 0)
})

t.test('NotPrincipal deny: refused as a lockout, then with the bypass it denies the workshop role\'s own session', async (t) => {
  const keyId = await freshKey('notprincipal')
  const refused = await putPolicy(keyId, fixture('role-only-notprincipal-deny.json'))
  t.not(refused.code, 0)
  t.match(refused.stderr, '(MalformedPolicyDocumentException) when calling the PutKeyPolicy operation: The new key policy will not allow you to update the key policy in the future.')
  const bypassed = await putPolicy(keyId, fixture('role-only-notprincipal-deny.json'), ['--bypass-policy-lockout-safety-check'])
  t.equal(bypassed.code, 0, bypassed.stderr)
  const denied = await encryptAs('workshop', keyId)
  t.match(denied.stderr, `(AccessDeniedException) when calling the Encrypt operation: ${deniedSentence('KMSWorkshop-InstaceInitRole', 'i-0workshop1a2b3c4d5', 'kms:Encrypt', keyId, 'with an explicit deny in a resource-based policy')}`)
  // The administrator is locked out now, as the safety check warned.
  const locked = await putPolicy(keyId, fixture('default-key-policy.json'))
  t.match(locked.stderr, /AccessDeniedException.*with an explicit deny in a resource-based policy/)
})

t.test('aws:SourceVpce policy: generate-data-key outside the endpoint gets the explicit-deny sentence', async (t) => {
  const keyId = await freshKey('vpce only')
  t.equal((await putPolicy(keyId, fixture('vpce-only-data-operations.json'))).code, 0)
  const denied = await aws('workshop', ['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256'])
  t.match(denied.stderr, `(AccessDeniedException) when calling the GenerateDataKey operation: ${deniedSentence('KMSWorkshop-InstaceInitRole', 'i-0workshop1a2b3c4d5', 'kms:GenerateDataKey', keyId, 'with an explicit deny in a resource-based policy')}`)
  // Only the role named in the Deny is affected.
  t.equal((await aws('uploader', ['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256'])).code, 0)
  t.equal((await aws('workshop', ['kms', 'describe-key', '--key-id', keyId])).code, 0, 'describe is not a data operation')
})

t.test('MFA policy: the workshop text is refused; fixed, an MFA session from get-session-token may schedule deletion', async (t) => {
  const keyId = await freshKey('mfa')
  const malformed = await putPolicy(keyId, fixture('mfa-sensitive-operations.json'))
  t.match(malformed.stderr, '(MalformedPolicyDocumentException) when calling the PutKeyPolicy operation')
  const fixed = fixture('mfa-sensitive-operations.json').replace('user/userA",]', 'user/userA"]').replace('aws: MultiFactorAuthAge', 'aws:MultiFactorAuthAge')
  const put = await putPolicy(keyId, fixed)
  t.equal(put.code, 0, put.stderr)

  const totp = URI.parse(readFileSync(join(lab.mfaDir, 'userA.otpauth'), 'utf8').trim()) as TOTP
  const session = await aws('userA', ['sts', 'get-session-token', '--serial-number', 'arn:aws:iam::111122223333:mfa/userA', '--token-code', totp.generate(), '--duration-seconds', '900'])
  t.equal(session.code, 0, session.stderr)
  const c = session.json.Credentials
  const mfaEnv = { AWS_ACCESS_KEY_ID: c.AccessKeyId, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey, AWS_SESSION_TOKEN: c.SessionToken }
  const scheduled = await aws(mfaEnv, ['kms', 'schedule-key-deletion', '--key-id', keyId, '--pending-window-in-days', '7'])
  t.equal(scheduled.code, 0, scheduled.stderr)
  t.equal(scheduled.json.KeyState, 'PendingDeletion')
  const wrong = await aws('userA', ['sts', 'get-session-token', '--serial-number', 'arn:aws:iam::111122223333:mfa/userA', '--token-code', '000000'])
  if (totp.generate() !== '000000') t.match(wrong.stderr, '(AccessDenied) when calling the GetSessionToken operation: MultiFactorAuthentication failed with invalid MFA one time pass code.')
})

t.test('cloudtrail lookup-events finds the calls', async (t) => {
  const found = await aws('auditor', ['cloudtrail', 'lookup-events', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=ScheduleKeyDeletion', '--max-results', '5'])
  t.equal(found.code, 0, found.stderr)
  const record = JSON.parse(found.json.Events[0].CloudTrailEvent)
  t.match(record, { eventName: 'ScheduleKeyDeletion', userIdentity: { type: 'IAMUser', userName: 'userA', sessionContext: { attributes: { mfaAuthenticated: 'true' } } } })
  const denied = await aws('auditor', ['cloudtrail', 'lookup-events', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=GenerateDataKey', '--max-results', '50'])
  t.ok(denied.json.Events.some((e: any) => JSON.parse(e.CloudTrailEvent).errorCode === 'AccessDenied'.concat('Exception')), 'the denied generate-data-key is recorded with its error')
})
