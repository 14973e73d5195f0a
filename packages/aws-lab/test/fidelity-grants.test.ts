// KMS grants through the AWS SDK v3 and AWS CLI v2: a grant lets its grantee use the key (within its
// encryption-context constraints) without any policy naming it; revoking or retiring it ends that;
// an explicit deny in the key policy still wins; grant tokens are checked; keyadmin reads grants.
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
// https://docs.aws.amazon.com/kms/latest/developerguide/grant-manage.html (retire and revoke)
// https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import {
  CreateGrantCommand, CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient, ListGrantsCommand, ListRetirableGrantsCommand,
  PutKeyPolicyCommand, RetireGrantCommand, RevokeGrantCommand,
} from '@aws-sdk/client-kms'
import t from 'tap'
import { startTestLab } from './helpers/lab.js'

const exec = promisify(execFile)
const lab = await startTestLab(t)
const kms = (profile: string) => new KMSClient(lab.clientConfig(profile))
const admin = kms('admin')
const auditor = kms('auditor')
const keyadmin = kms('keyadmin')
const auditorRole = `arn:aws:iam::${lab.accountId}:role/kms-share-auditor`
const keyadminRole = `arn:aws:iam::${lab.accountId}:role/kms-share-keyadmin`
const context = { purpose: 'audit' }

async function keyAndBlob() {
  const key = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  const blob = (await admin.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('secret'), EncryptionContext: context }))).CiphertextBlob!
  return { key, blob }
}

t.test('a grant lets its grantee decrypt; its revocation ends it', async (t) => {
  const { key, blob } = await keyAndBlob()
  const denied = { name: 'AccessDeniedException', message: /kms:Decrypt .* because no identity-based policy allows the kms:Decrypt action/ }
  await t.rejects(auditor.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })), denied, 'the auditor has no kms:Decrypt')
  const grant = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'], Constraints: { EncryptionContextEquals: context } }))
  t.match(grant.GrantId, /^[0-9a-f]{64}$/)
  const out = await auditor.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, GrantTokens: [grant.GrantToken!] }))
  t.equal(Buffer.from(out.Plaintext!).toString(), 'secret')
  // The constraint: another context is not covered by the grant.
  const other = (await admin.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x'), EncryptionContext: { purpose: 'other' } }))).CiphertextBlob!
  await t.rejects(auditor.send(new DecryptCommand({ CiphertextBlob: other, EncryptionContext: { purpose: 'other' } })), denied)
  // Encrypt is not one of the grant's operations.
  await t.rejects(auditor.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x'), EncryptionContext: context })), { name: 'AccessDeniedException' })
  // keyadmin (kms:List*) reads the grants, as its access matrix does.
  const listed = await keyadmin.send(new ListGrantsCommand({ KeyId: key.KeyId }))
  t.same(listed.Grants?.map((g) => [g.GrantId, g.GranteePrincipal, g.Operations, g.KeyId, g.IssuingAccount]), [[grant.GrantId, auditorRole, ['Decrypt'], key.Arn, `arn:aws:iam::${lab.accountId}:root`]])
  t.same(listed.Grants?.[0].Constraints, { EncryptionContextEquals: context })
  await admin.send(new RevokeGrantCommand({ KeyId: key.KeyId, GrantId: grant.GrantId }))
  await t.rejects(auditor.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })), denied, 'revoked: denied again')
  t.same((await keyadmin.send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants, [])
  await t.rejects(admin.send(new RevokeGrantCommand({ KeyId: key.KeyId, GrantId: grant.GrantId })), { name: 'NotFoundException' })
})

t.test('an explicit deny in the key policy wins over a grant', async (t) => {
  const { key, blob } = await keyAndBlob()
  await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'] }))
  t.equal(Buffer.from((await auditor.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))).Plaintext!).toString(), 'secret')
  const root = `arn:aws:iam::${lab.accountId}:root`
  await admin.send(new PutKeyPolicyCommand({
    KeyId: key.KeyId,
    PolicyName: 'default',
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [
      { Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:*', Resource: '*' },
      { Effect: 'Deny', Principal: { AWS: auditorRole }, Action: 'kms:Decrypt', Resource: '*' },
    ] }),
  }))
  await t.rejects(auditor.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })), { name: 'AccessDeniedException', message: /with an explicit deny in a resource-based policy/ })
})

t.test('retiring: the retiring principal, or the grantee when RetireGrant is granted; ListRetirableGrants', async (t) => {
  const { key, blob } = await keyAndBlob()
  const grant = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, RetiringPrincipal: keyadminRole, Operations: ['Decrypt'], Name: 'audit-read' }))
  const again = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, RetiringPrincipal: keyadminRole, Operations: ['Decrypt'], Name: 'audit-read' }))
  t.equal(again.GrantId, grant.GrantId, 'same name and parameters: the same grant')
  const retirable = await admin.send(new ListRetirableGrantsCommand({ RetiringPrincipal: keyadminRole }))
  t.ok(retirable.Grants?.some((g) => g.GrantId === grant.GrantId && g.Name === 'audit-read'))
  await t.rejects(auditor.send(new RetireGrantCommand({ GrantToken: grant.GrantToken })), { name: 'AccessDeniedException' }, 'the grantee without RetireGrant may not retire')
  await keyadmin.send(new RetireGrantCommand({ GrantToken: grant.GrantToken }))
  await t.rejects(auditor.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })), { name: 'AccessDeniedException' })
  const self = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt', 'RetireGrant'] }))
  await auditor.send(new RetireGrantCommand({ KeyId: key.Arn, GrantId: self.GrantId }))
  t.same((await admin.send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants, [])
})

t.test('grant tokens and grant input are checked as KMS checks them', async (t) => {
  const { key, blob } = await keyAndBlob()
  await t.rejects(admin.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, GrantTokens: ['made-up'] })), { name: 'InvalidGrantTokenException' })
  await t.rejects(admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Fly' as 'Decrypt'] })), { name: 'ValidationException' })
  await t.rejects(admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: `arn:aws:iam::${lab.accountId}:role/nobody`, Operations: ['Decrypt'] })), { name: 'ValidationException' })
  // CloudTrail records CreateGrant with the grant id, never the token.
  const grant = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'] }))
  const ct = new CloudTrailClient(lab.clientConfig('admin'))
  const events = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateGrant' }] }))).Events!
  const recorded = events.map((e) => JSON.parse(e.CloudTrailEvent!)).find((e) => e.responseElements?.grantId === grant.GrantId)
  t.ok(recorded, 'recorded with its grant id')
  t.notMatch(JSON.stringify(recorded), grant.GrantToken!)
})

t.test('aws kms list-grants (AWS CLI v2) as keyadmin', async (t) => {
  const { key } = await keyAndBlob()
  const grant = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt', 'DescribeKey'] }))
  const { stdout } = await exec('/usr/bin/aws', ['--endpoint-url', lab.endpoint, '--profile', 'keyadmin', '--output', 'json', 'kms', 'list-grants', '--key-id', key.KeyId!], { env: lab.cliEnv(), timeout: 60_000 })
  const grants = JSON.parse(stdout).Grants
  t.same(grants.map((g: { GrantId: string; Operations: string[] }) => [g.GrantId, g.Operations]), [[grant.GrantId, ['Decrypt', 'DescribeKey']]])
})

// https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html (Limit, Marker, NextMarker, Truncated)
t.test('ListGrants pages: Limit, Truncated and a NextMarker that gives the rest; a marker of another listing is refused', async (t) => {
  const { key } = await keyAndBlob()
  const made = []
  for (let i = 0; i < 3; i++) made.push((await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'], Name: `g${i}` }))).GrantId)
  const first = await keyadmin.send(new ListGrantsCommand({ KeyId: key.KeyId, Limit: 2 }))
  t.equal(first.Truncated, true)
  t.equal(first.Grants?.length, 2)
  const rest = await keyadmin.send(new ListGrantsCommand({ KeyId: key.KeyId, Limit: 2, Marker: first.NextMarker }))
  t.equal(rest.Truncated, false)
  t.equal(rest.NextMarker, undefined)
  t.same([...first.Grants!, ...rest.Grants!].map((g) => g.GrantId).sort(), [...made].sort(), 'every grant once')
  await t.rejects(keyadmin.send(new ListGrantsCommand({ KeyId: key.KeyId, Marker: Buffer.from('lab-1').toString('base64') })), { name: 'InvalidMarkerException' })
})
