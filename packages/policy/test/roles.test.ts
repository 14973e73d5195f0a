// The service role definitions: one per duty, each a valid identity policy naming only the deployment it is given.
import t from 'tap'
import { KEY_CRYPTO_ACTIONS, MFA_KEY_ADMINISTRATOR, MFA_SENSITIVE_ACTIONS, SERVICE_ROLES, serviceRole, validatePolicy, UnknownDutyError, type Duty } from '../src/index.js'

const NAMES = { accountId: '111122223333', region: 'eu-west-1', bucket: 'kmsworkshop-111122223333' }

t.test('one role per duty, each a valid identity policy without errors or security warnings', async (t) => {
  t.same(SERVICE_ROLES.map((r) => r.duty), ['upload', 'download', 'keyadmin', 'audit'])
  t.same(SERVICE_ROLES.map((r) => r.roleName), ['kms-share-uploader', 'kms-share-downloader', 'kms-share-keyadmin', 'kms-share-auditor'])
  for (const role of SERVICE_ROLES) {
    t.equal(serviceRole(role.duty), role)
    const text = JSON.stringify(role.document(NAMES))
    const findings = validatePolicy(text, { kind: 'identity', accountId: NAMES.accountId })
    t.same(findings.filter((f) => f.severity === 'ERROR' || f.severity === 'SECURITY_WARNING'), [], `${role.roleName}: no errors`)
    t.notMatch(text, /\$\{/, `${role.roleName}: no placeholder left`)
  }
})

t.test('documents name the deployment they are given, in its partition', async (t) => {
  const other = { accountId: '444455556666', region: 'cn-north-1', bucket: 'files-cn', partition: 'aws-cn' }
  const text = JSON.stringify(serviceRole('upload').document(other))
  t.match(text, 'arn:aws-cn:s3:::files-cn/*')
  t.match(text, 'arn:aws-cn:kms:cn-north-1:444455556666:key/*')
  t.match(text, 's3.cn-north-1.amazonaws.com.cn')
  t.notMatch(text, /111122223333|kmsworkshop|eu-west-1|arn:aws:/)
})

t.test('an unknown duty is refused by name', async (t) => {
  t.throws(() => serviceRole('admin' as Duty), UnknownDutyError)
  t.throws(() => serviceRole('admin' as Duty), { code: 'POL_UNKNOWN_DUTY', message: /"admin".*upload, download, keyadmin, audit/ })
})

const actionsOf = (doc: ReturnType<typeof MFA_KEY_ADMINISTRATOR.document>) => doc.Statement.flatMap((st) => st.Action ?? [])

t.test('keyadmin lists its actions one by one: no wildcard, no sensitive operation, no use', async (t) => {
  const actions = actionsOf(serviceRole('keyadmin').document(NAMES))
  t.same(actions.filter((a) => a.includes('*') || a.includes('?')), [], 'no wildcards')
  for (const a of [...MFA_SENSITIVE_ACTIONS, ...KEY_CRYPTO_ACTIONS]) t.notOk(actions.includes(a), `no ${a}`)
  t.ok(actions.includes('kms:TagResource') && actions.includes('kms:CancelKeyDeletion'))
})

t.test('the MFA key administrator: the sensitive operations only with MFA, never use', async (t) => {
  const doc = MFA_KEY_ADMINISTRATOR.document(NAMES)
  const findings = validatePolicy(JSON.stringify(doc), { kind: 'identity', accountId: NAMES.accountId })
  t.same(findings.filter((f) => f.severity === 'ERROR' || f.severity === 'SECURITY_WARNING'), [])
  const sensitive = doc.Statement.find((st) => st.Sid === 'SensitiveKeyOperationsWithMfa')!
  t.same(sensitive.Action, [...MFA_SENSITIVE_ACTIONS])
  t.same(sensitive.Condition, { Bool: { 'aws:MultiFactorAuthPresent': ['true'] } })
  for (const a of KEY_CRYPTO_ACTIONS) t.notOk(actionsOf(doc).includes(a), `no ${a}`)
})
