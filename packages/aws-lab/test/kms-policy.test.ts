// Key policies through the real lab with @aws-sdk/client-kms: PutKeyPolicy admission (lockout
// check, bypass, unknown principals, bad JSON), and authorisation as KMS does it — key policy
// required, IAM through the root delegation, context keys, ReEncryptFrom/To, alias ARNs.
// CloudTrail records the calls. A fresh key per test.
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-kms'
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam'
import t from 'tap'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const client = (profile: string) => new KMSClient({ endpoint: lab.endpoint, region: lab.region, credentials: lab.profiles()[profile], maxAttempts: 1 })
const admin = client('admin')
const keyadmin = client('keyadmin')
const workshop = client('workshop')
const downloader = client('downloader')
const uploader = client('uploader')
const ACCOUNT = lab.accountId
const root = `arn:aws:iam::${ACCOUNT}:root`
const adminArn = `arn:aws:iam::${ACCOUNT}:user/admin`
const workshopRole = `arn:aws:iam::${ACCOUNT}:role/KMSWorkshop-InstaceInitRole`
const caller = (profile: string) => lab.callerFor(profile).principal.arn

const policy = (...Statement: object[]) => JSON.stringify({ Version: '2012-10-17', Statement }, null, 2)
const allow = (principal: string, action: string | string[], Condition?: object) => ({ Effect: 'Allow', Principal: { AWS: principal }, Action: action, Resource: '*', ...(Condition ? { Condition } : {}) })

async function newKey(as: KMSClient = admin, input: ConstructorParameters<typeof CreateKeyCommand>[0] = {}) {
  return (await as.send(new CreateKeyCommand(input))).KeyMetadata!
}

t.test('PutKeyPolicy: a policy that would lock the caller out is refused unless the bypass flag is set', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html (BypassPolicyLockoutSafetyCheck)
  // A user whose IAM policy allows key administration (keyadmin's role may not put key policies at all).
  const iam = new IAMClient({ endpoint: lab.endpoint, region: lab.region, credentials: lab.profiles().admin, maxAttempts: 1 })
  t.teardown(() => iam.destroy())
  await iam.send(new CreateUserCommand({ UserName: 'policy-writer' }))
  await iam.send(new PutUserPolicyCommand({ UserName: 'policy-writer', PolicyName: 'kms', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }) }))
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'policy-writer' }))).AccessKey!
  const writer = new KMSClient({ endpoint: lab.endpoint, region: lab.region, credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! }, maxAttempts: 1 })
  t.teardown(() => writer.destroy())
  const md = await newKey(writer)
  const lockout = policy(allow(adminArn, 'kms:*'))
  await t.rejects(writer.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: lockout })), {
    name: 'MalformedPolicyDocumentException',
    message: 'The new key policy will not allow you to update the key policy in the future.',
  })
  t.not((await writer.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, lockout, 'policy unchanged')

  const keepsRoot = policy(allow(root, 'kms:*'))
  await writer.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: keepsRoot }))
  t.equal((await writer.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, keepsRoot, 'stored as given')

  await writer.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: lockout, BypassPolicyLockoutSafetyCheck: true }))
  await t.rejects(writer.send(new GetKeyPolicyCommand({ KeyId: md.KeyId })), {
    name: 'AccessDeniedException',
    message: `User: ${`arn:aws:iam::${ACCOUNT}:user/policy-writer`} is not authorized to perform: kms:GetKeyPolicy on resource: ${md.Arn} because no resource-based policy allows the kms:GetKeyPolicy action`,
  })
  t.equal((await admin.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, lockout, 'the named principal still manages it')
})

t.test('CreateKey with a Policy runs the same admission', async (t) => {
  await t.rejects(admin.send(new CreateKeyCommand({ Policy: policy(allow(workshopRole, 'kms:Encrypt')) })), {
    name: 'MalformedPolicyDocumentException',
    message: 'The new key policy will not allow you to update the key policy in the future.',
  })
  const md = await newKey(admin, { Policy: policy(allow(adminArn, 'kms:*')) })
  t.equal((await admin.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, policy(allow(adminArn, 'kms:*')))
})

t.test('PutKeyPolicy: unknown principals, invalid JSON and other policy names are refused', async (t) => {
  const md = await newKey()
  await t.rejects(admin.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: policy(allow(root, 'kms:*'), allow(`arn:aws:iam::${ACCOUNT}:user/nobody`, 'kms:Decrypt')) })), {
    name: 'MalformedPolicyDocumentException',
    message: 'Policy contains a statement with one or more invalid principals.',
  })
  await t.rejects(admin.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: '{"Version": "2012-10-17", "Statement": [ {"Effect": "Allow",} ' })), {
    name: 'MalformedPolicyDocumentException',
  })
  await t.rejects(admin.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'custom', Policy: policy(allow(root, 'kms:*')) })), { name: 'NotFoundException' })
})

t.test('duties: keyadmin manages but cannot use keys; downloader cannot make data keys; uploader decrypts only through S3', async (t) => {
  const md = await newKey(keyadmin)
  await t.rejects(keyadmin.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') })), {
    name: 'AccessDeniedException',
    message: `User: ${caller('keyadmin')} is not authorized to perform: kms:Encrypt on resource: ${md.Arn} because no identity-based policy allows the kms:Encrypt action`,
  })
  await t.rejects(downloader.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256' })), {
    name: 'AccessDeniedException',
    message: `User: ${caller('downloader')} is not authorized to perform: kms:GenerateDataKey on resource: ${md.Arn} because no identity-based policy allows the kms:GenerateDataKey action`,
  })
  const dataKey = await uploader.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256' }))
  await t.rejects(uploader.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob })), { name: 'AccessDeniedException' }, 'no kms:ViaService, no Decrypt')
  t.equal((await downloader.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }))).Plaintext!.length, 32, 'downloader decrypts')
  const viaS3 = await lab.invoke<any>('kms', 'Decrypt', { CiphertextBlob: Buffer.from(dataKey.CiphertextBlob!).toString('base64') }, 'uploader', { viaService: `s3.${lab.region}.amazonaws.com` })
  t.equal(Buffer.from(viaS3.Plaintext, 'base64').length, 32, 'uploader decrypts when S3 calls on its behalf')
})

t.test('a key policy without the root delegation makes IAM policies irrelevant', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
  const md = await newKey(admin, { Policy: policy(allow(adminArn, 'kms:*')) })
  await t.rejects(workshop.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') })), {
    name: 'AccessDeniedException',
    message: `User: ${caller('workshop')} is not authorized to perform: kms:Encrypt on resource: ${md.Arn} because no resource-based policy allows the kms:Encrypt action`,
  })
})

t.test('kms:EncryptionContext:<key> and kms:RequestAlias conditions in a key policy', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
  const md = await newKey(admin, {
    Policy: policy(
      allow(adminArn, 'kms:*'),
      allow(workshopRole, 'kms:Decrypt', { StringEquals: { 'kms:EncryptionContext:dept': 'finance' } }),
      allow(workshopRole, 'kms:Encrypt', { StringEquals: { 'kms:RequestAlias': 'alias/policy-finance' } }),
    ),
  })
  await admin.send(new CreateAliasCommand({ AliasName: 'alias/policy-finance', TargetKeyId: md.KeyId }))
  const finance = await workshop.send(new EncryptCommand({ KeyId: 'alias/policy-finance', Plaintext: Buffer.from('f'), EncryptionContext: { dept: 'finance' } }))
  await t.rejects(workshop.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('f') })), { name: 'AccessDeniedException' }, 'only through the alias')
  t.equal(Buffer.from((await workshop.send(new DecryptCommand({ CiphertextBlob: finance.CiphertextBlob, EncryptionContext: { dept: 'finance' } }))).Plaintext!).toString(), 'f')
  const sales = await admin.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('s'), EncryptionContext: { dept: 'sales' } }))
  await t.rejects(workshop.send(new DecryptCommand({ CiphertextBlob: sales.CiphertextBlob, EncryptionContext: { dept: 'sales' } })), { name: 'AccessDeniedException' })
})

t.test('ABAC: aws:ResourceTag in a key policy follows the key\'s tags; aws:RequestTag governs tagging', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/abac.html
  const md = await newKey(admin, {
    Policy: policy(
      allow(adminArn, 'kms:*'),
      allow(workshopRole, 'kms:Encrypt', { StringEquals: { 'aws:ResourceTag/project': 'kms-share' } }),
      allow(workshopRole, 'kms:TagResource', { 'StringEquals': { 'aws:RequestTag/owner': 'workshop' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['owner'] } }),
    ),
  })
  await t.rejects(workshop.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') })), { name: 'AccessDeniedException' }, 'untagged')
  await admin.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'project', TagValue: 'kms-share' }] }))
  t.ok((await workshop.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob, 'tagged')
  await admin.send(new UntagResourceCommand({ KeyId: md.KeyId, TagKeys: ['project'] }))
  await t.rejects(workshop.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') })), { name: 'AccessDeniedException' }, 'untagged again')
  await t.rejects(workshop.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'owner', TagValue: 'someone-else' }] })), { name: 'AccessDeniedException' })
  await t.rejects(workshop.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'owner', TagValue: 'workshop' }, { TagKey: 'extra', TagValue: 'x' }] })), { name: 'AccessDeniedException' })
  await workshop.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'owner', TagValue: 'workshop' }] }))
})

t.test('ReEncrypt needs kms:ReEncryptFrom on the source and kms:ReEncryptTo on the destination', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html (Required permissions)
  const source = await newKey()
  const destination = await newKey(admin, {
    Policy: policy(allow(root, 'kms:*'), { Effect: 'Deny', Principal: { AWS: workshopRole }, Action: 'kms:ReEncryptTo', Resource: '*' }),
  })
  const { CiphertextBlob } = await workshop.send(new EncryptCommand({ KeyId: source.KeyId, Plaintext: Buffer.from('r') }))
  await t.rejects(workshop.send(new ReEncryptCommand({ CiphertextBlob, DestinationKeyId: destination.KeyId })), {
    name: 'AccessDeniedException',
    message: `User: ${caller('workshop')} is not authorized to perform: kms:ReEncryptTo on resource: ${destination.Arn} with an explicit deny in a resource-based policy`,
  })
  const other = await newKey()
  t.ok((await workshop.send(new ReEncryptCommand({ CiphertextBlob, DestinationKeyId: other.KeyId }))).CiphertextBlob, 'allowed to an unrestricted key')
})

t.test('CreateAlias needs permission on the alias (IAM) as well as on the key', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html
  const md = await newKey(admin, { Policy: policy(allow(adminArn, 'kms:*'), allow(workshopRole, 'kms:CreateAlias')) })
  await t.rejects(workshop.send(new CreateAliasCommand({ AliasName: 'alias/policy-alias', TargetKeyId: md.KeyId })), {
    name: 'AccessDeniedException',
    message: `User: ${caller('workshop')} is not authorized to perform: kms:CreateAlias on resource: arn:aws:kms:${lab.region}:${ACCOUNT}:alias/policy-alias because no identity-based policy allows the kms:CreateAlias action`,
  })
  const plain = await newKey()
  await t.rejects(keyadmin.send(new CreateAliasCommand({ AliasName: 'alias/policy-alias', TargetKeyId: md.KeyId })), {
    name: 'AccessDeniedException',
    message: `User: ${caller('keyadmin')} is not authorized to perform: kms:CreateAlias on resource: ${md.Arn} because no resource-based policy allows the kms:CreateAlias action`,
  }, 'alias allowed by IAM, key policy does not delegate')
  await keyadmin.send(new CreateAliasCommand({ AliasName: 'alias/policy-alias', TargetKeyId: plain.KeyId }))
})

t.test('an unknown key is NotFoundException even for a caller with no KMS permissions', async (t) => {
  const auditor = client('auditor')
  await t.rejects(auditor.send(new EncryptCommand({ KeyId: '00000000-1111-2222-3333-444444444444', Plaintext: Buffer.from('x') })), { name: 'NotFoundException' })
})

t.test('CloudTrail records GenerateDataKey with the encryption context and never the plaintext', async (t) => {
  const md = await newKey()
  const context = { 'aws:s3:arn': `arn:aws:s3:::kmsworkshop-${ACCOUNT}/trail-test.txt` }
  await uploader.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256', EncryptionContext: context }))
  const trail = new CloudTrailClient({ endpoint: lab.endpoint, region: lab.region, credentials: lab.profiles().admin, maxAttempts: 1 })
  const { Events } = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'GenerateDataKey' }] }))
  const event = Events!.map((e) => JSON.parse(e.CloudTrailEvent!)).find((e) => e.requestParameters?.encryptionContext?.['aws:s3:arn'] === context['aws:s3:arn'])
  t.ok(event, 'event found')
  t.match(event, { eventSource: 'kms.amazonaws.com', readOnly: true, requestParameters: { keyId: md.KeyId, keySpec: 'AES_256', encryptionContext: context } })
  t.notOk(JSON.stringify(event).includes('"plaintext"'), 'no plaintext in the event')
  t.equal(event.userIdentity.arn, caller('uploader'))
})
