// The workshop's policies (copied verbatim from seed/policies) and exactly the findings each must get.
// NotPrincipal semantics: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
// VPC endpoint conditions vs. AWS services: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-aws.html#conditions-aws-vpce
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parsePolicy } from '../src/parse.js'
import { validatePolicy } from '../src/validate.js'
import type { Finding } from '../src/types.js'

const dir = fileURLToPath(new URL('./fixtures/seed-policies/', import.meta.url))
const read = (name: string): string => readFileSync(dir + name, 'utf8')
const brief = (f: Finding): string => `${f.line}:${f.column} ${f.severity} ${f.code}`

const expected: Record<string, string[]> = {
  'account-only-caller-account.json': [
    '9:16 ERROR MALFORMED_ACCOUNT_ID', // arn:aws:iam::your-acount-id:root
    '18:16 ERROR MALFORMED_ACCOUNT_ID', // …your-acount-id:role/KMSWorkshop-InstaceInitRole
    '20:17 SECURITY_WARNING KMS_WILDCARD_TO_NON_ROOT', // kms:* to the role
    '24:32 ERROR MALFORMED_ACCOUNT_ID', // kms:CallerAccount "your-account-id"
  ],
  'default-key-policy.json': [
    '8:15 ERROR MALFORMED_ACCOUNT_ID',
  ],
  'mfa-sensitive-operations.json': [
    '9:16 ERROR MALFORMED_ACCOUNT_ID',
    '18:18 ERROR MALFORMED_ACCOUNT_ID', // …your-acount-id:user/userA
    '18:58 ERROR JSON_TRAILING_COMMA',
    '28:28 ERROR MALFORMED_CONDITION_KEY', // "aws: MultiFactorAuthAge"
  ],
  'role-only-notprincipal-deny.json': [
    '9:16 ERROR MALFORMED_ACCOUNT_ID',
    '18:18 ERROR MALFORMED_ACCOUNT_ID',
    '18:18 SECURITY_WARNING NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION',
    '18:82 ERROR MALFORMED_ACCOUNT_ID',
    '24:32 ERROR MALFORMED_ACCOUNT_ID',
  ],
  'vpce-only-data-operations.json': [
    '9:16 ERROR MALFORMED_ACCOUNT_ID',
    '18:16 ERROR MALFORMED_ACCOUNT_ID',
    '29:11 SECURITY_WARNING VPCE_DENY_BLOCKS_AWS_SERVICES',
    '29:29 WARNING MALFORMED_VPC_ENDPOINT_ID', // "vpce-1xxxxxxxx1"
  ],
}

t.test('every seed policy has expectations, and nothing else is in the folder', async (t) => {
  t.same(readdirSync(dir).sort(), Object.keys(expected).sort())
})

for (const [name, want] of Object.entries(expected)) {
  t.test(`${name}: exactly the expected findings, with lines`, async (t) => {
    const findings = validatePolicy(read(name), { kind: 'resource', service: 'kms' })
    t.same(findings.map(brief), want)
    // The same findings without options: a policy with principals and only kms: actions is read as a key policy.
    t.same(validatePolicy(read(name)).map(brief), want)
    for (const f of findings) {
      t.ok(f.message.length > 20, `${f.code} says what is wrong`)
      t.match(f.path, /^Statement\[\d\]\./, `${f.code} has a JSON path`)
    }
  })
}

t.test('placeholder account ids: the message names the placeholder and asks for the 12-digit id', async (t) => {
  const findings = validatePolicy(read('account-only-caller-account.json'), { accountId: '111122223333' })
  const accounts = findings.filter((f) => f.code === 'MALFORMED_ACCOUNT_ID')
  t.equal(accounts.length, 3)
  t.match(accounts[0].message, /"your-acount-id".*12-digit account id/)
  t.equal(accounts[0].suggestion, 'arn:aws:iam::111122223333:root')
  t.equal(accounts[1].suggestion, 'arn:aws:iam::111122223333:role/KMSWorkshop-InstaceInitRole')
  t.match(accounts[2].message, /"your-account-id".*kms:CallerAccount.*12-digit account id/)
  t.equal(accounts[2].path, 'Statement[1].Condition.StringEquals.kms:CallerAccount')
  t.equal(accounts[2].suggestion, '111122223333')
})

t.test('MFA policy: trailing comma, spaced key, user/userA accepted as syntax', async (t) => {
  const text = read('mfa-sensitive-operations.json')
  const parsed = parsePolicy(text)
  t.ok(parsed.document, 'the document is recovered despite the trailing comma')
  t.same(parsed.document?.Statement[1].Principal, { AWS: ['arn:aws:iam::your-acount-id:user/userA'] })
  t.same(parsed.findings.map(brief), ['18:58 ERROR JSON_TRAILING_COMMA'])
  t.equal(parsed.findings[0].path, 'Statement[1].Principal.AWS', 'the trailing comma is placed in its array')
  const findings = validatePolicy(text)
  const key = findings.find((f) => f.code === 'MALFORMED_CONDITION_KEY')
  t.equal(key?.suggestion, 'aws:MultiFactorAuthAge')
  t.equal(key?.path, 'Statement[1].Condition.NumericLessThan.aws: MultiFactorAuthAge')
  t.notOk(findings.some((f) => f.code === 'MALFORMED_PRINCIPAL'), 'user/userA is a well-formed principal')
})

t.test('NotPrincipal deny naming the role without its sessions', async (t) => {
  const f = validatePolicy(read('role-only-notprincipal-deny.json')).find((x) => x.code === 'NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION')
  t.match(f?.message, /arn:aws:sts::your-acount-id:assumed-role\/KMSWorkshop-InstaceInitRole\//)
  t.match(f?.message, /role's own sessions/)
  t.match(f?.suggestion, /aws:PrincipalArn/)
})

t.test('VPC endpoint deny: warns that SSE-KMS through S3 is blocked and how to exempt AWS services', async (t) => {
  const f = validatePolicy(read('vpce-only-data-operations.json')).find((x) => x.code === 'VPCE_DENY_BLOCKS_AWS_SERVICES')
  t.match(f?.message, /S3 with SSE-KMS/)
  t.match(f?.suggestion, /aws:ViaAWSService|kms:ViaService/)
  t.equal(f?.path, 'Statement[1].Condition.StringNotEquals.aws:sourceVpce')
})

t.test('applying the fixes the findings suggest leaves only the design lints', async (t) => {
  const fix = (text: string): string => text
    .replace(/your-acc?ount-id/g, '111122223333')
    .replace('user/userA",]', 'user/userA"]')
    .replace('aws: MultiFactorAuthAge', 'aws:MultiFactorAuthAge')
    .replace('vpce-1xxxxxxxx1', 'vpce-0123456789abcdef0')
  const left = Object.fromEntries(Object.keys(expected).map((name) => [name, validatePolicy(fix(read(name)), { accountId: '111122223333' }).map(brief)]))
  t.same(left, {
    'account-only-caller-account.json': ['20:17 SECURITY_WARNING KMS_WILDCARD_TO_NON_ROOT'],
    'default-key-policy.json': [],
    'mfa-sensitive-operations.json': [],
    'role-only-notprincipal-deny.json': ['18:18 SECURITY_WARNING NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION'],
    'vpce-only-data-operations.json': ['29:11 SECURITY_WARNING VPCE_DENY_BLOCKS_AWS_SERVICES'],
  })
})
