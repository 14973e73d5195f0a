// STS through the SDK: caller identities of every profile, GetSessionToken with a TOTP code from
// the lab's mfa/ folder, the MFA age reaching key-policy conditions, wrong codes refused.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-multifactorauthage
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { URI, type TOTP } from 'otpauth'
import { AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand, type GetSessionTokenCommandInput, STSClient } from '@aws-sdk/client-sts'
import { CreateKeyCommand, KMSClient, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms'
import { GetUserCommand, IAMClient } from '@aws-sdk/client-iam'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

// AssumeRole into the service roles as the admin: the seed's roles trust the account too (the stack's trust EC2 alone).
const lab = await startTestLab(t, WITHOUT_STACKS)
const sts = (profile: string) => new STSClient(lab.clientConfig(profile))
const totp = URI.parse(readFileSync(join(lab.mfaDir, 'userA.otpauth'), 'utf8').trim()) as TOTP
let lastStep = -Infinity
/** A code STS has not seen for the device yet (AWS takes each code once): the next 30-second step still accepted. */
async function freshCode(): Promise<string> {
  for (;;) {
    const now = Math.floor(Date.now() / 30_000)
    const step = Math.max(lastStep + 1, now - 1)
    if (step <= now + 1) {
      lastStep = step
      return totp.generate({ timestamp: step * 30_000 })
    }
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}
const serial = `arn:aws:iam::${lab.accountId}:mfa/userA`

t.test('every profile has the identity the design names', async (t) => {
  const expected: Record<string, string> = {
    admin: 'arn:aws:iam::111122223333:user/admin',
    userA: 'arn:aws:iam::111122223333:user/userA',
    workshop: 'arn:aws:sts::111122223333:assumed-role/KMSWorkshop-InstaceInitRole/i-0workshop1a2b3c4d5',
    uploader: 'arn:aws:sts::111122223333:assumed-role/kms-share-uploader/i-0upload7e5f4a3b21',
    downloader: 'arn:aws:sts::111122223333:assumed-role/kms-share-downloader/i-0download9c8d7e6f5',
    keyadmin: 'arn:aws:sts::111122223333:assumed-role/kms-share-keyadmin/i-0keyadmin4b3c2d1e0',
    auditor: 'arn:aws:sts::111122223333:assumed-role/kms-share-auditor/i-0auditor2f1e0d9c8',
  }
  for (const [profile, arn] of Object.entries(expected)) {
    const id = await sts(profile).send(new GetCallerIdentityCommand({}))
    t.equal(id.Arn, arn, profile)
    t.equal(id.Account, '111122223333')
    t.match(id.UserId, profile === 'admin' || profile === 'userA' ? /^AIDA[A-Z2-7]{17}$/ : /^AROA[A-Z2-7]{17}:i-0/)
  }
  const creds = readFileSync(lab.credentialsFile, 'utf8')
  t.match(creds, /\[workshop\]\naws_access_key_id = ASIA[A-Z2-7]{16}\naws_secret_access_key = \S{40}\naws_session_token = \S+/)
  t.match(creds, /\[admin\]\naws_access_key_id = AKIA[A-Z2-7]{16}\n/)
  t.match(readFileSync(lab.configFile, 'utf8'), /\[profile workshop\]\nregion = eu-west-1\noutput = json\n/)
  t.match(totp.toString(), /^otpauth:\/\/totp\/.*secret=[A-Z2-7]+.*algorithm=SHA1.*digits=6.*period=30/)
})

// The workshop's MFA statement with its mistakes fixed, plus an administrator statement so the
// key can be made; without the root grant, only the MFA condition decides for userA.
const mfaKeyPolicy = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:user/admin' }, Action: 'kms:*', Resource: '*' },
    {
      Sid: 'Allow for Use only within our Account',
      Effect: 'Allow',
      Principal: { AWS: ['arn:aws:iam::111122223333:user/userA'] },
      Action: ['kms:DeleteAlias', 'kms:DeleteImportedKeyMaterial', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'],
      Resource: '*',
      Condition: { NumericLessThan: { 'aws:MultiFactorAuthAge': '300' } },
    },
  ],
})

t.test('GetSessionToken with the TOTP code satisfies the MFA age condition', async (t) => {
  const admin = new KMSClient(lab.clientConfig('admin'))
  const key = await admin.send(new CreateKeyCommand({ Policy: mfaKeyPolicy, Description: 'mfa test' }))
  const keyId = key.KeyMetadata!.KeyId!

  const plain = new KMSClient(lab.clientConfig('userA'))
  await t.rejects(plain.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 })), {
    name: 'AccessDeniedException',
    message: /^User: arn:aws:iam::111122223333:user\/userA is not authorized to perform: kms:ScheduleKeyDeletion on resource: arn:aws:kms:eu-west-1:111122223333:key\//,
  })

  const session = await sts('userA').send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: await freshCode(), DurationSeconds: 900 }))
  const c = session.Credentials!
  t.match(c.AccessKeyId, /^ASIA/)
  t.ok(c.Expiration!.getTime() - Date.now() <= 900_000 + 5000 && c.Expiration!.getTime() - Date.now() > 800_000, 'DurationSeconds honoured')
  const mfaKms = new KMSClient({ region: lab.region, endpoint: lab.endpoint, maxAttempts: 1, credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } })
  const scheduled = await mfaKms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
  t.equal(scheduled.KeyState, 'PendingDeletion')

  const mfaSts = new STSClient({ region: lab.region, endpoint: lab.endpoint, maxAttempts: 1, credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } })
  t.equal((await mfaSts.send(new GetCallerIdentityCommand({}))).Arn, 'arn:aws:iam::111122223333:user/userA', 'a user session is still the user')
})

// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html ("You cannot call any IAM API operations unless MFA authentication information is included")
t.test('a session without MFA cannot call IAM; one with MFA can', async (t) => {
  const asSession = async (input: GetSessionTokenCommandInput) => {
    const c = (await sts('userA').send(new GetSessionTokenCommand(input))).Credentials!
    return new IAMClient({ region: lab.region, endpoint: lab.endpoint, maxAttempts: 1, credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } })
  }
  const plain = await asSession({})
  await t.rejects(plain.send(new GetUserCommand({ UserName: 'userA' })), { name: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.', $metadata: { httpStatusCode: 403 } })
  const withMfa = await asSession({ SerialNumber: serial, TokenCode: await freshCode() })
  t.equal((await withMfa.send(new GetUserCommand({ UserName: 'userA' }))).User!.UserName, 'userA')
})

t.test('a wrong code or someone else\'s device is refused', async (t) => {
  const good = await freshCode()
  const wrong = String((Number(good) + 500_000) % 1_000_000).padStart(6, '0')
  await t.rejects(sts('userA').send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: wrong })), {
    name: 'AccessDenied',
    message: /^MultiFactorAuthentication failed with invalid MFA one time pass code/,
    $metadata: { httpStatusCode: 403 },
  })
  await t.rejects(sts('admin').send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: good })), { name: 'AccessDenied' })
  await t.rejects(sts('workshop').send(new GetSessionTokenCommand({})), { name: 'AccessDenied' }, 'role sessions cannot call GetSessionToken')
})

t.test('AssumeRole: trust policy, duration, session identity', async (t) => {
  const roleArn = 'arn:aws:iam::111122223333:role/kms-share-auditor'
  const assumed = await sts('admin').send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'audit-test', DurationSeconds: 1200 }))
  t.equal(assumed.AssumedRoleUser!.Arn, 'arn:aws:sts::111122223333:assumed-role/kms-share-auditor/audit-test')
  const c = assumed.Credentials!
  t.ok(Math.abs(c.Expiration!.getTime() - Date.now() - 1_200_000) < 5000)
  const asRole = new STSClient({ region: lab.region, endpoint: lab.endpoint, maxAttempts: 1, credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } })
  t.equal((await asRole.send(new GetCallerIdentityCommand({}))).Arn, 'arn:aws:sts::111122223333:assumed-role/kms-share-auditor/audit-test')
  // The trust policy delegates to the account, and the uploader's identity policy grants no sts:AssumeRole.
  await t.rejects(sts('uploader').send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'nope' })), {
    name: 'AccessDenied',
    message: 'User: arn:aws:sts::111122223333:assumed-role/kms-share-uploader/i-0upload7e5f4a3b21 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/kms-share-auditor because no identity-based policy allows the sts:AssumeRole action',
    $metadata: { httpStatusCode: 403 },
  })
  await t.rejects(sts('admin').send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'x', DurationSeconds: 100 })), { name: 'ValidationError' })
})
