// The stack's key as the seed makes it (separation-of-duties with MFA, the template keyadmin renders):
// keyadmin's access matrix shows that only the services use the key, and only through S3; every
// sensitive route goes through the MFA session and says when a code is needed, wrong or reused; a
// grant made with MFA cannot hand the auditor plaintext, because an explicit deny in the key policy
// wins over a grant. https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html
// ("No AWS principal has any permissions to a KMS key unless that permission is provided explicitly and never denied")
import t from 'tap'
import { MFA_SENSITIVE_ACTIONS } from '@kms-share/policy'
import { ACCOUNT, BUCKET, enc, failure, mfaCode, nextMfaCode, putAs, s3As, startKeyadmin, startTestLab } from './helpers.js'
import { labDeployment } from '@kms-share/aws-lab/testing'
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3'

const lab = await startTestLab(t)
const svc = await startKeyadmin(t, lab)
const plain = await startKeyadmin(t, lab, {}, 'keyadmin', { mfa: false })
const KEY = enc('alias/ImportedCMK')
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`

async function matrix() {
  const res = await svc.call('GET', `/keys/${KEY}/access`)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  const cell = (principal: string, action: string) => res.body.principals.find((p: any) => p.principal === principal)?.actions.find((a: any) => a.action === action)
  return { body: res.body, cell }
}

/** Each sensitive route of keyadmin, as a request (all on the stack's key or an alias of it). */
const sensitiveRoutes: Array<[string, string, string, unknown?]> = [
  ['kms:PutKeyPolicy', 'PUT', `/keys/${KEY}/policy`, 'policy'],
  ['kms:ScheduleKeyDeletion', 'POST', `/keys/${KEY}/deletion`, { pendingWindowInDays: 7 }],
  ['kms:DisableKey', 'POST', `/keys/${KEY}/disable`],
  ['kms:DeleteImportedKeyMaterial', 'DELETE', `/keys/${KEY}/material`],
  ['kms:DeleteAlias', 'DELETE', `/aliases/${enc('alias/lp-stack')}`],
  ['kms:UpdateAlias', 'PUT', `/aliases/${enc('alias/lp-stack')}`, { key: 'alias/ImportedCMK' }],
  ['kms:CreateGrant', 'POST', `/keys/${KEY}/grants`, { granteePrincipal: role('kms-share-auditor'), operations: ['Decrypt'] }],
]

t.test('the stack key\'s policy is the one keyadmin renders from separation-of-duties with its defaults', async (t) => {
  const rendered = await svc.call('POST', '/policy-templates/separation-of-duties', {})
  t.equal(rendered.status, 200, JSON.stringify(rendered.body))
  t.same(JSON.parse((await svc.call('GET', `/keys/${KEY}/policy`)).body.policy), JSON.parse(rendered.body.policy))
})

t.test('the access matrix: only the downloader and the uploader use the key, through S3; the sensitive operations only with MFA', async (t) => {
  const m = await matrix()
  const throughS3 = [`only through S3, for ${BUCKET}'s objects`]
  const byPrincipal = (a: any, b: any) => a.principal.localeCompare(b.principal)
  t.same([...m.body.usableBy].sort(byPrincipal), [
    { principal: role('kms-share-downloader'), actions: [{ action: 'kms:Decrypt', access: 'conditional', conditions: throughS3 }] },
    { principal: role('kms-share-uploader'), actions: [{ action: 'kms:Decrypt', access: 'conditional', conditions: throughS3 }, { action: 'kms:GenerateDataKey', access: 'conditional', conditions: throughS3 }] },
  ], 'nobody else: not keyadmin, the auditor, the workshop role, admin, userA or the root')
  t.notOk(m.body.principals.some((p: any) => p.principal === '*'), 'denies naming * add no row')
  for (const action of MFA_SENSITIVE_ACTIONS) {
    t.equal(m.cell(role('kms-share-keyadmin'), action).access, 'never', `keyadmin's role: ${action}`)
    t.same([m.cell(user('userA'), action).access, m.cell(user('userA'), action).conditions], ['conditional', ['only with MFA']], `userA: ${action} only with MFA`)
    // admin's IAM policy is *: it too could, but only signed in with MFA (and it has no device here).
    t.same([m.cell(user('admin'), action).access, m.cell(user('admin'), action).conditions], ['conditional', ['only with MFA']], `admin: ${action} only with MFA`)
  }
  t.equal(m.cell(role('kms-share-keyadmin'), 'kms:EnableKey').access, 'always', 'everyday administration stays with the role')
  t.same(m.body.findings, [])
})

t.test('every sensitive route needs a code; without the MFA path AWS refuses keyadmin\'s role', async (t) => {
  t.equal((await svc.call('POST', '/aliases', { name: 'alias/lp-stack', key: 'alias/ImportedCMK' })).status, 201, 'creating an alias is everyday work')
  const policy = (await svc.call('GET', `/keys/${KEY}/policy`)).body.policy
  for (const [action, method, path, body] of sensitiveRoutes) {
    const payload = body === 'policy' ? { policy } : body
    const res = await svc.call(method, path, payload)
    t.same([res.status, res.body.code, res.body.action], [403, 'KADM_MFA_REQUIRED', action], `${action}: a code is needed`)
    t.match(res.headers.get('content-type'), /^application\/problem\+json/)
    t.match(res.body.detail, `${action} needs a fresh MFA code in X-MFA-Code`)
    if (action === 'kms:PutKeyPolicy') continue // without MFA keyadmin refuses it first (lockout check, 409)
    const refused = await plain.call(method, path, payload)
    t.same([refused.status, refused.body.code, refused.body.action], [403, 'SHR_AWS_ACCESS_DENIED', action], `${action}: AWS refuses the role itself`)
    t.match(refused.body.detail, new RegExp(`assumed-role/kms-share-keyadmin/.* is not authorized to perform: ${action}`))
  }
  t.equal((await svc.call('GET', `/keys/${KEY}`)).body.state, 'Enabled', 'nothing changed')
})

t.test('a grant of Decrypt to the auditor, made with MFA, gives it nothing: its GetObject is still refused', async (t) => {
  await putAs(lab, 'uploader', 'lp/granted.txt', 'plaintext', labDeployment(lab).keyArn)
  const code = await nextMfaCode(lab)
  const grant = await svc.call('POST', `/keys/${KEY}/grants`, { granteePrincipal: role('kms-share-auditor'), operations: ['Decrypt', 'GenerateDataKey'] }, { 'x-mfa-code': code })
  t.equal(grant.status, 201, JSON.stringify(grant.body))
  t.same(grant.body.deniedByKeyPolicy, ['Decrypt', 'GenerateDataKey'], 'the answer says the key policy denies what was granted')
  t.ok(svc.logs.some((l) => l.msg === 'sensitive operation with an MFA session' && l.action === 'kms:CreateGrant'))

  const auditor = s3As(lab, 'auditor')
  t.teardown(() => auditor.destroy())
  const denied = await failure(auditor.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'lp/granted.txt' })))
  t.equal(denied.name, 'AccessDenied')
  t.match(denied.message, /kms-share-auditor\/.* is not authorized to perform: kms:Decrypt .* with an explicit deny in a resource-based policy/)
  t.equal((await auditor.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'lp/granted.txt' }))).ServerSideEncryption, 'aws:kms', 'its own duty still works')

  const m = await matrix()
  const cell = m.cell(role('kms-share-auditor'), 'kms:Decrypt')
  t.equal(cell.access, 'never')
  t.same(cell.grants.map((g: any) => [g.grantId, g.overriddenByDeny]), [[grant.body.grantId, true]], 'the grant is shown, overridden by the deny')
  t.notOk(m.body.usableBy.some((u: any) => u.principal === role('kms-share-auditor')))

  // The same code again: keyadmin says it was used, before STS does.
  const reused = await svc.call('POST', `/keys/${KEY}/grants`, { granteePrincipal: role('kms-share-auditor'), operations: ['Decrypt'] }, { 'x-mfa-code': code })
  t.same([reused.status, reused.body.code, reused.body.action], [403, 'KADM_MFA_REUSED', 'kms:CreateGrant'])
  t.match(reused.body.detail, /already used for kms:CreateGrant; each code works once: wait for the next code/)
  // A code from another time: STS refuses it.
  const wrong = await svc.call('POST', `/keys/${KEY}/grants`, { granteePrincipal: role('kms-share-auditor'), operations: ['Decrypt'] }, { 'x-mfa-code': mfaCode(lab, 'userA', 40) })
  t.same([wrong.status, wrong.body.code, wrong.body.awsErrorCode], [403, 'KADM_MFA_INVALID', 'AccessDenied'])
  t.match(wrong.body.detail, /wrong, expired, or older than one already used/)

  // Revoking takes access away: keyadmin's own role, no code.
  const revoked = await svc.call('DELETE', `/keys/${KEY}/grants/${grant.body.grantId}`)
  t.equal(revoked.status, 204, JSON.stringify(revoked.body))
  t.same((await matrix()).body.grants, [])
})
