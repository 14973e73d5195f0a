// IAM through the SDK: managed policy versions taking effect at once, validation, limits, users,
// roles, access keys and virtual MFA devices.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-versioning.html
import t from 'tap'
import {
  AttachRolePolicyCommand,
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  CreateVirtualMFADeviceCommand,
  DeletePolicyVersionCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListMFADevicesCommand,
  ListPolicyVersionsCommand,
  ListVirtualMFADevicesCommand,
  PutRolePolicyCommand,
  SetDefaultPolicyVersionCommand,
} from '@aws-sdk/client-iam'
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const iam = new IAMClient(lab.clientConfig('admin'))
const POLICY_ARN = 'arn:aws:iam::111122223333:policy/KMS-Workshop-EncDecPermissions'
const doc = (actions: string[]) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] })

t.test('a new default version of EncDecPermissions takes effect at once, and rolling back restores it', async (t) => {
  const admin = new KMSClient(lab.clientConfig('admin'))
  const keyId = (await admin.send(new CreateKeyCommand({ Description: 'iam versions test' }))).KeyMetadata!.KeyId!
  const workshop = new KMSClient(lab.clientConfig('workshop'))
  const blob = (await workshop.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('secret') }))).CiphertextBlob!
  t.equal(Buffer.from((await workshop.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'secret')

  const versions = await iam.send(new ListPolicyVersionsCommand({ PolicyArn: POLICY_ARN }))
  t.same(versions.Versions!.map((v) => [v.VersionId, v.IsDefaultVersion]), [['v1', true]])
  const v1 = await iam.send(new GetPolicyVersionCommand({ PolicyArn: POLICY_ARN, VersionId: 'v1' }))
  const v1Doc = JSON.parse(decodeURIComponent(v1.PolicyVersion!.Document!))
  t.ok(v1Doc.Statement[0].Action.includes('kms:Decrypt'))

  const withoutDecrypt = v1Doc.Statement[0].Action.filter((a: string) => a !== 'kms:Decrypt')
  const created = await iam.send(new CreatePolicyVersionCommand({ PolicyArn: POLICY_ARN, PolicyDocument: doc(withoutDecrypt), SetAsDefault: true }))
  t.equal(created.PolicyVersion!.VersionId, 'v2')
  t.equal(created.PolicyVersion!.IsDefaultVersion, true)

  await t.rejects(workshop.send(new DecryptCommand({ CiphertextBlob: blob })), {
    name: 'AccessDeniedException',
    message: `User: arn:aws:sts::111122223333:assumed-role/KMSWorkshop-InstaceInitRole/i-0workshop1a2b3c4d5 is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:111122223333:key/${keyId} because no identity-based policy allows the kms:Decrypt action`,
    $metadata: { httpStatusCode: 400 },
  })
  // Encrypting needs no kms:Decrypt, so it still works.
  await workshop.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('more') }))

  await iam.send(new SetDefaultPolicyVersionCommand({ PolicyArn: POLICY_ARN, VersionId: 'v1' }))
  t.equal(Buffer.from((await workshop.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'secret')
  await t.rejects(iam.send(new DeletePolicyVersionCommand({ PolicyArn: POLICY_ARN, VersionId: 'v1' })), { name: 'DeleteConflict' })
  await iam.send(new DeletePolicyVersionCommand({ PolicyArn: POLICY_ARN, VersionId: 'v2' }))
})

t.test('at most five versions; malformed documents refused', async (t) => {
  const arn = (await iam.send(new CreatePolicyCommand({ PolicyName: 'five-versions', PolicyDocument: doc(['kms:List*']) }))).Policy!.Arn!
  for (let i = 2; i <= 5; i++) await iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: doc(['kms:List*']) }))
  await t.rejects(iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: doc(['kms:List*']) })), { name: 'LimitExceeded', $metadata: { httpStatusCode: 409 } })
  await t.rejects(iam.send(new CreatePolicyCommand({ PolicyName: 'broken', PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",}]}' })), {
    name: 'MalformedPolicyDocument',
    $metadata: { httpStatusCode: 400 },
  })
  await t.rejects(iam.send(new CreatePolicyCommand({ PolicyName: 'five-versions', PolicyDocument: doc(['kms:List*']) })), { name: 'EntityAlreadyExists' })
})

t.test('roles: create, inline and attached policies, trust policy URL-encoded as AWS returns it', async (t) => {
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] })
  const role = await iam.send(new CreateRoleCommand({ RoleName: 'test-role', AssumeRolePolicyDocument: trust }))
  t.equal(role.Role!.Arn, 'arn:aws:iam::111122223333:role/test-role')
  t.match(role.Role!.RoleId, /^AROA/)
  const got = await iam.send(new GetRoleCommand({ RoleName: 'test-role' }))
  t.same(JSON.parse(decodeURIComponent(got.Role!.AssumeRolePolicyDocument!)), JSON.parse(trust))
  await iam.send(new PutRolePolicyCommand({ RoleName: 'test-role', PolicyName: 'inline', PolicyDocument: doc(['s3:ListBucket']) }))
  t.same(JSON.parse(decodeURIComponent((await iam.send(new GetRolePolicyCommand({ RoleName: 'test-role', PolicyName: 'inline' }))).PolicyDocument!)).Statement[0].Action, ['s3:ListBucket'])
  await iam.send(new AttachRolePolicyCommand({ RoleName: 'test-role', PolicyArn: POLICY_ARN }))
  t.same((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'test-role' }))).AttachedPolicies, [{ PolicyName: 'KMS-Workshop-EncDecPermissions', PolicyArn: POLICY_ARN }])
  await t.rejects(iam.send(new DeleteRoleCommand({ RoleName: 'test-role' })), { name: 'DeleteConflict' })
  await iam.send(new DetachRolePolicyCommand({ RoleName: 'test-role', PolicyArn: POLICY_ARN }))
  t.same((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'test-role' }))).AttachedPolicies, [], 'an empty list, not a missing one')
  await iam.send(new DeleteRolePolicyCommand({ RoleName: 'test-role', PolicyName: 'inline' }))
  await iam.send(new DeleteRoleCommand({ RoleName: 'test-role' }))
  await t.rejects(iam.send(new GetRoleCommand({ RoleName: 'test-role' })), { name: 'NoSuchEntity', $metadata: { httpStatusCode: 404 } })
})

t.test('users and access keys: a new key signs at once; non-admins are denied IAM', async (t) => {
  await iam.send(new CreateUserCommand({ UserName: 'carol' }))
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'carol' }))).AccessKey!
  t.match(key.AccessKeyId, /^AKIA[A-Z2-7]{16}$/)
  const carol = new STSClient({ region: lab.region, endpoint: lab.endpoint, maxAttempts: 1, credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! } })
  t.equal((await carol.send(new GetCallerIdentityCommand({}))).Arn, 'arn:aws:iam::111122223333:user/carol')
  const asWorkshop = new IAMClient(lab.clientConfig('workshop'))
  await t.rejects(asWorkshop.send(new CreateUserCommand({ UserName: 'mallory' })), {
    name: 'AccessDenied',
    message: 'User: arn:aws:sts::111122223333:assumed-role/KMSWorkshop-InstaceInitRole/i-0workshop1a2b3c4d5 is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::111122223333:user/mallory because no identity-based policy allows the iam:CreateUser action',
    $metadata: { httpStatusCode: 403 },
  })
})

t.test('virtual MFA devices: the seed enabled userA\'s; new ones start unassigned', async (t) => {
  const devices = await iam.send(new ListMFADevicesCommand({ UserName: 'userA' }))
  t.same(devices.MFADevices!.map((d) => d.SerialNumber), ['arn:aws:iam::111122223333:mfa/userA'])
  const created = await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: 'spare' }))
  t.match(Buffer.from(created.VirtualMFADevice!.Base32StringSeed!).toString(), /^[A-Z2-7]{32}$/)
  const unassigned = await iam.send(new ListVirtualMFADevicesCommand({ AssignmentStatus: 'Unassigned' }))
  t.same(unassigned.VirtualMFADevices!.map((d) => d.SerialNumber), ['arn:aws:iam::111122223333:mfa/spare'])
})
