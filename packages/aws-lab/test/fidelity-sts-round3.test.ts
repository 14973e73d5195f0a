// STS as AWS answers it, third round (issue 26 rows 17, 18, 28): malformed input is a 400
// ValidationError naming the invalid value, before any authorisation question; role chaining's limit
// in AWS's words. "recorded" = AWS's answer in LocalStack's tests/aws/services/sts/test_sts.snapshot.json.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam'
import { AssumeRoleCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts'
import t from 'tap'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const sts = (profile: string) => new STSClient(lab.clientConfig(profile))
const invalid = (message: string) => ({ name: 'ValidationError', message, $metadata: { httpStatusCode: 400 } })

t.test('row 17: AssumeRole with a malformed RoleArn or RoleSessionName is a 400 ValidationError, even for a caller who may assume nothing', async (t) => {
  for (const profile of ['admin', 'auditor']) {
    // recorded: test_sts_invalid_parameters#malformed-arn, #no-partition
    await t.rejects(sts(profile).send(new AssumeRoleCommand({ RoleArn: 'nothing-valid-in-here', RoleSessionName: 'Session1' })), invalid('nothing-valid-in-here is invalid'))
    await t.rejects(sts(profile).send(new AssumeRoleCommand({ RoleArn: 'arn::b:::something/test-role', RoleSessionName: 'Session1' })), invalid('arn::b:::something/test-role is invalid'))
    // recorded: #invalid-session-name
    await t.rejects(
      sts(profile).send(new AssumeRoleCommand({ RoleArn: 'arn:a:b:::something/test-role', RoleSessionName: 'Session1:2' })),
      invalid("1 validation error detected: Value 'Session1:2' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"),
    )
  }
  // A well-formed ARN of a role the caller may not assume is still AccessDenied.
  await t.rejects(sts('auditor').send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${lab.accountId}:role/kms-share-keyadmin`, RoleSessionName: 'ok' })), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })
})

t.test('row 18: GetSessionToken checks TokenCode (6 digits) and SerialNumber (9 or more characters) before the MFA device', async (t) => {
  const userA = sts('userA')
  await t.rejects(userA.send(new GetSessionTokenCommand({ SerialNumber: `arn:aws:iam::${lab.accountId}:mfa/userA`, TokenCode: '12' })),
    invalid("1 validation error detected: Value '12' at 'tokenCode' failed to satisfy constraint: Member must have length greater than or equal to 6"))
  await t.rejects(userA.send(new GetSessionTokenCommand({ SerialNumber: `arn:aws:iam::${lab.accountId}:mfa/userA`, TokenCode: 'abcdef' })),
    invalid("1 validation error detected: Value 'abcdef' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]*"))
  await t.rejects(userA.send(new GetSessionTokenCommand({ SerialNumber: 'bad', TokenCode: '123456' })),
    invalid("1 validation error detected: Value 'bad' at 'serialNumber' failed to satisfy constraint: Member must have length greater than or equal to 9"))
  await t.rejects(userA.send(new GetSessionTokenCommand({ SerialNumber: 'bad', TokenCode: '12' })),
    invalid("2 validation errors detected: Value 'bad' at 'serialNumber' failed to satisfy constraint: Member must have length greater than or equal to 9; Value '12' at 'tokenCode' failed to satisfy constraint: Member must have length greater than or equal to 6"))
})

t.test('row 28: a chained AssumeRole over an hour is refused in AWS\'s words', async (t) => {
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: lab.accountId }, Action: 'sts:AssumeRole' }] })
  const iam = new IAMClient(lab.clientConfig('admin'))
  const role = (await iam.send(new CreateRoleCommand({ RoleName: 'chain-target', AssumeRolePolicyDocument: trust, MaxSessionDuration: 43200 }))).Role!
  await iam.send(new PutRolePolicyCommand({ RoleName: 'chain-target', PolicyName: 'assume', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }) }))
  const first = (await sts('admin').send(new AssumeRoleCommand({ RoleArn: role.Arn, RoleSessionName: 'first', DurationSeconds: 7200 }))).Credentials!
  t.ok(first.Expiration!.getTime() - Date.now() > 3600_000, 'from a user, two hours are fine')
  // Assuming a role with a role session's credentials is role chaining.
  const credentials = { accessKeyId: first.AccessKeyId!, secretAccessKey: first.SecretAccessKey!, sessionToken: first.SessionToken! }
  const chained = new STSClient(lab.clientConfig('admin', { credentials })).send(new AssumeRoleCommand({ RoleArn: role.Arn, RoleSessionName: 'chained', DurationSeconds: 7200 }))
  await t.rejects(chained, invalid('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.'))
})
