// GET /keys/:key/access reads the key's grants (ListGrants): a grant allows its grantee the granted
// operations, within its encryption-context constraint, until it is revoked; separation-of-duties
// findings count grants. https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
import { CreateGrantCommand, DecryptCommand, EncryptCommand, RevokeGrantCommand } from '@aws-sdk/client-kms'
import t from 'tap'
import { ACCOUNT, KEY_ALIAS, enc, kmsAs, startKeyadmin, startTestLab } from './helpers.js'

// The lab's administrator makes the grants on the seed key under AWS's default policy (the stack's own key
// denies use to everyone but the services, whatever the grants: least-privilege.test.ts).
const lab = await startTestLab(t, { defaultKeyPolicy: true })
// Reading who may do what is a reader's duty: keys:read alone.
const svc = await startKeyadmin(t, lab, {}, 'keyadmin', { scopes: ['keys:read'] })
const admin = kmsAs(lab, 'admin')
const auditor = kmsAs(lab, 'auditor')
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`
const auditorRole = role('kms-share-auditor')
// CreateGrant and RevokeGrant take a key id or ARN, not an alias (API_CreateGrant.html).
const { keyArn } = (await svc.call('GET', `/keys/${enc(KEY_ALIAS)}/access`)).body
const keyadminRole = role('kms-share-keyadmin')

async function matrix() {
  const res = await svc.call('GET', `/keys/${enc(KEY_ALIAS)}/access`)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  const row = (principal: string) => res.body.principals.find((x: any) => x.principal === principal)
  const cell = (principal: string, action: string) => row(principal)?.actions.find((a: any) => a.action === action)
  const codes = () => res.body.findings.map((f: any) => `${f.code} ${f.principal}`).sort()
  return { body: res.body, row, cell, codes }
}

t.test('a constrained grant shows as a condition on its grantee; revoking it removes it', async (t) => {
  const before = await matrix()
  t.same(before.body.grants, [])
  t.equal(before.cell(auditorRole, 'kms:Decrypt').access, 'never')
  t.notOk(before.cell(auditorRole, 'kms:Decrypt').grants)

  const context = { purpose: 'audit' }
  const grant = await admin.send(new CreateGrantCommand({
    KeyId: keyArn, GranteePrincipal: auditorRole, RetiringPrincipal: keyadminRole, Operations: ['Decrypt', 'DescribeKey'],
    Constraints: { EncryptionContextEquals: context }, Name: 'audit-read',
  }))
  // The grant really works for the auditor, which no policy lets decrypt.
  const blob = (await admin.send(new EncryptCommand({ KeyId: KEY_ALIAS, Plaintext: Buffer.from('s'), EncryptionContext: context }))).CiphertextBlob!
  t.equal(Buffer.from((await auditor.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))).Plaintext!).toString(), 's')

  const m = await matrix()
  const { creationDate, ...listed } = m.body.grants[0]
  t.same([listed], [{ grantId: grant.GrantId, name: 'audit-read', granteePrincipal: auditorRole, retiringPrincipal: keyadminRole, operations: ['Decrypt', 'DescribeKey'], constraints: { EncryptionContextEquals: context } }])
  t.ok(Math.abs(Date.parse(creationDate) - Date.now()) < 60_000, 'with its creation date')
  const decrypt = m.cell(auditorRole, 'kms:Decrypt')
  t.equal(decrypt.access, 'conditional')
  const label = `via grant ${grant.GrantId}, when the encryption context equals {"purpose":"audit"}`
  t.same(decrypt.conditions, [label])
  t.same(decrypt.grants, [{ grantId: grant.GrantId, name: 'audit-read', label, condition: 'when the encryption context equals {"purpose":"audit"}', retiringPrincipal: keyadminRole }])
  t.equal(m.cell(auditorRole, 'kms:Encrypt').access, 'never', 'not a granted operation')
  t.equal(m.cell(role('kms-share-uploader'), 'kms:Decrypt').access, 'conditional', 'other rows unchanged')
  t.notOk(m.cell(role('kms-share-uploader'), 'kms:Decrypt').grants)
  t.notOk(m.codes().some((c: string) => c.endsWith(auditorRole)), 'decrypt only: no finding for the auditor')

  await admin.send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: grant.GrantId }))
  const after = await matrix()
  t.same(after.body.grants, [])
  t.equal(after.cell(auditorRole, 'kms:Decrypt').access, 'never', 'revoked: gone from the matrix')
  t.notOk(after.cell(auditorRole, 'kms:Decrypt').grants)
})

t.test('an unconstrained grant to a principal not in the account gets its own row and findings', async (t) => {
  const partner = 'arn:aws:iam::444455556666:role/partner'
  const g1 = await admin.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: partner, Operations: ['Encrypt', 'Decrypt'] }))
  const g2 = await admin.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: auditorRole, Operations: ['GenerateDataKey', 'CreateGrant'], Constraints: { EncryptionContextSubset: { team: 'audit' } } }))
  const m = await matrix()
  const row = m.row(partner)
  t.equal(row?.kind, 'grantee')
  t.same(row.identityPolicies, [])
  t.equal(m.cell(partner, 'kms:Encrypt').access, 'always')
  t.same(m.cell(partner, 'kms:Encrypt').conditions, [])
  t.equal(m.cell(partner, 'kms:Encrypt').grants[0].label, `via grant ${g1.GrantId}`)
  t.equal(m.cell(partner, 'kms:PutKeyPolicy').access, 'never')
  t.same(m.cell(auditorRole, 'kms:CreateGrant').conditions, [`via grant ${g2.GrantId}, when the encryption context includes {"team":"audit"}`])
  t.same(m.codes().filter((c: string) => c.endsWith(partner) || c.endsWith(auditorRole)), [
    `ADMINISTER_AND_USE ${auditorRole}`,
    `ENCRYPT_AND_DECRYPT_OUTSIDE_S3 ${partner}`,
  ], 'findings count grants')
  for (const g of [g1, g2]) await admin.send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: g.GrantId }))
  const after = await matrix()
  t.equal(after.row(partner), undefined, 'revoked: the grantee row is gone')
  t.same(after.codes().filter((c: string) => c.endsWith(partner) || c.endsWith(auditorRole)), [])
})
