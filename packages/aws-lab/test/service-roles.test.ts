// The seed's service roles take their identity policies from @kms-share/policy's SERVICE_ROLES: one
// definition, rendered with the seed's account, region and bucket, read back through IAM as AWS stores it. (A seed that
// makes them itself: seed/without-stacks.yaml; the default seed leaves them to KmsShareIdentity, whose roles
// e2e/test/infra-deploy.test.ts holds to the README and packages/policy.)
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html (PolicyDocument is URL-encoded)
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { TOTP, URI } from 'otpauth'
import { GetRoleCommand, GetRolePolicyCommand, IAMClient, ListRolePoliciesCommand } from '@aws-sdk/client-iam'
import {
  CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DeleteAliasCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand,
  DisableKeyCommand, EnableKeyCommand, GetKeyPolicyCommand, KMSClient, PutKeyPolicyCommand, ScheduleKeyDeletionCommand, UpdateAliasCommand,
} from '@aws-sdk/client-kms'
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts'
import { SERVICE_ROLES } from '@kms-share/policy'
import { startLab } from '../src/app.js'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const lab = await startTestLab(t, WITHOUT_STACKS)
const iam = new IAMClient(lab.clientConfig('admin'))
t.teardown(() => iam.destroy())
const names = { accountId: lab.accountId, region: lab.region, bucket: `kmsworkshop-${lab.accountId}` }

t.test("each service role holds exactly its duty's policy from roles.ts", async (t) => {
  for (const def of SERVICE_ROLES) {
    const role = await iam.send(new GetRoleCommand({ RoleName: def.roleName }))
    t.equal(role.Role?.Description, def.description, `${def.roleName}: description`)
    const listed = await iam.send(new ListRolePoliciesCommand({ RoleName: def.roleName }))
    t.same(listed.PolicyNames, [def.policyName], `${def.roleName}: one inline policy`)
    const got = await iam.send(new GetRolePolicyCommand({ RoleName: def.roleName, PolicyName: def.policyName }))
    t.same(JSON.parse(decodeURIComponent(got.PolicyDocument ?? '')), def.document(names), `${def.roleName}: the definition's document`)
  }
})

t.test('a data folder with a wider role policy gets the definition back at the next start', async (t) => {
  const dataDir = t.testdir()
  const first = await startLab({ dataDir, seedFile: WITHOUT_STACKS.seedFile, port: 0, quiet: true })
  const def = SERVICE_ROLES.find((r) => r.duty === 'keyadmin')!
  const wide = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }
  await first.invoke('iam', 'PutRolePolicy', { RoleName: def.roleName, PolicyName: def.policyName, PolicyDocument: JSON.stringify(wide) }, 'admin')
  await first.close()
  const again = await startLab({ dataDir, seedFile: WITHOUT_STACKS.seedFile, port: 0, quiet: true })
  t.teardown(() => again.close())
  const stored = JSON.parse(again.iam.getInlinePolicy('role', def.roleName, def.policyName))
  t.same(stored, def.document(names), 'kms-share-keyadmin holds its definition again, not kms:*')
})

t.test('a seed role whose name does not match its duty is refused at start', async (t) => {
  await t.rejects(
    startTestLab(t, { ...WITHOUT_STACKS, seed: (text) => text.replace('- name: kms-share-uploader\n    duty: upload', '- name: uploader-renamed\n    duty: upload') }),
    /seed role uploader-renamed has duty upload, whose role is named kms-share-uploader/,
  )
})

// The stack's key (alias/ImportedCMK, separation-of-duties from the seed): keyadmin's own role holds none of
// the sensitive operations and the key policy denies them without MFA, while userA's MFA session may do them.
// https://docs.aws.amazon.com/kms/latest/developerguide/customer-managed-policies.html#iam-policy-example-mfa
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-multifactorauthpresent
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html
const kms = (profile: string) => new KMSClient(lab.clientConfig(profile))
const keyadmin = kms('keyadmin')
const admin = kms('admin')
const role = (name: string) => `arn:aws:iam::${lab.accountId}:role/${name}`
const BUCKET = names.bucket
t.teardown(() => { keyadmin.destroy(); admin.destroy() })

/** Each sensitive operation on `keyId`, as a client would make it (aliases: `alias` on `keyId`, `other` the second key). */
function sensitiveCalls(client: KMSClient, keyId: string, alias: string, other: string): Array<[string, () => Promise<unknown>]> {
  return [
    ['kms:CreateGrant', () => client.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: role('kms-share-auditor'), Operations: ['Decrypt'] }))],
    ['kms:PutKeyPolicy', async () => client.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: (await admin.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy }))],
    ['kms:DisableKey', () => client.send(new DisableKeyCommand({ KeyId: keyId }))],
    ['kms:UpdateAlias', () => client.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: other }))],
    ['kms:DeleteAlias', () => client.send(new DeleteAliasCommand({ AliasName: alias }))],
    ['kms:DeleteImportedKeyMaterial', () => client.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }))],
    ['kms:ScheduleKeyDeletion', () => client.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))],
  ]
}

// An explicit deny in the key policy beats a grant, as in AWS: "No AWS principal has any permissions to a KMS
// key unless that permission is provided explicitly and never denied."
// https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
t.test('a grant of Decrypt made with MFA still leaves the auditor (and the workshop role) unable to read plaintext', async (t) => {
  const s3 = (profile: string) => new S3Client(lab.clientConfig(profile))
  const [uploader, downloader, auditor, workshop] = ['uploader', 'downloader', 'auditor', 'workshop'].map(s3)
  t.teardown(() => [uploader, downloader, auditor, workshop].forEach((c) => c.destroy()))
  await uploader.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'granted.txt', Body: 'plaintext', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
  t.equal(await (await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'granted.txt' }))).Body!.transformToString(), 'plaintext', 'the downloader reads: its duty')

  const mfa = await mfaClient()
  const keyId = (await mfa.send(new DescribeKeyCommand({ KeyId: 'alias/ImportedCMK' }))).KeyMetadata!.KeyId
  for (const grantee of ['kms-share-auditor', 'KMSWorkshop-InstaceInitRole']) {
    await mfa.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: role(grantee), Operations: ['Decrypt', 'Encrypt', 'GenerateDataKey'] }))
  }
  for (const [who, client] of [['kms-share-auditor', auditor], ['KMSWorkshop-InstaceInitRole', workshop]] as const) {
    await t.rejects(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'granted.txt' })), {
      name: 'AccessDenied',
      message: new RegExp(`assumed-role/${who}/.* is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:.* with an explicit deny in a resource-based policy`),
    }, `${who}: the grant does not beat the key policy's deny`)
  }
  const head = await auditor.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'granted.txt' }))
  t.equal(head.ServerSideEncryption, 'aws:kms', "the auditor's duty (HeadObject) still works")
})

t.test("keyadmin's own credentials are refused every sensitive operation; userA's MFA session may do each", async (t) => {
  const stack = (await keyadmin.send(new DescribeKeyCommand({ KeyId: 'alias/ImportedCMK' }))).KeyMetadata!
  const other = (await keyadmin.send(new CreateKeyCommand({ Description: 'second key' }))).KeyMetadata!
  await keyadmin.send(new CreateAliasCommand({ AliasName: 'alias/lp-stack', TargetKeyId: stack.KeyId }))
  await keyadmin.send(new CreateAliasCommand({ AliasName: 'alias/lp-other', TargetKeyId: other.KeyId }))

  for (const [action, call] of sensitiveCalls(keyadmin, stack.KeyId!, 'alias/lp-stack', other.KeyId!)) {
    // The role holds no such action, and the key policy denies it without MFA: both say no.
    await t.rejects(call(), { name: 'AccessDeniedException', message: new RegExp(`assumed-role/kms-share-keyadmin/.* is not authorized to perform: ${action} on resource: arn:aws:kms:`) }, `stack key: ${action}`)
  }
  // A key with AWS's default policy: the role's own policy is what refuses.
  for (const [action, call] of sensitiveCalls(keyadmin, other.KeyId!, 'alias/lp-other', stack.KeyId!)) {
    if (action === 'kms:DeleteImportedKeyMaterial') continue
    await t.rejects(call(), { name: 'AccessDeniedException', message: new RegExp(`is not authorized to perform: ${action} on resource: .* because no identity-based policy allows the ${action} action`) }, `default-policy key: ${action}`)
  }
  t.equal((await keyadmin.send(new DescribeKeyCommand({ KeyId: stack.KeyId }))).KeyMetadata!.KeyState, 'Enabled', 'nothing changed')

  // userA's long-term keys, without MFA: refused too.
  const plainUserA = kms('userA')
  t.teardown(() => plainUserA.destroy())
  await t.rejects(plainUserA.send(new DisableKeyCommand({ KeyId: stack.KeyId })), { name: 'AccessDeniedException', message: /user\/userA is not authorized to perform: kms:DisableKey/ })

  const mfa = await mfaClient()
  for (const [action, call] of sensitiveCalls(mfa, stack.KeyId!, 'alias/lp-stack', other.KeyId!)) {
    await call()
    t.pass(`with MFA: ${action}`)
    // Re-enable between steps: keyadmin may (EnableKey is not sensitive), and the key must be usable for the aliases.
    if (action === 'kms:DisableKey') await keyadmin.send(new EnableKeyCommand({ KeyId: stack.KeyId }))
    if (action === 'kms:UpdateAlias') await mfa.send(new UpdateAliasCommand({ AliasName: 'alias/lp-stack', TargetKeyId: stack.KeyId }))
  }
  t.equal((await keyadmin.send(new DescribeKeyCommand({ KeyId: stack.KeyId }))).KeyMetadata!.KeyState, 'PendingDeletion')
})

const serial = `arn:aws:iam::${lab.accountId}:mfa/userA`
let mfaSession: Promise<KMSClient> | undefined
/** userA's session from STS GetSessionToken with a TOTP code of its virtual device: one code, one session for the file. */
function mfaClient(): Promise<KMSClient> {
  mfaSession ??= newMfaClient()
  return mfaSession
}
async function newMfaClient(): Promise<KMSClient> {
  const totp = URI.parse(readFileSync(join(lab.mfaDir, 'userA.otpauth'), 'utf8').trim()) as TOTP
  const sts = new STSClient(lab.clientConfig('userA'))
  try {
    const c = (await sts.send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: totp.generate(), DurationSeconds: 900 }))).Credentials!
    return new KMSClient({ region: lab.region, endpoint: lab.endpoint, maxAttempts: 1, credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } })
  } finally {
    sts.destroy()
  }
}
