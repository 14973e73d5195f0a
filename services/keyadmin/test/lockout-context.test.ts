// Issue 22, row 9: keyadmin's lockout pre-check judges its own PutKeyPolicy with the context AWS
// fills for that call — aws:SourceIp, ec2:SourceInstanceARN (credentials from instance metadata),
// aws:userid — so it refuses (409) exactly what the lab's own lockout safety check refuses; and a
// Deny that would lock keyadmin out at another time, from elsewhere or after a tag change (a
// `DateGreaterThan aws:CurrentTime` 45 s ahead) passes with a SECURITY_WARNING at its line.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html (BypassPolicyLockoutSafetyCheck)
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html (aws:SourceIp, aws:userid, aws:CurrentTime)
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_ec2-sourceinstancearn
import t from 'tap'
import { PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { ACCOUNT, instance, startKeyadminInstance, startNetworkLab } from './network-helpers.js'

const lab = await startNetworkLab(t)
// Without the MFA path keyadmin puts key policies as its own role (instance credentials: the context
// this file is about); the role as defined holds no kms:PutKeyPolicy, so this deployment adds it.
await lab.invoke('iam', 'PutRolePolicy', {
  RoleName: 'kms-share-keyadmin', PolicyName: 'put-key-policies-itself',
  PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:PutKeyPolicy', Resource: '*' }] }),
}, 'admin')
const svc = await startKeyadminInstance(t, lab)
const me = instance(lab, 'keyadmin')
const ROLE = `arn:aws:iam::${ACCOUNT}:role/kms-share-keyadmin`

async function freshKey(): Promise<string> {
  const out = await svc.call('POST', '/keys', { description: 'lockout context test' })
  if (out.status !== 201) throw new Error(JSON.stringify(out.body))
  return out.body.keyId as string
}

const policyWith = (deny: object) => JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Sid: 'EnableIAMUserPermissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
    { Sid: 'Circumstantial', Effect: 'Deny', Principal: { AWS: ROLE }, Action: 'kms:PutKeyPolicy', Resource: '*', ...deny },
  ],
}, null, 2)

t.test("denies on the caller's address, instance and user id: refused first by keyadmin (409), as the lab refuses them", async (t) => {
  const cases: Record<string, object> = {
    'aws:SourceIp': { IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } },
    'ec2:SourceInstanceARN': { ArnEquals: { 'ec2:SourceInstanceARN': `arn:aws:ec2:${lab.region}:${ACCOUNT}:instance/${me.instanceId}` } },
    'aws:userid': { StringLike: { 'aws:userid': `*:${me.instanceId}` } },
  }
  for (const [key, condition] of Object.entries(cases)) {
    const keyId = await freshKey()
    const policy = policyWith({ Condition: condition })
    // The lab's own check (KMS's), with keyadmin's own credentials: this is what keyadmin must agree with.
    const direct = await svc.app.kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy })).then(() => 'applied', (err: Error) => err.name)
    t.equal(direct, 'MalformedPolicyDocumentException', `${key}: the lab refuses it (lockout safety check)`)
    const res = await svc.call('PUT', `/keys/${keyId}/policy`, { policy })
    t.equal(res.status, 409, `${key}: keyadmin refuses it first`)
    t.equal(res.body.code, 'KADM_POLICY_LOCKOUT')
    t.equal(res.body.lockout.decision, 'ExplicitlyDenied')
  }
})

t.test('a Deny that starts 45 s from now passes today with a SECURITY_WARNING at its line', async (t) => {
  const keyId = await freshKey()
  const later = new Date(Date.now() + 45_000).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const policy = policyWith({ Condition: { DateGreaterThan: { 'aws:CurrentTime': later } } })
  const res = await svc.call('PUT', `/keys/${keyId}/policy?dryRun=true`, { policy })
  t.equal(res.status, 200)
  t.equal(res.body.lockout.allowed, true, 'allowed now')
  const risk = res.body.findings.find((f: { code: string }) => f.code === 'LOCKOUT_RISK_CONDITIONAL_DENY')
  t.ok(risk, 'warned, not a silent pass')
  t.equal(risk.severity, 'SECURITY_WARNING')
  t.equal(risk.path, 'Statement[1].Condition.DateGreaterThan.aws:CurrentTime')
  t.equal(risk.line, policy.split('\n').findIndex((l) => l.includes('"aws:CurrentTime"')) + 1, 'at the condition key\'s line')
  t.match(risk.message, /depends on the time of the call/)
})

t.test('tags and network: warned; a circumstantial Deny that does not concern keyadmin is not', async (t) => {
  const keyId = await freshKey()
  const warned = async (deny: object) => {
    const res = await svc.call('PUT', `/keys/${keyId}/policy?dryRun=true`, { policy: policyWith(deny) })
    t.equal(res.status, 200)
    return res.body.findings.filter((f: { code: string }) => f.code === 'LOCKOUT_RISK_CONDITIONAL_DENY').map((f: { path: string }) => f.path)
  }
  t.same(await warned({ Condition: { StringEquals: { 'aws:ResourceTag/frozen': 'yes' } } }), ['Statement[1].Condition.StringEquals.aws:ResourceTag/frozen'])
  t.same(await warned({ Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-0123456789abcdef0' }, IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } } }).then((p: string[]) => p.sort()), [
    'Statement[1].Condition.IpAddress.aws:SourceIp', 'Statement[1].Condition.StringNotEquals.aws:SourceVpce',
  ])
  t.same(await warned({ Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/kms-share-downloader` }, Condition: { DateGreaterThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } } }), [], 'another role: no warning')
  t.same(await warned({ Action: 'kms:Decrypt', Condition: { DateGreaterThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } } }), [], 'another action: no warning')
})
