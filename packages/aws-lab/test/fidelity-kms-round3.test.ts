// KMS as AWS answers it, third round (issue 26): grants (who retires, case-insensitive constraint
// keys, DryRun, what a grant may hand on, operations a key can be granted, a token per CreateGrant),
// imported key material (the default expiration model, ValidTo's limit, key material ids, NEW_KEY_MATERIAL
// and on-demand rotation of imported keys) and AWS's sentences. The sentences marked "recorded" are
// AWS's answers in LocalStack's snapshot files (tests/aws/services/kms/test_kms.snapshot.json).
// https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html
// https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html
// https://docs.aws.amazon.com/kms/latest/developerguide/testing-permissions.html (DryRun)
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html (CreateGrant through a grant)
// https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html
// https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys-on-demand.html
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto'
import {
  CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DecryptCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, EncryptCommand,
  GenerateDataKeyCommand, GetParametersForImportCommand, ImportKeyMaterialCommand, KMSClient, ListGrantsCommand, RetireGrantCommand, RevokeGrantCommand,
  RotateKeyOnDemandCommand, type ImportKeyMaterialCommandInput,
} from '@aws-sdk/client-kms'
import t from 'tap'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const kms = (profile: string) => new KMSClient(lab.clientConfig(profile))
const admin = kms('admin')
const auditor = kms('auditor')
const keyadmin = kms('keyadmin')
const auditorRole = `arn:aws:iam::${lab.accountId}:role/kms-share-auditor`
const keyadminRole = `arn:aws:iam::${lab.accountId}:role/kms-share-keyadmin`
const newKey = async () => (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
const DRY_RUN = { name: 'DryRunOperationException', message: 'The request would have succeeded, but the DryRun option is set.', $metadata: { httpStatusCode: 400 } }

t.test('row 1: an administrator of the key\'s account retires a grant that names no retiring principal (by token, and by key and grant id)', async (t) => {
  const key = await newKey()
  const byToken = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'] }))
  await admin.send(new RetireGrantCommand({ GrantToken: byToken.GrantToken }))
  const byId = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'] }))
  const out = await admin.send(new RetireGrantCommand({ KeyId: key.Arn, GrantId: byId.GrantId }))
  t.equal(out.$metadata.httpStatusCode, 200)
  t.same((await admin.send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants, [], 'both grants are gone')
  // Neither grantee (without RetireGrant) nor a role without kms:RetireGrant may.
  const kept = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'] }))
  await t.rejects(auditor.send(new RetireGrantCommand({ GrantToken: kept.GrantToken })), {
    name: 'AccessDeniedException',
    message: `User: arn:aws:sts::${lab.accountId}:assumed-role/kms-share-auditor/i-0auditor2f1e0d9c8 is not authorized to perform: kms:RetireGrant on resource: ${key.Arn} because no identity-based policy allows the kms:RetireGrant action`,
  })
})

t.test('row 2: a grant constraint\'s keys are not case sensitive; its values are', async (t) => {
  const key = await newKey()
  await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Encrypt'], Constraints: { EncryptionContextSubset: { Purpose: 'probe' } } }))
  const out = await auditor.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x'), EncryptionContext: { purpose: 'probe' } }))
  t.equal(out.KeyId, key.Arn, 'purpose matches Purpose')
  await t.rejects(auditor.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x'), EncryptionContext: { purpose: 'Probe' } })), { name: 'AccessDeniedException' }, 'the value is compared exactly')
})

t.test('row 3: DryRun on CreateGrant, RevokeGrant, Encrypt and GenerateDataKey answers DryRunOperationException and changes nothing', async (t) => {
  const key = await newKey()
  await t.rejects(admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'], DryRun: true })), DRY_RUN)
  t.same((await admin.send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants, [], 'no grant was made')
  const grant = await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt'] }))
  await t.rejects(admin.send(new RevokeGrantCommand({ KeyId: key.KeyId, GrantId: grant.GrantId, DryRun: true })), DRY_RUN)
  t.equal((await admin.send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants?.length, 1, 'the grant is still there')
  await t.rejects(admin.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x'), DryRun: true })), DRY_RUN)
  await t.rejects(admin.send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: 'AES_256', DryRun: true })), DRY_RUN)
  // A dry run that would fail says why, as the call would.
  await t.rejects(keyadmin.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x'), DryRun: true })), { name: 'AccessDeniedException' })
})

t.test('row 4: CreateGrant held through a grant hands on no more than that grant holds', async (t) => {
  const key = await newKey()
  await admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['CreateGrant', 'Encrypt'] }))
  const denied = {
    name: 'AccessDeniedException',
    message: `User: arn:aws:sts::${lab.accountId}:assumed-role/kms-share-auditor/i-0auditor2f1e0d9c8 is not authorized to perform: kms:CreateGrant on resource: ${key.Arn} because no identity-based policy allows the kms:CreateGrant action`,
  }
  await t.rejects(auditor.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: keyadminRole, Operations: ['Decrypt'] })), denied, 'Decrypt is not the grant\'s to give')
  const ok = await auditor.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: keyadminRole, Operations: ['Encrypt'] }))
  t.match(ok.GrantId, /^[0-9a-f]{64}$/, 'Encrypt is')
})

t.test('row 23: a symmetric key cannot be granted Sign; a grant of CreateGrant alone is refused', async (t) => {
  const key = await newKey()
  await t.rejects(admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Sign'] })), { name: 'ValidationException', message: /^Grant operations \[Sign\] are not valid for / })
  // The sentence as AWS writes it (quoted in ansible/ansible#31960).
  await t.rejects(admin.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['CreateGrant'] })), { name: 'ValidationException', message: 'Grants must not contain only the CreateGrant operation.' })
})

t.test('row 27: CreateGrant retried with the same name and parameters returns the same grant with a new token, and each token works', async (t) => {
  const key = await newKey()
  const input = { KeyId: key.KeyId, GranteePrincipal: auditorRole, Operations: ['Decrypt' as const], Name: 'retried' }
  const first = await admin.send(new CreateGrantCommand(input))
  const again = await admin.send(new CreateGrantCommand(input))
  t.equal(again.GrantId, first.GrantId)
  t.not(again.GrantToken, first.GrantToken)
  await admin.send(new RetireGrantCommand({ GrantToken: again.GrantToken }))
  t.same((await admin.send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants, [])
})

t.test('row 28: ListGrants Limit=0 answers AWS\'s range sentence; Plaintext over 4096 bytes leaves its value out', async (t) => {
  const key = await newKey()
  await t.rejects(admin.send(new ListGrantsCommand({ KeyId: key.KeyId, Limit: 0 })), {
    name: 'ValidationException',
    message: "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
  })
  // recorded: test_plaintext_size_for_encrypt
  await t.rejects(admin.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.alloc(4097) })), {
    name: 'ValidationException',
    message: "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
  })
})

async function externalKey() {
  return (await admin.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'imported' }))).KeyMetadata!
}

async function importInto(keyId: string, extra: Partial<ImportKeyMaterialCommandInput> = {}, material = randomBytes(32)) {
  const params = await admin.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }))
  const wrapped = publicEncrypt({ key: createPublicKey({ key: Buffer.from(params.PublicKey!), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material)
  return admin.send(new ImportKeyMaterialCommand({ KeyId: keyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrapped, ...extra }))
}

t.test('rows 5 and 22: KEY_MATERIAL_EXPIRES is the default, so ValidTo is required; ValidTo at most 365 days ahead', async (t) => {
  const key = await externalKey()
  // recorded: test_import_key_symmetric#import-expiring-key-without-valid-to
  await t.rejects(importInto(key.KeyId!), { name: 'ValidationException', message: 'A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES', $metadata: { httpStatusCode: 400 } })
  await t.rejects(importInto(key.KeyId!, { ValidTo: new Date(Date.now() + 400 * 86_400_000) }), { name: 'ValidationException', message: /365 days/ })
  await importInto(key.KeyId!, { ValidTo: new Date(Date.now() + 300 * 86_400_000) })
  t.match((await admin.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata, { KeyState: 'Enabled', ExpirationModel: 'KEY_MATERIAL_EXPIRES' })
})

t.test('rows 19-21: key material ids; NEW_KEY_MATERIAL waits for RotateKeyOnDemand; on-demand rotation of imported keys', async (t) => {
  const native = await newKey()
  t.match(native.CurrentKeyMaterialId, /^[0-9a-f]{64}$/, 'AWS_KMS keys have a current material id')
  const blob = (await admin.send(new EncryptCommand({ KeyId: native.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob!
  t.equal((await admin.send(new DecryptCommand({ CiphertextBlob: blob }))).KeyMaterialId, native.CurrentKeyMaterialId, 'Decrypt names the material that decrypted')

  const key = await externalKey()
  t.equal(key.CurrentKeyMaterialId, undefined, 'no material yet, no id')
  // row 21 (b), recorded: test_rotate_key_on_demand_on_external_key_with_no_key_material
  await t.rejects(admin.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })), { name: 'KMSInvalidStateException', message: `${key.Arn} is pending import.` })
  const first = await importInto(key.KeyId!, { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })
  t.equal(first.KeyId, key.Arn)
  t.match(first.KeyMaterialId, /^[0-9a-f]{64}$/)
  t.equal((await admin.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.CurrentKeyMaterialId, first.KeyMaterialId)
  // row 21 (a), recorded: test_rotate_key_on_demand_raises_for_no_pending_key_material
  await t.rejects(admin.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })), { name: 'KMSInvalidStateException', message: `No available key material pending rotation for the key: ${key.Arn}.` })
  const old = (await admin.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('before') }))).CiphertextBlob!

  // row 20: new material is accepted and waits
  const second = await importInto(key.KeyId!, { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ImportType: 'NEW_KEY_MATERIAL' })
  t.not(second.KeyMaterialId, first.KeyMaterialId)
  t.equal((await admin.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.CurrentKeyMaterialId, first.KeyMaterialId, 'still the first until rotation')
  // recorded: test_import_key_material_raises_if_there_is_already_key_material_pending
  await t.rejects(importInto(key.KeyId!, { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ImportType: 'NEW_KEY_MATERIAL' }), {
    name: 'KMSInvalidStateException',
    message: new RegExp(`^New key material \\(id: [0-9a-f]{64}\\) cannot be imported into KMS key ${key.Arn}, because another key material \\(id: ${second.KeyMaterialId}\\) is pending rotation\\.$`),
  })
  // row 26: the answer names the key by ARN
  t.equal((await admin.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }))).KeyId, key.Arn)
  t.equal((await admin.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.CurrentKeyMaterialId, second.KeyMaterialId, 'rotated to the imported material')
  const fresh = await admin.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('after') }))
  t.equal((await admin.send(new DecryptCommand({ CiphertextBlob: fresh.CiphertextBlob }))).KeyMaterialId, second.KeyMaterialId)
  const before = await admin.send(new DecryptCommand({ CiphertextBlob: old }))
  t.equal(Buffer.from(before.Plaintext!).toString(), 'before')
  t.equal(before.KeyMaterialId, first.KeyMaterialId, 'old ciphertexts decrypt under the old material')

  // row 19: DeleteImportedKeyMaterial keeps CurrentKeyMaterialId (recorded: test_import_key_symmetric#describe-key-after-deleted-import)
  const deleted = await admin.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId }))
  t.same([deleted.KeyId, deleted.KeyMaterialId], [key.Arn, second.KeyMaterialId])
  t.match((await admin.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata, { KeyState: 'PendingImport', CurrentKeyMaterialId: second.KeyMaterialId })
})

t.test('rows 24 and 25: CreateAlias without the prefix is a ValidationException; another Region\'s key ARN is "Invalid arn <region>"', async (t) => {
  const key = await newKey()
  // recorded: test_create_alias
  await t.rejects(admin.send(new CreateAliasCommand({ AliasName: 'noprefix', TargetKeyId: key.KeyId })), {
    name: 'ValidationException',
    message: 'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
  })
  // recorded: test_get_key_in_different_region#describe-key-diff-region-with-arn
  await t.rejects(admin.send(new DescribeKeyCommand({ KeyId: key.Arn!.replace(lab.region, 'us-west-2') })), { name: 'NotFoundException', message: 'Invalid arn us-west-2' })
})

t.test('row 28: the on-demand rotation limit in AWS\'s words', async (t) => {
  const key = await newKey()
  for (let i = 0; i < 10; i++) await admin.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }))
  // recorded: test_key_rotations_limits
  await t.rejects(admin.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })), {
    name: 'LimitExceededException',
    message: `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${key.Arn}`,
  })
})
