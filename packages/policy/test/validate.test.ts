// validatePolicy: catalogue checks, operators, principals and account ids, KMS lints.
import t from 'tap'
import { validatePolicy, assertValidPolicy, formatFindings } from '../src/validate.js'
import type { Finding } from '../src/types.js'

const ROOT = 'arn:aws:iam::111122223333:root'
const ROLE = 'arn:aws:iam::111122223333:role/KeyUser'
const policy = (...statements: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements }, null, 2)
const stmt = (extra: object = {}): object => ({ Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:Decrypt', Resource: '*', ...extra })
const codes = (findings: Finding[]): string[] => findings.map((f) => f.code)
const only = (findings: Finding[], code: string): Finding[] => findings.filter((f) => f.code === code)

t.test('a clean key policy has no findings', async (t) => {
  t.same(validatePolicy(policy(stmt({ Action: 'kms:*' }), stmt({ Principal: { AWS: ROLE }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*', 'kms:Describe*'] }))), [])
})

// Action names are case-insensitive: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
t.test('actions: catalogue, wildcards, did-you-mean', async (t) => {
  const f = validatePolicy(policy(stmt({ Action: ['kms:GenerateDatakey', 'kms:GenerateDataKy', 'kms:Foo*', 'kmz:Decrypt', 'kms Decrypt', '*', 's3:GetObject', 'kms:ReEncrypt*', 'kms:*', 'KMS:Decrypt'] })))
  t.same(f.map((x) => [x.code, x.path, x.suggestion]), [
    ['ACTION_CASE', 'Statement[0].Action[0]', 'kms:GenerateDataKey'],
    ['UNKNOWN_ACTION', 'Statement[0].Action[1]', 'kms:GenerateDataKey'],
    ['UNKNOWN_ACTION', 'Statement[0].Action[2]', 'kms:*'],
    ['UNKNOWN_SERVICE', 'Statement[0].Action[3]', 'kms:Decrypt'],
    ['INVALID_ACTION', 'Statement[0].Action[4]', undefined],
    ['KMS_WILDCARD_TO_NON_ROOT', 'Statement[0].Action[5]', f.find((x) => x.code === 'KMS_WILDCARD_TO_NON_ROOT')?.suggestion],
  ].filter((row) => row[0] !== 'KMS_WILDCARD_TO_NON_ROOT'))
  t.equal(only(f, 'ACTION_CASE')[0].severity, 'SUGGESTION')
  t.equal(only(f, 'UNKNOWN_ACTION')[0].severity, 'ERROR')
  t.match(only(f, 'UNKNOWN_ACTION')[0].message, /did you mean kms:GenerateDataKey/)
  t.same(codes(validatePolicy(policy(stmt({ NotAction: 'kms:Decrpyt', Action: undefined })))), ['UNKNOWN_ACTION'])
})

// Condition operators: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
t.test('every operator family is recognised, with IfExists and the set qualifiers', async (t) => {
  const condition = {
    'StringEquals': { 'aws:PrincipalTag/team': 'keys' },
    'StringNotEqualsIgnoreCase': { 'aws:PrincipalTag/team': 'x' },
    'StringLikeIfExists': { 'kms:EncryptionContext:aws:s3:arn': 'arn:aws:s3:::bucket/*' },
    'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': ['aws:s3:arn'] },
    'ForAllValues:StringLike': { 'aws:TagKeys': ['team*'] },
    'NumericLessThan': { 'aws:MultiFactorAuthAge': '300' },
    'NumericGreaterThanEqualsIfExists': { 'kms:ScheduleKeyDeletionPendingWindowInDays': 7 },
    'DateGreaterThan': { 'aws:CurrentTime': '2026-01-01T00:00:00Z' },
    'DateLessThanEquals': { 'aws:EpochTime': '1798761600' },
    'Bool': { 'aws:SecureTransport': 'true', 'aws:MultiFactorAuthPresent': true },
    'BoolIfExists': { 'aws:ViaAWSService': 'false' },
    'BinaryEquals': { 'aws:userid': 'QmluYXJ5VmFsdWVJbkJhc2U2NA==' },
    'IpAddress': { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8::/32'] },
    'NotIpAddress': { 'aws:SourceIp': '198.51.100.7' },
    'ArnLike': { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:role/*' },
    'ArnNotEqualsIfExists': { 'aws:SourceArn': 'arn:aws:s3:::bucket' },
    'Null': { 'aws:SourceVpce': 'true', 'aws:TagKeys': 'false' },
  }
  const f = validatePolicy(policy(stmt({ Condition: condition })))
  // aws:userid is a String key, so BinaryEquals on it is flagged; nothing else is.
  t.same(f.map((x) => [x.code, x.path]), [['CONDITION_OPERATOR_KEY_TYPE_MISMATCH', 'Statement[0].Condition.BinaryEquals.aws:userid']])
})

t.test('unknown operators get a did-you-mean; Null takes no IfExists', async (t) => {
  const f = validatePolicy(policy(stmt({ Condition: { 'StringEqual': { 'aws:PrincipalAccount': '111122223333' }, 'NullIfExists': { 'aws:SourceVpce': 'true' }, 'ForAnyValues:StringLike': { 'aws:TagKeys': 'a' } } })))
  t.same(only(f, 'UNKNOWN_CONDITION_OPERATOR').map((x) => x.suggestion), ['StringEquals', 'Null', 'ForAnyValue:StringLike'])
})

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
t.test('set operators: single-valued keys, and ForAllValues in an Allow without a Null check', async (t) => {
  const single = validatePolicy(policy(stmt({ Condition: { 'ForAnyValue:StringEquals': { 'aws:PrincipalAccount': '111122223333' } } })))
  t.same(single.map((x) => [x.code, x.severity, x.suggestion]), [['SET_OPERATOR_ON_SINGLE_VALUED_KEY', 'WARNING', 'StringEquals']])
  const allowAll = validatePolicy(policy(stmt({ Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['aws:s3:arn'] } } })))
  t.same(allowAll.map((x) => [x.code, x.severity, x.path]), [['ALLOW_FORALLVALUES_WITHOUT_NULL', 'SECURITY_WARNING', 'Statement[0].Condition.ForAllValues:StringEquals.kms:EncryptionContextKeys']])
  t.same(validatePolicy(policy(stmt({ Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['aws:s3:arn'] }, 'Null': { 'kms:encryptioncontextkeys': 'false' } } }))), [], 'a Null check (any case) closes the gap')
  t.same(validatePolicy(policy(stmt({ Effect: 'Deny', Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['aws:s3:arn'] } } }))), [], 'a Deny is not widened by it')
})

t.test('value type mismatches are warnings', async (t) => {
  const f = validatePolicy(policy(stmt({ Condition: {
    NumericLessThan: { 'aws:MultiFactorAuthAge': 'five minutes' },
    Bool: { 'aws:SecureTransport': 'yes' },
    DateLessThan: { 'aws:CurrentTime': 'tomorrow' },
    IpAddress: { 'aws:SourceIp': 'office' },
    ArnEquals: { 'aws:SourceArn': 'bucket' },
  } })))
  t.same(only(f, 'CONDITION_VALUE_TYPE_MISMATCH').map((x) => [x.severity, x.path]), [
    ['WARNING', 'Statement[0].Condition.NumericLessThan.aws:MultiFactorAuthAge'],
    ['WARNING', 'Statement[0].Condition.Bool.aws:SecureTransport'],
    ['WARNING', 'Statement[0].Condition.DateLessThan.aws:CurrentTime'],
    ['WARNING', 'Statement[0].Condition.IpAddress.aws:SourceIp'],
    ['WARNING', 'Statement[0].Condition.ArnEquals.aws:SourceArn'],
  ])
  const mismatch = validatePolicy(policy(stmt({ Condition: { StringEquals: { 'aws:MultiFactorAuthAge': '300' } } })))
  t.same(codes(mismatch), ['CONDITION_OPERATOR_KEY_TYPE_MISMATCH'])
  t.match(mismatch[0].message, /Numeric/)
})

// Condition key names are case-insensitive: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
t.test('condition keys: global, service, variable parts, any case', async (t) => {
  const good = validatePolicy(policy(stmt({ Condition: { StringEquals: {
    'aws:sourcevpce': 'vpce-0123456789abcdef0', 'AWS:PrincipalAccount': '111122223333', 'kms:callerAccount': '111122223333',
    'kms:EncryptionContext:Department': 'IT', 'kms:ViaService': 's3.eu-west-1.amazonaws.com', 'aws:RequestTag/Project': 'a',
    'aws:ResourceTag/Project': 'b', 'aws:PrincipalTag/Team': 'c', 's3:ExistingObjectTag/class': 'd',
  } } })))
  t.same(good, [])
  const bad = validatePolicy(policy(stmt({ Condition: { StringEquals: {
    'kms:EncryptionContex:aws:s3:arn': 'x', 'kms:EncryptionContextKey': 'y', 'kms:EncryptionContext': 'z', 'aws:SourceVpcee': 'v', 'nope:Thing': 'w',
  } } })))
  t.same(only(bad, 'UNKNOWN_CONDITION_KEY').map((x) => x.suggestion), [
    'kms:EncryptionContext:aws:s3:arn', 'kms:EncryptionContextKeys', 'kms:EncryptionContext:${EncryptionContextKey}', 'aws:SourceVpce', undefined,
  ])
  t.ok(bad.every((x) => x.severity === 'ERROR'))
})

t.test('a condition key with a space is an error suggesting the key without it', async (t) => {
  const f = validatePolicy(policy(stmt({ Condition: { NumericLessThan: { 'aws: MultiFactorAuthAge': '300' } } })))
  t.same(f.map((x) => [x.code, x.severity, x.suggestion]), [['MALFORMED_CONDITION_KEY', 'ERROR', 'aws:MultiFactorAuthAge']])
})

// Principal forms: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
t.test('principals and account ids', async (t) => {
  const f = validatePolicy(policy(stmt({ Principal: { AWS: [
    'arn:aws:iam::your-acount-id:root', 'your-account-id', '111122223333', 'arn:aws:iam::111122223333:user/userA',
    'arn:aws:sts::111122223333:assumed-role/KeyUser/session-1', 'arn:aws:iam::111122223333:group/Admins',
    'arn:aws:iam::111122223333:role/*', 'arn:aws:s3:::bucket', 'userA', 'arn:aws:iam::1111:root',
  ], Service: ['s3.amazonaws.com', 'not a service'], Robots: 'x' } })))
  t.same(f.map((x) => [x.code, x.path]), [
    ['MALFORMED_ACCOUNT_ID', 'Statement[0].Principal.AWS[0]'],
    ['MALFORMED_ACCOUNT_ID', 'Statement[0].Principal.AWS[1]'],
    ['MALFORMED_PRINCIPAL', 'Statement[0].Principal.AWS[5]'],
    ['MALFORMED_PRINCIPAL', 'Statement[0].Principal.AWS[6]'],
    ['MALFORMED_PRINCIPAL', 'Statement[0].Principal.AWS[7]'],
    ['MALFORMED_ACCOUNT_ID', 'Statement[0].Principal.AWS[8]'],
    ['MALFORMED_ACCOUNT_ID', 'Statement[0].Principal.AWS[9]'],
    ['MALFORMED_PRINCIPAL', 'Statement[0].Principal.Service[1]'],
    ['UNKNOWN_PRINCIPAL_TYPE', 'Statement[0].Principal.Robots'],
  ])
  t.match(f[0].message, /"your-acount-id" is a placeholder.*12-digit account id/)
  t.match(f[2].message, /groups cannot be principals/)
  t.match(f[3].message, /wildcards/)
})

t.test('account-id condition keys must hold 12 digits', async (t) => {
  const f = validatePolicy(policy(stmt({ Condition: { StringEquals: { 'kms:CallerAccount': 'your-account-id', 'aws:SourceAccount': ['111122223333', '12345'] }, StringLike: { 'aws:PrincipalAccount': '1111*' } } })))
  t.same(f.map((x) => [x.code, x.path]), [
    ['MALFORMED_ACCOUNT_ID', 'Statement[0].Condition.StringEquals.kms:CallerAccount'],
    ['MALFORMED_ACCOUNT_ID', 'Statement[0].Condition.StringEquals.aws:SourceAccount[1]'],
  ])
})

t.test('cross-account principals are warnings when the owner account is known', async (t) => {
  const text = policy(stmt({ Principal: { AWS: ['arn:aws:iam::444455556666:role/Other', '111122223333', ROOT] } }))
  t.same(validatePolicy(text), [])
  const f = validatePolicy(text, { accountId: '111122223333' })
  t.same(f.map((x) => [x.code, x.severity, x.path]), [['CROSS_ACCOUNT_PRINCIPAL', 'WARNING', 'Statement[0].Principal.AWS[0]']])
})

t.test('resources', async (t) => {
  const f = validatePolicy(policy(stmt({ Resource: ['arn:aws:kms:eu-west-1:your-account-id:key/1', 'key/1'] })), { service: 'kms', kind: 'resource' })
  t.same(codes(f), ['KEY_POLICY_RESOURCE_NOT_WILDCARD', 'MALFORMED_ACCOUNT_ID', 'MALFORMED_RESOURCE'])
  t.same(validatePolicy(policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' }), { kind: 'identity', service: 's3' }), [])
})

t.test('kind: identity, resource and trust policies', async (t) => {
  t.same(codes(validatePolicy(policy(stmt({ Sid: 'has spaces' })), { kind: 'identity' })), ['PRINCIPAL_IN_IDENTITY_POLICY', 'INVALID_SID'])
  t.same(codes(validatePolicy(policy({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }), { kind: 'resource' })), ['MISSING_PRINCIPAL'])
  t.same(codes(validatePolicy(policy({ Effect: 'Allow', Action: 'kms:Decrypt' }), { kind: 'identity' })), ['MISSING_RESOURCE'])
  t.same(validatePolicy(policy({ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }), { kind: 'trust' }), [])
})

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
t.test('NotPrincipal with Deny: a role without its sessions, a principal without its account', async (t) => {
  const deny = (aws: string[]): Finding[] => validatePolicy(policy(stmt({ Action: 'kms:*' }), { Effect: 'Deny', NotPrincipal: { AWS: aws }, Action: 'kms:*', Resource: '*' }))
  const roleOnly = deny([ROLE, ROOT])
  t.same(roleOnly.map((x) => [x.code, x.severity, x.path]), [['NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION', 'SECURITY_WARNING', 'Statement[1].NotPrincipal.AWS']])
  t.same(deny([ROLE, ROOT, 'arn:aws:sts::111122223333:assumed-role/KeyUser/admin']), [], 'role, session and account listed: exempt as intended')
  t.same(codes(deny(['arn:aws:iam::111122223333:user/userA'])), ['NOTPRINCIPAL_DENY_WITHOUT_ACCOUNT'])
  t.same(codes(deny(['arn:aws:iam::111122223333:role/path/KeyUser', '111122223333'])), ['NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION'])
  t.same(codes(deny(['arn:aws:sts::111122223333:assumed-role/KeyUser/admin', ROOT])), ['NOTPRINCIPAL_DENY_SESSION_WITHOUT_ROLE'])
  t.same(deny(['arn:aws:sts::111122223333:assumed-role/KeyUser/admin', 'arn:aws:iam::111122223333:role/team/KeyUser', ROOT]), [])
})

t.test('Allow with NotPrincipal, and public access', async (t) => {
  const f = validatePolicy(policy({ Effect: 'Allow', NotPrincipal: { AWS: ROOT }, Action: 'kms:Decrypt', Resource: '*' }))
  t.same(f.map((x) => [x.code, x.severity]), [['ALLOW_WITH_NOTPRINCIPAL', 'SECURITY_WARNING']])
  t.same(codes(validatePolicy(policy(stmt({ Principal: '*' })))), ['PUBLIC_ACCESS'])
  t.same(validatePolicy(policy(stmt({ Principal: { AWS: '*' }, Condition: { StringEquals: { 'kms:CallerAccount': '111122223333' } } }))), [])
})

t.test('kms:* to anyone but the account root', async (t) => {
  t.same(validatePolicy(policy(stmt({ Action: 'kms:*' }), stmt({ Principal: { AWS: '111122223333' }, Action: 'kms:*' }))), [])
  const f = validatePolicy(policy(stmt({ Principal: { AWS: [ROOT, ROLE] }, Action: ['kms:Decrypt', 'kms:*'] })))
  t.same(f.map((x) => [x.code, x.path]), [['KMS_WILDCARD_TO_NON_ROOT', 'Statement[0].Action[1]']])
  t.match(f[0].message, /KeyUser/)
  t.notMatch(f[0].message, /:root/)
  t.same(codes(validatePolicy(policy(stmt({ Principal: { AWS: ROLE }, Action: '*' })))), ['KMS_WILDCARD_TO_NON_ROOT'])
  t.same(validatePolicy(policy(stmt({ Principal: { AWS: ROLE }, Action: '*', Resource: 'arn:aws:s3:::bucket/*' })), { kind: 'resource', service: 's3' }), [], 'a bare * outside a key policy is not a KMS lint')
  t.same(codes(validatePolicy(policy(stmt({ Principal: { AWS: ROLE }, Action: 'kms:*', Effect: 'Deny' })))), [], 'a deny of kms:* is fine')
  t.same(codes(validatePolicy(policy({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }), { kind: 'identity' })), ['KMS_WILDCARD_TO_NON_ROOT'])
})

// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-aws.html#conditions-aws-vpce
t.test('a VPC (endpoint) deny on data-key actions blocks SSE-KMS through S3', async (t) => {
  const vpceDeny = (extra: object = {}, action: unknown = ['kms:Decrypt', 'kms:GenerateDataKey*']): Finding[] => validatePolicy(policy(
    stmt({ Action: 'kms:*' }),
    { Effect: 'Deny', Principal: { AWS: '*' }, Action: action, Resource: '*', Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-0123456789abcdef0' }, ...extra } },
  ))
  const f = vpceDeny()
  t.same(f.map((x) => [x.code, x.severity, x.path]), [['VPCE_DENY_BLOCKS_AWS_SERVICES', 'SECURITY_WARNING', 'Statement[1].Condition.StringNotEquals.aws:SourceVpce']])
  t.same(codes(vpceDeny({}, 'kms:*')), ['VPCE_DENY_BLOCKS_AWS_SERVICES'])
  t.same(codes(vpceDeny({}, 'kms:ReEncrypt*')), ['VPCE_DENY_BLOCKS_AWS_SERVICES'])
  t.same(codes(vpceDeny({}, ['kms:DescribeKey', 'kms:PutKeyPolicy'])), [], 'administrative actions only: S3 never calls them')
  t.same(vpceDeny({ Bool: { 'aws:ViaAWSService': 'false' } }), [], 'exempting AWS services silences it')
  t.same(vpceDeny({ StringNotLike: { 'kms:ViaService': 's3.*.amazonaws.com' } }), [])
  const vpc = validatePolicy(policy(stmt(), { Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Encrypt', Resource: '*', Condition: { StringNotEqualsIfExists: { 'aws:SourceVpc': 'vpc-0123456789abcdef0' } } }))
  t.same(codes(vpc), ['VPCE_DENY_BLOCKS_AWS_SERVICES'])
  const allowOnlyVpce = validatePolicy(policy(stmt({ Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-0123456789abcdef0' } } })))
  t.same(allowOnlyVpce, [], 'the lint is about denies')
})

t.test('assertValidPolicy and formatFindings', async (t) => {
  const good = assertValidPolicy(policy(stmt()))
  t.same(good.document.Statement[0].Action, ['kms:Decrypt'])
  t.throws(() => assertValidPolicy(policy(stmt({ Principal: { AWS: 'arn:aws:iam::your-account-id:root' } }))), { code: 'POL_INVALID_POLICY', statusCode: 400 })
  try {
    assertValidPolicy('{"Version": "2012-10-17", "Statement": [')
    t.fail('should throw')
  } catch (err) {
    t.ok((err as { findings: Finding[] }).findings.length > 0, 'the error carries the findings')
  }
  const text = formatFindings(validatePolicy(policy(stmt({ Action: 'kms:Decrpyt' }))), 'key.json')
  t.match(text, /^key\.json:9:17 ERROR UNKNOWN_ACTION .*\(suggestion: kms:Decrypt\)$/)
})
