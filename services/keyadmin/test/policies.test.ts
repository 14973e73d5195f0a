// Key policies over real HTTP against a lab: findings for the workshop's documents, refusal with
// every finding (422), the lockout refusal (409) before AWS's own check, dry runs with a diff,
// applying, and simulation that refuses condition keys AWS never sets.
// PutKeyPolicy's lockout safety check: https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ACCOUNT, enc, startKeyadmin, startTestLab } from './helpers.js'

// The simulations below read alias/ImportedCMK under AWS's default key policy (the workshop's starting point).
const lab = await startTestLab(t, { defaultKeyPolicy: true })
const svc = await startKeyadmin(t, lab)
const seedDir = fileURLToPath(new URL('../../../packages/policy/test/fixtures/seed-policies/', import.meta.url))
const seedPolicy = (name: string) => readFileSync(seedDir + name, 'utf8')
const brief = (f: any) => `${f.line} ${f.severity} ${f.code}`

async function freshKey(): Promise<{ keyId: string; arn: string }> {
  const out = await svc.call('POST', '/keys', { description: 'policies test' })
  if (out.status !== 201) throw new Error(JSON.stringify(out.body))
  return out.body
}

const rootPolicy = (extra: object[] = []) => JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Sid: 'EnableIAMUserPermissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }, ...extra],
}, null, 2)

t.test("POST /policies/validate: the workshop's documents get exactly their mistakes, at their lines", async (t) => {
  const expected: Record<string, string[]> = {
    'account-only-caller-account.json': ['9 ERROR MALFORMED_ACCOUNT_ID', '18 ERROR MALFORMED_ACCOUNT_ID', '20 SECURITY_WARNING KMS_WILDCARD_TO_NON_ROOT', '24 ERROR MALFORMED_ACCOUNT_ID'],
    'default-key-policy.json': ['8 ERROR MALFORMED_ACCOUNT_ID'],
    'mfa-sensitive-operations.json': ['18 ERROR JSON_TRAILING_COMMA', '9 ERROR MALFORMED_ACCOUNT_ID', '18 ERROR MALFORMED_ACCOUNT_ID', '28 ERROR MALFORMED_CONDITION_KEY'],
    'role-only-notprincipal-deny.json': ['9 ERROR MALFORMED_ACCOUNT_ID', '18 ERROR MALFORMED_ACCOUNT_ID', '18 SECURITY_WARNING NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION', '18 ERROR MALFORMED_ACCOUNT_ID', '24 ERROR MALFORMED_ACCOUNT_ID'],
    'vpce-only-data-operations.json': ['9 ERROR MALFORMED_ACCOUNT_ID', '18 ERROR MALFORMED_ACCOUNT_ID', '29 SECURITY_WARNING VPCE_DENY_BLOCKS_AWS_SERVICES', '29 WARNING MALFORMED_VPC_ENDPOINT_ID'],
  }
  t.same(readdirSync(seedDir).sort(), Object.keys(expected).sort())
  for (const [name, want] of Object.entries(expected)) {
    const { status, body } = await svc.call('POST', '/policies/validate', { policy: seedPolicy(name) })
    t.equal(status, 200)
    t.same(body.findings.map(brief), want, name)
    const placeholder = body.findings.find((f: any) => f.code === 'MALFORMED_ACCOUNT_ID')
    t.match(placeholder.suggestion ?? placeholder.message, /111122223333/, `${name}: the fix names the account`)
  }
  const broken = await svc.call('POST', '/policies/validate', { policy: '{"Version": "2012-10-17", "Statement": [' })
  t.equal(broken.status, 200, 'a document that does not parse is checked too')
  t.ok(broken.body.findings.some((f: any) => f.code === 'JSON_SYNTAX_ERROR'))
  const notText = await svc.call('POST', '/policies/validate', { policy: { Version: '2012-10-17' } })
  t.equal(notText.status, 400)
  t.equal(notText.body.code, 'SHR_VALIDATION')
})

t.test('PUT /keys/:key/policy refuses the MFA document as written with all of its findings', async (t) => {
  const key = await freshKey()
  const before = await svc.call('GET', `/keys/${key.keyId}/policy`)
  const res = await svc.call('PUT', `/keys/${key.keyId}/policy`, { policy: seedPolicy('mfa-sensitive-operations.json') })
  t.equal(res.status, 422)
  t.equal(res.body.code, 'KADM_POLICY_INVALID')
  t.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  t.same(res.body.findings.map(brief), ['18 ERROR JSON_TRAILING_COMMA', '9 ERROR MALFORMED_ACCOUNT_ID', '18 ERROR MALFORMED_ACCOUNT_ID', '28 ERROR MALFORMED_CONDITION_KEY'])
  const comma = res.body.findings.find((f: any) => f.code === 'JSON_TRAILING_COMMA')
  t.equal(comma.column, 58)
  const key28 = res.body.findings.find((f: any) => f.code === 'MALFORMED_CONDITION_KEY')
  t.equal(key28.suggestion, 'aws:MultiFactorAuthAge')
  t.equal((await svc.call('GET', `/keys/${key.keyId}/policy`)).body.policy, before.body.policy, 'unchanged')
})

t.test('the lockout refusal: 409 before AWS, with the explanation; the policy stays', async (t) => {
  const key = await freshKey()
  // Only the workshop role may touch the key: keyadmin could never change the policy again.
  const lockout = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'WorkshopOnly', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/KMSWorkshop-InstaceInitRole` }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' }],
  }, null, 2)
  const dry = await svc.call('PUT', `/keys/${key.keyId}/policy?dryRun=true`, { policy: lockout })
  t.equal(dry.status, 200, 'a dry run reports instead of refusing')
  t.equal(dry.body.applied, false)
  t.equal(dry.body.lockout.allowed, false)
  const res = await svc.call('PUT', `/keys/${key.keyId}/policy`, { policy: lockout })
  t.equal(res.status, 409)
  t.equal(res.body.code, 'KADM_POLICY_LOCKOUT')
  // The identity that puts key policies is the MFA user (keyadmin's role may not).
  t.match(res.body.detail, /user\/userA.*could no longer call kms:PutKeyPolicy/)
  t.equal(res.body.lockout.decision, 'ImplicitlyDenied')
  t.ok(res.body.lockout.explanation.length > 0)
  const after = await svc.call('GET', `/keys/${key.keyId}/policy`)
  t.notMatch(after.body.policy, /WorkshopOnly/, 'not applied')
})

t.test('dry run: findings and a diff against the current policy, nothing changed; then apply', async (t) => {
  const key = await freshKey()
  const current = (await svc.call('GET', `/keys/${key.keyId}/policy`)).body.policy
  const proposed = rootPolicy([{ Sid: 'DescribeForDownloader', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/kms-share-downloader` }, Action: 'kms:DescribeKey', Resource: '*' }])
  const dry = await svc.call('PUT', `/keys/${key.keyId}/policy?dryRun=true`, { policy: proposed })
  t.equal(dry.status, 200)
  t.equal(dry.body.applied, false)
  t.equal(dry.body.lockout.allowed, true)
  t.match(dry.body.diff, /^--- current\n\+\+\+ proposed\n/)
  t.match(dry.body.diff, /\n\+ {6}"Sid": "DescribeForDownloader",\n/)
  t.equal((await svc.call('GET', `/keys/${key.keyId}/policy`)).body.policy, current, 'a dry run changes nothing')

  const applied = await svc.sensitive('PUT', `/keys/${key.keyId}/policy`, { policy: proposed })
  t.equal(applied.status, 200)
  t.equal(applied.body.applied, true)
  const got = await svc.call('GET', `/keys/${enc(key.arn)}/policy`)
  t.equal(got.body.policy, proposed)
  t.same(got.body.findings, [])
})

t.test('AWS refuses what keyadmin lets through, and says why (unknown principal)', async (t) => {
  const key = await freshKey()
  const policy = rootPolicy([{ Sid: 'Ghost', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/no-such-role` }, Action: 'kms:Decrypt', Resource: '*' }])
  const res = await svc.sensitive('PUT', `/keys/${key.keyId}/policy`, { policy })
  t.equal(res.status, 400)
  t.equal(res.body.code, 'KADM_AWS_REJECTED')
  t.equal(res.body.awsErrorCode, 'MalformedPolicyDocumentException')
  t.match(res.body.detail, /invalid principals/)
})

t.test('POST /policies/simulate fills what AWS fills and refuses keys AWS never sets', async (t) => {
  const uploader = `arn:aws:iam::${ACCOUNT}:role/kms-share-uploader`
  const direct = await svc.call('POST', '/policies/simulate', { key: 'alias/ImportedCMK', principal: uploader, action: 'kms:Decrypt' })
  t.equal(direct.status, 200, JSON.stringify(direct.body))
  t.equal(direct.body.decision, 'ImplicitlyDenied', "the uploader's IAM policy allows Decrypt only via S3")
  t.equal(direct.body.context['kms:CallerAccount'], ACCOUNT)
  t.equal(direct.body.context['aws:PrincipalArn'], uploader)
  t.same(direct.body.identityPolicies, ['kms-share-upload'])

  const viaS3 = await svc.call('POST', '/policies/simulate', { key: 'alias/ImportedCMK', principal: uploader, action: 'kms:Decrypt', context: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } })
  t.equal(viaS3.body.decision, 'Allowed')
  t.ok(viaS3.body.statements.some((s: any) => s.sid === 'DecryptOnlyThroughS3'))

  const typo = await svc.call('POST', '/policies/simulate', { key: 'alias/ImportedCMK', principal: uploader, action: 'kms:Decrypt', context: { 'kms:CallerAcount': ACCOUNT } })
  t.equal(typo.status, 400)
  t.equal(typo.body.code, 'KADM_UNKNOWN_CONTEXT_KEY')
  t.match(typo.body.detail, /did you mean kms:CallerAccount\?/)
  const otherService = await svc.call('POST', '/policies/simulate', { key: 'alias/ImportedCMK', principal: uploader, action: 'kms:Decrypt', context: { 's3:prefix': 'x' } })
  t.equal(otherService.status, 400)
  t.match(otherService.body.detail, /AWS never sets it on a KMS request/)
  const badAction = await svc.call('POST', '/policies/simulate', { key: 'alias/ImportedCMK', principal: uploader, action: 'kms:Decrpyt' })
  t.equal(badAction.status, 400)
  t.match(badAction.body.detail, /did you mean kms:Decrypt\?/)

  // A policy given as text, not yet on any key; the root is simulated with its implicit IAM allow.
  const text = await svc.call('POST', '/policies/simulate', { policy: seedPolicy('role-only-notprincipal-deny.json').replaceAll('your-acount-id', ACCOUNT).replaceAll('your-account-id', ACCOUNT), principal: `arn:aws:iam::${ACCOUNT}:role/KMSWorkshop-InstaceInitRole`, action: 'kms:Decrypt' })
  t.equal(text.status, 200)
  t.equal(text.body.decision, 'ExplicitlyDenied', "NotPrincipal naming the role but not its sessions denies the role's own sessions")
  t.equal(text.body.deniedBy, 'resource-based policy')
  const noPolicy = await svc.call('POST', '/policies/simulate', { principal: uploader, action: 'kms:Decrypt' })
  t.equal(noPolicy.status, 400)
  t.equal(noPolicy.body.code, 'KADM_SIMULATE_INPUT')
})
