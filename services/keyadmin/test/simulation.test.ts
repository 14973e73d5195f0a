// The pieces simulation and the lockout check rest on, without a lab: caller ARNs, the context AWS
// fills (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html),
// refusal of keys AWS never sets, and the line diff.
import t from 'tap'
import { identityFromArn } from '../src/plugins/aws.js'
import { awsFilledContext, checkContextKeys, kmsAction, mergeContext, simulatedPrincipal } from '../src/simulation.js'
import { diffLines, unifiedDiff } from '../src/diff.js'

const ACCT = '111122223333'

t.test('caller ARNs from STS GetCallerIdentity', async (t) => {
  t.match(identityFromArn(`arn:aws:sts::${ACCT}:assumed-role/kms-share-keyadmin/i-0abc`), { type: 'assumed-role', roleName: 'kms-share-keyadmin', principalArn: `arn:aws:iam::${ACCT}:role/kms-share-keyadmin`, accountId: ACCT })
  t.match(identityFromArn(`arn:aws:iam::${ACCT}:user/userA`), { type: 'user', userName: 'userA', principalArn: `arn:aws:iam::${ACCT}:user/userA` })
  t.match(identityFromArn(`arn:aws:iam::${ACCT}:root`), { type: 'root' })
  t.throws(() => identityFromArn('not-an-arn'))
})

t.test('principals as written in policies', async (t) => {
  t.match(simulatedPrincipal(ACCT, ACCT), { principal: { type: 'root', arn: `arn:aws:iam::${ACCT}:root` } })
  const role = simulatedPrincipal(`arn:aws:iam::${ACCT}:role/path/kms-share-uploader`, ACCT)
  t.match(role, { principal: { type: 'assumed-role', roleArn: `arn:aws:iam::${ACCT}:role/path/kms-share-uploader` }, iamEntity: { kind: 'role', name: 'kms-share-uploader' } })
  t.match(simulatedPrincipal(`arn:aws:iam::${ACCT}:user/userA`, ACCT), { iamEntity: { kind: 'user', name: 'userA' } })
  t.equal(simulatedPrincipal('arn:aws:iam::444455556666:role/x', ACCT)?.iamEntity, undefined, 'another account: no IAM to read')
  t.equal(simulatedPrincipal('kms-share-uploader', ACCT), undefined)
})

t.test('the context AWS fills', async (t) => {
  const role = simulatedPrincipal(`arn:aws:iam::${ACCT}:role/kms-share-uploader`, ACCT)!.principal
  const direct = awsFilledContext(role, { region: 'eu-west-1', now: new Date('2026-01-02T03:04:05.678Z') })
  t.equal(direct['aws:PrincipalArn'], `arn:aws:iam::${ACCT}:role/kms-share-uploader`, "a session's aws:PrincipalArn is its role")
  t.equal(direct['kms:CallerAccount'], ACCT)
  t.equal(direct['aws:PrincipalType'], 'AssumedRole')
  t.equal(direct['aws:MultiFactorAuthPresent'], 'false', 'temporary credentials without MFA')
  t.equal(direct['aws:CurrentTime'], '2026-01-02T03:04:05Z')
  t.equal(direct['aws:ViaAWSService'], 'false')
  t.notOk('kms:ViaService' in direct)
  const viaS3 = awsFilledContext(role, { region: 'eu-west-1', viaS3: true, sourceVpce: 'vpce-0123456789abcdef0' })
  t.equal(viaS3['kms:ViaService'], 's3.eu-west-1.amazonaws.com')
  t.same(viaS3['aws:CalledVia'], ['s3.amazonaws.com'])
  t.notOk('aws:SourceVpce' in viaS3, 'S3 calling KMS does not carry the caller’s endpoint')
  const user = simulatedPrincipal(`arn:aws:iam::${ACCT}:user/userA`, ACCT)!.principal
  t.notOk('aws:MultiFactorAuthPresent' in awsFilledContext(user, { region: 'eu-west-1' }), 'long-term keys carry no MFA key')
  t.equal(awsFilledContext(user, { region: 'eu-west-1', mfaAgeSeconds: 12 })['aws:MultiFactorAuthAge'], '12')
  t.same(mergeContext({ 'kms:CallerAccount': ACCT, 'aws:SecureTransport': 'true' }, { 'KMS:calleraccount': '444455556666' }), { 'aws:SecureTransport': 'true', 'KMS:calleraccount': '444455556666' }, 'given keys win, case-insensitively')
})

t.test('keys and actions AWS never sets are refused with a did-you-mean', async (t) => {
  t.same(checkContextKeys({ 'kms:EncryptionContext:aws:s3:arn': 'arn:aws:s3:::b/k', 'aws:SourceVpce': 'vpce-1', 'aws:MultiFactorAuthAge': 30 }), { 'kms:EncryptionContext:aws:s3:arn': 'arn:aws:s3:::b/k', 'aws:SourceVpce': 'vpce-1', 'aws:MultiFactorAuthAge': '30' })
  t.throws(() => checkContextKeys({ 'kms:CallerAcount': ACCT }), { code: 'KADM_UNKNOWN_CONTEXT_KEY', message: /did you mean kms:CallerAccount\?/ })
  t.throws(() => checkContextKeys({ 'aws:MultiFactorAuthAgee': '1' }), { message: /did you mean aws:MultiFactorAuthAge\?/ })
  t.throws(() => checkContextKeys({ 's3:x-amz-acl': 'private' }), { message: /AWS never sets it on a KMS request/ })
  t.throws(() => checkContextKeys({ 'kms:CallerAccount': { nested: true } }), { code: 'KADM_SIMULATE_INPUT' })
  t.equal(kmsAction('kms:decrypt'), 'kms:Decrypt')
  t.throws(() => kmsAction('kms:ReEncrypt*'), { message: /without wildcards/ })
  t.throws(() => kmsAction('s3:GetObject'), { message: /not a KMS action/ })
})

t.test('line diff', async (t) => {
  t.same(diffLines('a\nb\nc\n', 'a\nB\nc\nd\n').map((l) => `${l.op}${l.text}`), [' a', '-b', '+B', ' c', '+d'])
  t.equal(unifiedDiff('x', 'x'), '--- current\n+++ proposed\n x\n')
})
