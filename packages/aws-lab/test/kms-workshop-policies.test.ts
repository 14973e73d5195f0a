// The workshop's key policies (packages/policy/test/fixtures/seed-policies, placeholders filled)
// installed with PutKeyPolicy on fresh keys and exercised through the SDK as the workshop role.
import { readFileSync } from 'node:fs'
import { CreateKeyCommand, EncryptCommand, GenerateDataKeyCommand, GetKeyPolicyCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import t from 'tap'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const client = (profile: string) => new KMSClient({ endpoint: lab.endpoint, region: lab.region, credentials: lab.profiles()[profile], maxAttempts: 1 })
const admin = client('admin')
const workshop = client('workshop')
const workshopSession = lab.callerFor('workshop').principal.arn

/** A workshop policy with its placeholder account ids (both spellings) replaced by the lab's. */
function workshopPolicy(name: string): string {
  const text = readFileSync(new URL(`../../policy/test/fixtures/seed-policies/${name}.json`, import.meta.url), 'utf8')
  return text.replaceAll('your-acount-id', lab.accountId).replaceAll('your-account-id', lab.accountId)
}

async function keyWith(name: string, bypass = false) {
  const md = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  await admin.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: workshopPolicy(name), BypassPolicyLockoutSafetyCheck: bypass }))
  return md
}

t.test('default-key-policy: IAM policies decide through the root delegation', async (t) => {
  const md = await keyWith('default-key-policy')
  t.ok((await workshop.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob)
  t.equal((await admin.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, workshopPolicy('default-key-policy'), 'stored verbatim')
})

t.test('account-only-caller-account: kms:CallerAccount matches the lab account', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account
  const md = await keyWith('account-only-caller-account')
  t.ok((await workshop.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256' }))).CiphertextBlob)
})

t.test('role-only-notprincipal-deny: the lockout check refuses it, and with the bypass it denies the role\'s own session', async (t) => {
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
  const md = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  await t.rejects(admin.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: workshopPolicy('role-only-notprincipal-deny') })), {
    name: 'MalformedPolicyDocumentException',
    message: 'The new key policy will not allow you to update the key policy in the future.',
  })
  const locked = await keyWith('role-only-notprincipal-deny', true)
  await t.rejects(workshop.send(new EncryptCommand({ KeyId: locked.KeyId, Plaintext: Buffer.from('x') })), {
    name: 'AccessDeniedException',
    message: `User: ${workshopSession} is not authorized to perform: kms:Encrypt on resource: ${locked.Arn} with an explicit deny in a resource-based policy`,
  })
})

t.test('vpce-only-data-operations: generate-data-key outside the endpoint is an explicit deny; others are unaffected', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/conditions-aws.html (aws:SourceVpce)
  const md = await keyWith('vpce-only-data-operations')
  await t.rejects(workshop.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256' })), {
    name: 'AccessDeniedException',
    message: `User: ${workshopSession} is not authorized to perform: kms:GenerateDataKey on resource: ${md.Arn} with an explicit deny in a resource-based policy`,
  })
  t.ok((await admin.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256' }))).CiphertextBlob, 'the deny names only the role')
})

t.test('mfa-sensitive-operations: its trailing comma makes it invalid JSON, as AWS would refuse it', async (t) => {
  const md = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  await t.rejects(admin.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: workshopPolicy('mfa-sensitive-operations') })), {
    name: 'MalformedPolicyDocumentException',
    message: /Trailing comma at line 18/,
  })
})
