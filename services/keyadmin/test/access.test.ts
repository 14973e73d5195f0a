// GET /keys/:key/access for the seed's key before and after separation-of-duties: who may use or
// administer it, under which conditions, and the separation-of-duties findings. The key starts from
// AWS's default policy (the workshop's starting point); the stack's own key is in least-privilege.test.ts.
import t from 'tap'
import { ACCOUNT, enc, getAs, putAs, startKeyadmin, startTestLab } from './helpers.js'
import { labDeployment } from '@kms-share/aws-lab/testing'

const lab = await startTestLab(t, { defaultKeyPolicy: true })
const svc = await startKeyadmin(t, lab)
const KEY = enc('alias/ImportedCMK')
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`

async function matrix() {
  const res = await svc.call('GET', `/keys/${KEY}/access`)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  const cell = (principal: string, action: string) => {
    const p = res.body.principals.find((x: any) => x.principal === principal)
    if (!p) throw new Error(`no row for ${principal}`)
    return p.actions.find((a: any) => a.action === action)
  }
  const access = (principal: string, action: string) => {
    const c = cell(principal, action)
    return c.access === 'conditional' ? `conditional: ${c.conditions.join('; ')}` : c.access
  }
  return { body: res.body, cell, access }
}

t.test('the seed key under its default policy: IAM policies decide', async (t) => {
  const m = await matrix()
  t.same(m.body.principals.map((p: any) => p.principal).sort(), [
    `arn:aws:iam::${ACCOUNT}:root`, role('KMSWorkshop-InstaceInitRole'), role('kms-share-auditor'), role('kms-share-downloader'),
    role('kms-share-keyadmin'), role('kms-share-uploader'), user('admin'), user('userA'),
  ].sort(), 'every role and user of the account and the root; no * (the policy does not name it)')
  t.equal(m.access(role('kms-share-uploader'), 'kms:GenerateDataKey'), 'always')
  t.equal(m.access(role('kms-share-uploader'), 'kms:Decrypt'), 'conditional: only through S3', "the uploader's IAM policy: kms:ViaService")
  t.equal(m.access(role('kms-share-uploader'), 'kms:Encrypt'), 'never')
  t.equal(m.access(role('kms-share-downloader'), 'kms:Decrypt'), 'always')
  t.equal(m.access(role('kms-share-downloader'), 'kms:GenerateDataKey'), 'never')
  for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom']) {
    t.equal(m.access(role('kms-share-keyadmin'), action), 'never', `keyadmin never ${action}`)
  }
  t.equal(m.access(role('kms-share-keyadmin'), 'kms:PutKeyPolicy'), 'never', "keyadmin's role holds no sensitive operation")
  t.equal(m.cell(role('kms-share-keyadmin'), 'kms:PutKeyPolicy').deniedBy, 'identity-based policy')
  t.equal(m.access(user('userA'), 'kms:PutKeyPolicy'), 'conditional: only with MFA', "the MFA key administrator's IAM policy")
  t.equal(m.access(role('kms-share-auditor'), 'kms:Decrypt'), 'never')
  const decide = m.cell(role('kms-share-downloader'), 'kms:Decrypt').statements
  t.ok(decide.some((s: any) => s.sid === 'Decrypt' && s.kind === 'identity'), 'the deciding IAM statement is named')
  t.ok(decide.some((s: any) => s.kind === 'resource'), 'and the key policy statement that delegates')
  t.equal(m.cell(role('kms-share-keyadmin'), 'kms:Decrypt').deniedBy, 'identity-based policy')

  const codes = m.body.findings.map((f: any) => `${f.code} ${f.principal}`).sort()
  t.same(codes, [
    `ADMINISTER_AND_USE ${user('admin')}`,
    `ENCRYPT_AND_DECRYPT_OUTSIDE_S3 ${role('KMSWorkshop-InstaceInitRole')}`,
    `ENCRYPT_AND_DECRYPT_OUTSIDE_S3 ${user('admin')}`,
  ])
})

t.test('after separation-of-duties: use only through S3 for the bucket; administrators never use', async (t) => {
  const rendered = await svc.call('POST', '/policy-templates/separation-of-duties', {})
  const put = await svc.sensitive('PUT', `/keys/${KEY}/policy`, { policy: rendered.body.policy })
  t.equal(put.status, 200, JSON.stringify(put.body))
  const m = await matrix()
  const throughS3 = 'conditional: only through S3, for kmsworkshop-111122223333\'s objects'
  t.equal(m.access(role('kms-share-uploader'), 'kms:GenerateDataKey'), throughS3)
  t.equal(m.access(role('kms-share-uploader'), 'kms:Decrypt'), throughS3)
  t.equal(m.access(role('kms-share-downloader'), 'kms:Decrypt'), throughS3, 'the downloader lost direct Decrypt')
  t.ok(m.cell(role('kms-share-downloader'), 'kms:Decrypt').statements.some((s: any) => s.sid === 'DownloaderDecryptThroughS3'))
  for (const principal of [role('kms-share-keyadmin'), role('kms-share-auditor'), user('admin'), user('userA'), role('KMSWorkshop-InstaceInitRole'), `arn:aws:iam::${ACCOUNT}:root`]) {
    for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:ReEncryptTo']) t.equal(m.access(principal, action), 'never', `${principal} ${action}`)
  }
  t.same(m.body.usableBy.map((u: any) => u.principal).sort(), [role('kms-share-downloader'), role('kms-share-uploader')], 'only the services use the key')
  t.equal(m.access(role('kms-share-keyadmin'), 'kms:PutKeyPolicy'), 'never')
  t.equal(m.access(user('userA'), 'kms:PutKeyPolicy'), 'conditional: only with MFA')
  t.equal(m.access(role('kms-share-keyadmin'), 'kms:CreateGrant'), 'never', 'no grants: they would hand out use')
  t.equal(m.access(role('kms-share-keyadmin'), 'kms:TagResource'), 'always', 'everyday administration needs no MFA')
  t.same(m.body.findings, [], 'no separation-of-duties findings')

  // And it holds in practice: the services still work through S3.
  await putAs(lab, 'uploader', 'access/after.txt', 'after separation of duties', labDeployment(lab).keyArn)
  t.equal(await getAs(lab, 'downloader', 'access/after.txt'), 'after separation of duties')
})

t.test('conditions: MFA for users and VPC endpoints named by the policy; * where the policy names it', async (t) => {
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'AnyoneThroughEndpoint', Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-0123456789abcdef0', 'kms:CallerAccount': ACCOUNT } } },
      { Sid: 'MfaForSensitive', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:ScheduleKeyDeletion', Resource: '*', Condition: { BoolIfExists: { 'aws:MultiFactorAuthPresent': 'false' } } },
    ],
  })
  const put = await svc.sensitive('PUT', `/keys/${KEY}/policy`, { policy })
  t.equal(put.status, 200, JSON.stringify(put.body.code))
  const m = await matrix()
  t.equal(m.access('*', 'kms:Encrypt'), 'conditional: only through vpce-0123456789abcdef0')
  t.equal(m.access('*', 'kms:Decrypt'), 'never')
  t.equal(m.access(user('userA'), 'kms:ScheduleKeyDeletion'), 'conditional: only with MFA')
  t.equal(m.access(role('kms-share-keyadmin'), 'kms:ScheduleKeyDeletion'), 'never', 'roles have no MFA sessions here')
  t.equal(m.cell(role('kms-share-keyadmin'), 'kms:ScheduleKeyDeletion').deniedBy, 'resource-based policy')
})
