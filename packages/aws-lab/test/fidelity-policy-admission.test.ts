// Policy admission as AWS does it, through the AWS SDK v3 and AWS CLI v2: key policies (CreateKey,
// PutKeyPolicy), IAM identity policies (CreatePolicy, CreatePolicyVersion, PutRolePolicy) and bucket
// policies refuse what AWS refuses — never with the lockout sentence for a malformed document — and
// accept what AWS accepts (a key-policy statement without Action or Resource, unknown condition keys).
// https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { CreatePolicyCommand, CreatePolicyVersionCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam'
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GetKeyPolicyCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3'
import t from 'tap'
import { startTestLab } from './helpers/lab.js'

const exec = promisify(execFile)
const lab = await startTestLab(t)
const kms = (profile: string) => new KMSClient(lab.clientConfig(profile))
const admin = kms('admin')
const iam = new IAMClient(lab.clientConfig('admin'))
const s3 = new S3Client(lab.clientConfig('admin'))
const ACCOUNT = lab.accountId
const root = `arn:aws:iam::${ACCOUNT}:root`
const doc = (...Statement: object[]) => JSON.stringify({ Version: '2012-10-17', Statement })
const rootAdmin = { Sid: 'root', Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:*', Resource: '*' }
const newKey = async () => (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
const LOCKOUT = 'The new key policy will not allow you to update the key policy in the future.'

t.test('a Deny with a mistyped condition operator is refused at put-key-policy (AWS CLI v2), not with the lockout sentence', async (t) => {
  const keyId = await newKey()
  const policy = doc(rootAdmin, { Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringEqualz: { 'aws:SourceVpce': 'vpce-0123456789abcdef0' } } })
  const err = await exec('/usr/bin/aws', ['--endpoint-url', lab.endpoint, '--profile', 'admin', 'kms', 'put-key-policy', '--key-id', keyId, '--policy-name', 'default', '--policy', policy], { env: lab.cliEnv(), timeout: 60_000 }).then(
    () => undefined,
    (e) => e as { stderr: string; code: number },
  )
  t.ok(err, 'the CLI fails')
  t.match(err!.stderr, /MalformedPolicyDocumentException/)
  t.match(err!.stderr, /StringEqualz/)
  t.notMatch(err!.stderr, /will not allow you to update/)
  // The key keeps its old policy.
  t.notMatch((await admin.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!, /StringEqualz/)
})

t.test('key policies: refusals with AWS exceptions and sentences', async (t) => {
  const keyId = await newKey()
  const put = (Policy: string) => admin.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy }))
  // "Each statement in the key policy must contain one or more principals."
  await t.rejects(put(doc(rootAdmin, { Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' })), { name: 'MalformedPolicyDocumentException', message: 'Policy contains a statement with no principal.' })
  await t.rejects(put(doc(rootAdmin, { Effect: 'Allow', Principal: { AWS: [] }, Action: 'kms:Decrypt', Resource: '*' })), { name: 'MalformedPolicyDocumentException', message: 'Policy contains a statement with no principal.' })
  for (const principal of ['', 'arn:aws:iam::your-acount-id:root', 'not-an-arn', `arn:aws:iam::${ACCOUNT}:user/nobody`]) {
    await t.rejects(put(doc(rootAdmin, { Effect: 'Allow', Principal: { AWS: principal }, Action: 'kms:Decrypt', Resource: '*' })), {
      name: 'MalformedPolicyDocumentException',
      message: 'Policy contains a statement with one or more invalid principals.',
    }, `principal ${JSON.stringify(principal)}`)
  }
  await t.rejects(put(doc(rootAdmin, { Effect: 'Allow', Principal: { Foo: root }, Action: 'kms:Decrypt', Resource: '*' })), { name: 'MalformedPolicyDocumentException', message: 'Policy contains a statement with one or more invalid principals.' })
  const bad = await put('{"Version": "2012-10-17", "Statement": [').catch((e) => e)
  t.equal(bad.name, 'MalformedPolicyDocumentException')
  t.not(bad.message, LOCKOUT, 'a malformed document never gets the lockout sentence')
  const effect = await put(doc({ ...rootAdmin, Effect: 'Permit' })).catch((e) => e)
  t.equal(effect.name, 'MalformedPolicyDocumentException')
  t.not(effect.message, LOCKOUT)
  // "A key policy document can include only the following characters": the member's pattern (ValidationException).
  await t.rejects(put(doc({ ...rootAdmin, Sid: 'ключ' })), { name: 'ValidationException', message: /Member must satisfy regular expression pattern: \[\\u0009\\u000A\\u000D\\u0020-\\u00FF\]\+/ })
  // "If the key policy exceeds the length constraint, KMS returns a LimitExceededException."
  await t.rejects(put(doc(rootAdmin, { Sid: 'x'.repeat(33_000), Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:Decrypt', Resource: '*' })), { name: 'LimitExceededException' })
  t.notMatch((await admin.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!, /ключ/)
})

t.test('key policies: AWS accepts a statement without Action or Resource (it has no effect) and unknown condition keys', async (t) => {
  const keyId = await newKey()
  const policy = doc(
    rootAdmin,
    { Sid: 'no-action', Effect: 'Deny', Principal: { AWS: '*' }, Resource: '*' },
    { Sid: 'no-resource', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Encrypt' },
    { Sid: 'unknown-key', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:NoSuchConditionKey': 'x' } } },
  )
  await admin.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy }))
  t.equal((await admin.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy, policy, 'stored as sent')
  // The ineffective Deny statements deny nothing; the root statement still delegates to IAM.
  const blob = (await admin.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('hi') }))).CiphertextBlob!
  t.equal(Buffer.from((await admin.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'hi')
  // CreateKey admits the same way.
  await t.rejects(admin.send(new CreateKeyCommand({ Policy: doc({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }) })), { name: 'MalformedPolicyDocumentException', message: 'Policy contains a statement with no principal.' })
})

t.test('IAM identity policies: CreatePolicy, CreatePolicyVersion and PutRolePolicy refuse as IAM does', async (t) => {
  const withPrincipal = doc({ Effect: 'Allow', Principal: { AWS: root }, Action: 's3:GetObject', Resource: '*' })
  await t.rejects(iam.send(new CreatePolicyCommand({ PolicyName: 'p-principal', PolicyDocument: withPrincipal })), { name: 'MalformedPolicyDocumentException', message: 'Policy document should not specify a principal.' })
  await t.rejects(iam.send(new PutRolePolicyCommand({ RoleName: 'kms-share-uploader', PolicyName: 'x', PolicyDocument: withPrincipal })), { name: 'MalformedPolicyDocumentException', message: 'Policy document should not specify a principal.' })
  await t.rejects(iam.send(new CreatePolicyCommand({ PolicyName: 'p-noaction', PolicyDocument: doc({ Effect: 'Allow', Resource: '*' }) })), { message: 'Policy statement must contain actions.' })
  await t.rejects(iam.send(new CreatePolicyCommand({ PolicyName: 'p-noresource', PolicyDocument: doc({ Effect: 'Allow', Action: 's3:GetObject' }) })), { message: 'Policy statement must contain resources.' })
  await t.rejects(iam.send(new CreatePolicyCommand({ PolicyName: 'p-op', PolicyDocument: doc({ Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: { StringEqualz: { 'aws:SourceVpce': 'vpce-1' } } }) })), { name: 'MalformedPolicyDocumentException' })
  await t.rejects(iam.send(new CreatePolicyCommand({ PolicyName: 'p-big', PolicyDocument: doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: Array.from({ length: 200 }, (_, i) => `arn:aws:s3:::bucket-${i}/${'k'.repeat(20)}`) }) })), { name: 'LimitExceededException', message: 'Cannot exceed quota for PolicySize: 6144' })
  const ok = await iam.send(new CreatePolicyCommand({ PolicyName: 'p-ok', PolicyDocument: doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*', Condition: { StringEquals: { 'aws:NoSuchKey': 'x' } } }) }))
  t.ok(ok.Policy?.Arn, 'an unknown condition key is accepted')
  await t.rejects(iam.send(new CreatePolicyVersionCommand({ PolicyArn: ok.Policy!.Arn, PolicyDocument: withPrincipal })), { message: 'Policy document should not specify a principal.' })
})

t.test('IAM inline policies: a role\'s together at most 10,240 characters, a user\'s 2,048', async (t) => {
  const big = (n: number) => doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: Array.from({ length: n }, (_, i) => `arn:aws:s3:::bucket-${i}/${'k'.repeat(40)}`) })
  await iam.send(new PutRolePolicyCommand({ RoleName: 'kms-share-auditor', PolicyName: 'half', PolicyDocument: big(90) }))
  await t.rejects(iam.send(new PutRolePolicyCommand({ RoleName: 'kms-share-auditor', PolicyName: 'other-half', PolicyDocument: big(90) })), {
    name: 'LimitExceededException',
    message: 'Maximum policy size of 10240 bytes exceeded for role kms-share-auditor',
    $metadata: { httpStatusCode: 409 },
  })
  // Replacing a policy counts its new size only (90 + 140 entries would exceed the quota).
  await iam.send(new PutRolePolicyCommand({ RoleName: 'kms-share-auditor', PolicyName: 'half', PolicyDocument: big(140) }))
  await t.rejects(iam.send(new PutUserPolicyCommand({ UserName: 'userA', PolicyName: 'big', PolicyDocument: big(40) })), { message: 'Maximum policy size of 2048 bytes exceeded for user userA' })
})

t.test('bucket policies: a mistyped condition operator is refused with MalformedPolicy', async (t) => {
  const Bucket = `kmsworkshop-${ACCOUNT}`
  const policy = doc({ Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${Bucket}/*`, Condition: { Bool2: { 'aws:SecureTransport': 'false' } } })
  await t.rejects(s3.send(new PutBucketPolicyCommand({ Bucket, Policy: policy })), { name: 'MalformedPolicy' })
})
