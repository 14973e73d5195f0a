// The KMS model below the wire: what each operation asks the core to authorise, state over
// time (deletion windows, automatic rotation, material expiry) and CloudTrail parameters.
// Runs the operations with a small OperationContext over a real FileStateStore; the core's
// evaluation is reproduced with @kms-share/policy's evaluate, as the router does it.
import { constants, createPublicKey, publicEncrypt } from 'node:crypto'
import { evaluate, type NamedPolicy } from '@kms-share/policy'
import t, { type Test } from 'tap'
import { FileStateStore } from '../src/core/store.js'
import { AwsError, type Caller, type OperationContext } from '../src/core/types.js'
import { parseBlob } from '../src/kms/crypto.js'
import { addKey, kmsState } from '../src/kms/model.js'
import { createKmsService, kmsRequestParameters } from '../src/kms/service.js'

const ACCOUNT = '111122223333'
const REGION = 'eu-west-1'
const DAY = 24 * 3600 * 1000
const kms = createKmsService()

const adminPolicy: NamedPolicy = { name: 'AdministratorAccess', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['*'], Resource: ['*'] }] } }

function userCaller(name: string, policies: NamedPolicy[]): Caller {
  return {
    principal: { arn: `arn:aws:iam::${ACCOUNT}:user/${name}`, type: 'user', accountId: ACCOUNT },
    accessKeyId: `AKIA${name.toUpperCase().padEnd(16, 'X')}`,
    userId: `AIDA${name.toUpperCase()}`,
    userName: name,
    mfaAuthenticated: false,
    identityPolicies: policies,
  }
}

function lab(t: Test) {
  const state = new FileStateStore(t.testdir())
  let clock = Date.parse('2026-11-28T12:00:00Z')
  const known = new Set([`arn:aws:iam::${ACCOUNT}:root`, `arn:aws:iam::${ACCOUNT}:user/admin`, `arn:aws:iam::${ACCOUNT}:user/other`])
  const ctxFor = (caller: Caller): OperationContext => ({
    caller,
    meta: { requestId: 'r', time: new Date(clock), sourceIp: '127.0.0.1', userAgent: 'test', secureTransport: false, region: REGION },
    state,
    iam: { accountId: ACCOUNT, principalExists: (arn) => known.has(arn) },
    invoke: () => Promise.reject(new Error('not used')),
  })
  const admin = userCaller('admin', [adminPolicy])
  async function call(operation: string, input: any, caller: Caller = admin): Promise<any> {
    const op = kms.operations[operation]
    const ctx = ctxFor(caller)
    for (const check of await op.authorize(input, ctx)) {
      const result = evaluate({
        request: { principal: caller.principal, action: check.action, resource: check.resource, context: check.context ?? {} },
        identityPolicies: caller.identityPolicies,
        resourcePolicy: check.resourcePolicy,
        resourceAccount: check.resourceAccount,
        resourcePolicyRequired: check.resourcePolicyRequired,
      })
      if (result.decision !== 'Allowed') throw new AwsError('AccessDeniedException', `denied ${check.action} on ${check.resource}`)
    }
    return op.run(input, ctx)
  }
  const checks = async (operation: string, input: any) => kms.operations[operation].authorize(input, ctxFor(admin))
  return { state, call, checks, admin, advance: (ms: number) => (clock += ms), now: () => clock }
}

const b64 = (s: string) => Buffer.from(s).toString('base64')

t.test('CreateKey stores the default key policy in the exact text AWS returns', async (t) => {
  const { call } = lab(t)
  const { KeyMetadata: md } = await call('CreateKey', { Description: 'files' })
  const { Policy } = await call('GetKeyPolicy', { KeyId: md.KeyId })
  t.equal(
    Policy,
    `{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n      "AWS" : "arn:aws:iam::${ACCOUNT}:root"\n    },\n    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}`,
  )
  t.match(md, { AWSAccountId: ACCOUNT, Arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${md.KeyId}`, KeyState: 'Enabled', Enabled: true, Origin: 'AWS_KMS', KeyManager: 'CUSTOMER', KeySpec: 'SYMMETRIC_DEFAULT', MultiRegion: false })
})

t.test('authorize: key ARN, key policy required, context from request, key and alias', async (t) => {
  const { call, checks } = lab(t)
  const { KeyMetadata: md } = await call('CreateKey', { Tags: [{ TagKey: 'team', TagValue: 'files' }] })
  await call('CreateAlias', { AliasName: 'alias/files', TargetKeyId: md.KeyId })
  const [enc] = await checks('Encrypt', { KeyId: 'alias/files', Plaintext: b64('x'), EncryptionContext: { dept: 'a', app: 'b' } })
  t.match(enc, { action: 'kms:Encrypt', resource: md.Arn, resourcePolicyRequired: true, resourceAccount: ACCOUNT, resourcePolicy: { name: `key-policy/${md.KeyId}` } })
  t.match(enc.context, {
    'kms:EncryptionContext:dept': 'a',
    'kms:EncryptionContext:app': 'b',
    'kms:EncryptionContextKeys': ['dept', 'app'],
    'kms:RequestAlias': 'alias/files',
    'kms:KeyOrigin': 'AWS_KMS',
    'kms:KeySpec': 'SYMMETRIC_DEFAULT',
    'kms:KeyUsage': 'ENCRYPT_DECRYPT',
    'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT',
    'aws:ResourceTag/team': 'files',
  })

  const alias = await checks('CreateAlias', { AliasName: 'alias/second', TargetKeyId: md.KeyId })
  t.same(alias.map((c) => [c.action, c.resource, Boolean(c.resourcePolicy)]), [
    ['kms:CreateAlias', `arn:aws:kms:${REGION}:${ACCOUNT}:alias/second`, false],
    ['kms:CreateAlias', md.Arn, true],
  ], 'CreateAlias asks on the alias (IAM) and on the key (key policy)')

  const { KeyMetadata: other } = await call('CreateKey', {})
  const upd = await checks('UpdateAlias', { AliasName: 'alias/files', TargetKeyId: other.KeyId })
  t.same(upd.map((c) => c.resource), [`arn:aws:kms:${REGION}:${ACCOUNT}:alias/files`, md.Arn, other.Arn], 'UpdateAlias: alias, old key, new key')

  const { CiphertextBlob } = await call('Encrypt', { KeyId: md.KeyId, Plaintext: b64('x') })
  const re = await checks('ReEncrypt', { CiphertextBlob, DestinationKeyId: other.Arn, DestinationEncryptionContext: { to: 'y' } })
  t.same(re.map((c) => [c.action, c.resource]), [['kms:ReEncryptFrom', md.Arn], ['kms:ReEncryptTo', other.Arn]])
  t.equal(re[1].context?.['kms:EncryptionContext:to'], 'y')

  const [tag] = await checks('TagResource', { KeyId: md.KeyId, Tags: [{ TagKey: 'env', TagValue: 'prod' }] })
  t.match(tag.context, { 'aws:RequestTag/env': 'prod', 'aws:TagKeys': ['env'] })
  const [create] = await checks('CreateKey', { Origin: 'EXTERNAL', Tags: [{ TagKey: 'a', TagValue: 'b' }], BypassPolicyLockoutSafetyCheck: true })
  t.match(create, { action: 'kms:CreateKey', resource: '*' })
  t.notOk(create.resourcePolicy)
  t.match(create.context, { 'kms:KeyOrigin': 'EXTERNAL', 'aws:RequestTag/a': 'b', 'kms:BypassPolicyLockoutSafetyCheck': 'true' })
  const [random] = await checks('GenerateRandom', { NumberOfBytes: 8 })
  t.equal(random.resource, '*')
})

t.test('an unknown key is NotFoundException before any authorisation question', async (t) => {
  const { checks } = lab(t)
  await t.rejects(checks('Encrypt', { KeyId: '11111111-2222-3333-4444-555555555555', Plaintext: b64('x') }), {
    name: 'NotFoundException',
    message: `Key 'arn:aws:kms:${REGION}:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555' does not exist`,
  })
  await t.rejects(checks('Encrypt', { KeyId: 'alias/nope', Plaintext: b64('x') }), { name: 'NotFoundException', message: `Alias arn:aws:kms:${REGION}:${ACCOUNT}:alias/nope is not found.` })
  await t.rejects(checks('DescribeKey', { KeyId: `arn:aws:kms:us-east-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555` }), { name: 'NotFoundException' }, 'wrong region')
  await t.rejects(checks('DescribeKey', { KeyId: `arn:aws:kms:${REGION}:444455556666:key/11111111-2222-3333-4444-555555555555` }), { name: 'NotFoundException' }, 'wrong account')
})

t.test('time: deletion after the waiting period, automatic rotation, imported material expiry', async (t) => {
  const { call, advance, now } = lab(t)
  const { KeyMetadata: doomed } = await call('CreateKey', {})
  const scheduled = await call('ScheduleKeyDeletion', { KeyId: doomed.KeyId, PendingWindowInDays: 7 })
  t.equal(scheduled.DeletionDate, (now() + 7 * DAY) / 1000)

  const { KeyMetadata: rotating } = await call('CreateKey', {})
  const old = await call('Encrypt', { KeyId: rotating.KeyId, Plaintext: b64('before rotation') })
  await call('EnableKeyRotation', { KeyId: rotating.KeyId, RotationPeriodInDays: 90 })

  advance(6 * DAY)
  t.match((await call('DescribeKey', { KeyId: doomed.KeyId })).KeyMetadata, { KeyState: 'PendingDeletion' })
  advance(1 * DAY)
  await t.rejects(call('DescribeKey', { KeyId: doomed.KeyId }), { name: 'NotFoundException' }, 'gone after 7 days')

  advance(90 * DAY)
  const { Rotations } = await call('ListKeyRotations', { KeyId: rotating.KeyId })
  t.equal(Rotations.length, 1)
  t.equal(Rotations[0].RotationType, 'AUTOMATIC')
  const fresh = await call('Encrypt', { KeyId: rotating.KeyId, Plaintext: b64('after rotation') })
  t.equal(parseBlob(Buffer.from(fresh.CiphertextBlob, 'base64'))!.materialVersion, 1, 'new material encrypts')
  t.equal(Buffer.from((await call('Decrypt', { CiphertextBlob: old.CiphertextBlob })).Plaintext, 'base64').toString(), 'before rotation', 'old material still decrypts')

  const { KeyMetadata: imported } = await call('CreateKey', { Origin: 'EXTERNAL' })
  const params = await call('GetParametersForImport', { KeyId: imported.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })
  const material = Buffer.alloc(32, 9)
  const wrapped = publicEncrypt({ key: createPublicKey({ key: Buffer.from(params.PublicKey, 'base64'), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material)
  await call('ImportKeyMaterial', { KeyId: imported.KeyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrapped.toString('base64'), ValidTo: (now() + 2 * DAY) / 1000 })
  t.match((await call('DescribeKey', { KeyId: imported.KeyId })).KeyMetadata, { KeyState: 'Enabled', ExpirationModel: 'KEY_MATERIAL_EXPIRES' })
  advance(2 * DAY)
  t.match((await call('DescribeKey', { KeyId: imported.KeyId })).KeyMetadata, { KeyState: 'PendingImport' }, 'material expired')
  await t.rejects(call('Encrypt', { KeyId: imported.KeyId, Plaintext: b64('x') }), { name: 'KMSInvalidStateException', message: `${imported.Arn} is pending import.` })
})

t.test('an AWS managed key added by another service describes itself as such', async (t) => {
  const { call, state } = lab(t)
  const key = addKey(kmsState(state), { accountId: ACCOUNT, region: REGION, keyManager: 'AWS' })
  t.equal((await call('DescribeKey', { KeyId: key.keyId })).KeyMetadata.KeyManager, 'AWS')
  const { KeyMetadata } = await call('CreateKey', {})
  t.equal(KeyMetadata.KeyManager, 'CUSTOMER')
})

t.test('key state persists through the state file', async (t) => {
  const { call, state } = lab(t)
  const { KeyMetadata: md } = await call('CreateKey', {})
  await call('DisableKey', { KeyId: md.KeyId })
  const reread = new FileStateStore(state.dataDir)
  t.equal(kmsState(reread).keys[md.KeyId].state, 'Disabled')
})

t.test('CloudTrail requestParameters are camelCase and never carry plaintext or ciphertext', async (t) => {
  t.same(kmsRequestParameters({ KeyId: 'k', Plaintext: 'c2VjcmV0', EncryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::b/k', 'Dept': 'x' }, KeySpec: 'AES_256' }), {
    keyId: 'k',
    encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::b/k', 'Dept': 'x' },
    keySpec: 'AES_256',
  })
  t.same(kmsRequestParameters({ CiphertextBlob: 'AAAA', EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }), { encryptionAlgorithm: 'SYMMETRIC_DEFAULT' })
  t.same(kmsRequestParameters({ KeyId: 'k', Tags: [{ TagKey: 'a', TagValue: 'b' }] }), { keyId: 'k', tags: [{ tagKey: 'a', tagValue: 'b' }] })
  t.same(kmsRequestParameters({ KeyId: 'k', ImportToken: 'x', EncryptedKeyMaterial: 'y', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), { keyId: 'k', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })
  for (const [name, op] of Object.entries(kms.operations)) {
    if (/^(Describe|List|Get)/.test(name)) t.equal(op.readOnly, true, `${name} is read-only`)
  }
  t.notOk(kms.operations.PutKeyPolicy.readOnly)
})

t.test('lockout check judges the new policy with the caller\'s identity policies', async (t) => {
  const { call } = lab(t)
  const { KeyMetadata: md } = await call('CreateKey', {})
  const onlyOther = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/other` }, Action: 'kms:*', Resource: '*' }] })
  await t.rejects(call('PutKeyPolicy', { KeyId: md.KeyId, PolicyName: 'default', Policy: onlyOther }), {
    name: 'MalformedPolicyDocumentException',
    message: 'The new key policy will not allow you to update the key policy in the future.',
  })
  const unknown = onlyOther.replace('user/other', 'user/nobody')
  await t.rejects(call('PutKeyPolicy', { KeyId: md.KeyId, Policy: unknown, BypassPolicyLockoutSafetyCheck: true }), {
    name: 'MalformedPolicyDocumentException',
    message: 'Policy contains a statement with one or more invalid principals.',
  })
  await call('PutKeyPolicy', { KeyId: md.KeyId, Policy: onlyOther, BypassPolicyLockoutSafetyCheck: true })
  await t.rejects(call('GetKeyPolicy', { KeyId: md.KeyId }), { name: 'AccessDeniedException' }, 'the admin is now locked out, as warned')
})
