// The parameterised templates: each renders to a policy validatePolicy accepts without errors or
// security warnings, evaluates as its description says, and refuses bad parameters by name.
import t from 'tap'
import { evaluate, findTemplate, POLICY_TEMPLATES, renderTemplate, TemplateParameterError, validatePolicy, type PolicyDocument, type RequestContext } from '../src/index.js'

const ACCT = '111122223333'
const KEY = `arn:aws:kms:eu-west-1:${ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
const PARAMS: Record<string, Record<string, unknown>> = {
  'default': { accountId: ACCT },
  'separation-of-duties': {
    accountId: ACCT, region: 'eu-west-1', bucket: 'kmsworkshop-111122223333',
    administrators: [`arn:aws:iam::${ACCT}:role/kms-share-keyadmin`], mfaPrincipals: [`arn:aws:iam::${ACCT}:user/userA`],
  },
  'account-only': { accountId: ACCT },
  'single-role': { accountId: ACCT, roleName: 'KMSWorkshop-InstaceInitRole' },
  'encryption-context': { accountId: ACCT, contextValues: ['arn:aws:s3:::kmsworkshop-111122223333/*'] },
  'mfa-sensitive': { accountId: ACCT, mfaPrincipals: [`arn:aws:iam::${ACCT}:user/userA`] },
  'vpce-only': { accountId: ACCT, vpceIds: ['vpce-0123456789abcdef0'] },
}

t.test('every template renders to a policy without errors or security warnings', async (t) => {
  t.same(POLICY_TEMPLATES.map((x) => x.name).sort(), Object.keys(PARAMS).sort(), 'each template has a case here')
  for (const template of POLICY_TEMPLATES) {
    const { policy, document } = renderTemplate(template, PARAMS[template.name])
    const findings = validatePolicy(policy, { service: 'kms', kind: 'resource', accountId: ACCT })
    t.same(findings.filter((f) => f.severity === 'ERROR' || f.severity === 'SECURITY_WARNING'), [], `${template.name}: no errors`)
    t.same(JSON.parse(policy), document)
    t.ok(template.description.length > 20)
  }
})

const role = (name: string) => ({ arn: `arn:aws:sts::${ACCT}:assumed-role/${name}/i-0test`, type: 'assumed-role' as const, accountId: ACCT, roleArn: `arn:aws:iam::${ACCT}:role/${name}` })
const user = (name: string) => ({ arn: `arn:aws:iam::${ACCT}:user/${name}`, type: 'user' as const, accountId: ACCT })
const allowAll = { name: 'allow-all', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow' as const, Action: ['*'], Resource: ['*'] }] } }
const viaS3 = (object: string): RequestContext => ({ 'kms:ViaService': 's3.eu-west-1.amazonaws.com', 'kms:EncryptionContext:aws:s3:arn': object, 'aws:ViaAWSService': 'true', 'kms:CallerAccount': ACCT })

function decide(doc: PolicyDocument, principal: ReturnType<typeof role> | ReturnType<typeof user>, action: string, context: RequestContext): string {
  return evaluate({
    request: { principal, action, resource: KEY, context: { 'kms:CallerAccount': ACCT, 'aws:PrincipalArn': 'roleArn' in principal ? principal.roleArn : principal.arn, ...context } },
    identityPolicies: [allowAll], resourcePolicy: { name: 'key-policy', document: doc }, resourceAccount: ACCT, resourcePolicyRequired: true,
  }).decision
}

t.test('separation-of-duties: use only through S3 for the bucket, administration never grants use', async (t) => {
  const { document } = renderTemplate(findTemplate('separation-of-duties')!, PARAMS['separation-of-duties'])
  const object = 'arn:aws:s3:::kmsworkshop-111122223333/report.pdf'
  t.equal(decide(document, role('kms-share-uploader'), 'kms:GenerateDataKey', viaS3(object)), 'Allowed')
  t.equal(decide(document, role('kms-share-uploader'), 'kms:Decrypt', viaS3(object)), 'Allowed', 'multipart completion')
  t.equal(decide(document, role('kms-share-uploader'), 'kms:Decrypt', {}), 'ExplicitlyDenied', 'no direct Decrypt, even with an IAM allow')
  t.equal(decide(document, role('kms-share-downloader'), 'kms:Decrypt', viaS3(object)), 'Allowed')
  t.equal(decide(document, role('kms-share-downloader'), 'kms:Decrypt', viaS3('arn:aws:s3:::other-bucket/x')), 'ImplicitlyDenied', 'another bucket')
  t.equal(decide(document, role('kms-share-downloader'), 'kms:GenerateDataKey', viaS3(object)), 'ImplicitlyDenied')
  // Even an IAM allow-all does not give administrators, the auditor or anyone else use of the key: explicit denies.
  for (const who of [role('kms-share-keyadmin'), role('kms-share-auditor'), role('KMSWorkshop-InstaceInitRole'), user('admin'), user('userA')]) {
    for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:ReEncryptTo', 'kms:GenerateMac']) {
      t.equal(decide(document, who, action, viaS3(object)), 'ExplicitlyDenied', `${who.arn} ${action}`)
    }
  }
  t.equal(decide(document, role('kms-share-keyadmin'), 'kms:TagResource', {}), 'Allowed')
  t.equal(decide(document, role('kms-share-keyadmin'), 'kms:CreateAlias', {}), 'Allowed')
})

t.test('separation-of-duties: the sensitive operations only with MFA', async (t) => {
  const { document } = renderTemplate(findTemplate('separation-of-duties')!, PARAMS['separation-of-duties'])
  const mfa = { 'aws:MultiFactorAuthPresent': 'true', 'aws:MultiFactorAuthAge': '5' }
  for (const action of ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:DeleteImportedKeyMaterial', 'kms:DeleteAlias', 'kms:UpdateAlias', 'kms:CreateGrant']) {
    t.equal(decide(document, role('kms-share-keyadmin'), action, { 'aws:MultiFactorAuthPresent': 'false' }), 'ExplicitlyDenied', `keyadmin's role: ${action}`)
    t.equal(decide(document, user('admin'), action, {}), 'ExplicitlyDenied', `a user's long-term keys: ${action}`)
    t.equal(decide(document, user('userA'), action, mfa), 'Allowed', `userA with MFA: ${action}`)
  }
  t.equal(decide(document, role('kms-share-keyadmin'), 'kms:CancelKeyDeletion', {}), 'Allowed', 'undoing a deletion needs no MFA')
})

t.test('single-role: the role (any of its sessions) uses the key, nobody else does', async (t) => {
  const { document } = renderTemplate(findTemplate('single-role')!, PARAMS['single-role'])
  t.equal(decide(document, role('KMSWorkshop-InstaceInitRole'), 'kms:Decrypt', {}), 'Allowed')
  t.equal(decide(document, role('kms-share-uploader'), 'kms:GenerateDataKey', {}), 'ExplicitlyDenied')
})

t.test('mfa-sensitive: sensitive operations need a recent MFA authentication', async (t) => {
  const { document } = renderTemplate(findTemplate('mfa-sensitive')!, PARAMS['mfa-sensitive'])
  t.equal(decide(document, user('userA'), 'kms:PutKeyPolicy', { 'aws:MultiFactorAuthPresent': 'true', 'aws:MultiFactorAuthAge': '20' }), 'Allowed')
  t.equal(decide(document, user('userA'), 'kms:PutKeyPolicy', { 'aws:MultiFactorAuthPresent': 'true', 'aws:MultiFactorAuthAge': '900' }), 'ExplicitlyDenied', 'stale')
  t.equal(decide(document, user('userA'), 'kms:ScheduleKeyDeletion', {}), 'ExplicitlyDenied', 'long-term keys carry no MFA')
  t.equal(decide(document, role('kms-share-keyadmin'), 'kms:PutKeyPolicy', { 'aws:MultiFactorAuthPresent': 'false' }), 'ExplicitlyDenied')
  t.equal(decide(document, role('kms-share-keyadmin'), 'kms:DescribeKey', { 'aws:MultiFactorAuthPresent': 'false' }), 'Allowed', 'other operations unaffected')
})

t.test('vpce-only: direct use through the endpoint or through S3 only', async (t) => {
  const { document } = renderTemplate(findTemplate('vpce-only')!, PARAMS['vpce-only'])
  const r = role('KMSWorkshop-InstaceInitRole')
  t.equal(decide(document, r, 'kms:Decrypt', { 'aws:SourceVpce': 'vpce-0123456789abcdef0', 'aws:ViaAWSService': 'false' }), 'Allowed')
  t.equal(decide(document, r, 'kms:Decrypt', { 'aws:ViaAWSService': 'false' }), 'ExplicitlyDenied')
  t.equal(decide(document, r, 'kms:Decrypt', viaS3('arn:aws:s3:::b/k')), 'Allowed', 'SSE-KMS through S3 keeps working')
})

t.test('encryption-context and account-only', async (t) => {
  const ec = renderTemplate(findTemplate('encryption-context')!, PARAMS['encryption-context']).document
  const r = role('kms-share-uploader')
  t.equal(decide(ec, r, 'kms:GenerateDataKey', viaS3('arn:aws:s3:::kmsworkshop-111122223333/a')), 'Allowed')
  t.equal(decide(ec, r, 'kms:GenerateDataKey', { 'kms:EncryptionContext:purpose': 'x' }), 'ExplicitlyDenied')
  const ao = renderTemplate(findTemplate('account-only')!, PARAMS['account-only']).document
  const noIam = (principal: ReturnType<typeof role>, callerAccount: string) => evaluate({
    request: { principal, action: 'kms:Decrypt', resource: KEY, context: { 'kms:CallerAccount': callerAccount } },
    identityPolicies: [], resourcePolicy: { name: 'k', document: ao }, resourceAccount: ACCT, resourcePolicyRequired: true,
  }).decision
  t.equal(noIam(role('any-role'), ACCT), 'Allowed', 'any principal of the account, by the key policy alone')
  const other = { arn: 'arn:aws:sts::444455556666:assumed-role/x/y', type: 'assumed-role' as const, accountId: '444455556666', roleArn: 'arn:aws:iam::444455556666:role/x' }
  t.not(noIam(other, '444455556666'), 'Allowed', 'not another account')
})

t.test('bad parameters are refused by name', async (t) => {
  const sod = findTemplate('separation-of-duties')!
  const err = (given: Record<string, unknown>) => {
    try {
      renderTemplate(sod, given)
    } catch (e) {
      return e as TemplateParameterError
    }
    throw new Error('no error')
  }
  const base = PARAMS['separation-of-duties']
  t.match(err({ ...base, accountId: 'your-acount-id' }), { name: 'TemplateParameterError', parameter: 'accountId', message: /12-digit/ })
  t.match(err({ ...base, administrators: [] }), { parameter: 'administrators' })
  t.match(err({ ...base, administrators: ['arn:aws:iam::your-acount-id:role/x'] }), { parameter: 'administrators' })
  t.match(err({ ...base, colour: 'blue' }), { parameter: 'colour', message: /not a parameter/ })
  const { bucket: _bucket, ...noBucket } = base
  t.match(err(noBucket), { parameter: 'bucket', message: /required/ })
  t.equal(renderTemplate(findTemplate('mfa-sensitive')!, { ...PARAMS['mfa-sensitive'], maxAuthAgeSeconds: '600' }).values.maxAuthAgeSeconds, 600)
  t.equal(findTemplate('nope'), undefined)
})
