// Imported key material through the real lab with @aws-sdk/client-kms: GetParametersForImport,
// wrapping with node:crypto as the workshop does with openssl, ImportKeyMaterial, deletion and
// re-import of the same material, and no automatic rotation for EXTERNAL keys. A fresh key per test.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto'
import {
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GetKeyRotationStatusCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import t from 'tap'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const kms = new KMSClient({ endpoint: lab.endpoint, region: lab.region, credentials: lab.profiles().admin, maxAttempts: 1 })

type Algorithm = 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256' | 'RSA_AES_KEY_WRAP_SHA_1' | 'RSA_AES_KEY_WRAP_SHA_256'

async function externalKey() {
  return (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'imported' }))).KeyMetadata!
}

/** Wraps material the way AWS's import guide says, with node:crypto in place of openssl. */
function wrap(publicKeyDer: Uint8Array, algorithm: Algorithm, material: Buffer): Buffer {
  const key = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' })
  const oaepHash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256'
  if (algorithm.startsWith('RSAES_OAEP')) return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, material)
  const aesKey = randomBytes(32)
  const cipher = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'))
  return Buffer.concat([publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, aesKey), cipher.update(material), cipher.final()])
}

async function importMaterial(keyId: string, material: Buffer, algorithm: Algorithm = 'RSAES_OAEP_SHA_256', extra: Partial<ConstructorParameters<typeof ImportKeyMaterialCommand>[0]> = {}) {
  const params = await kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: 'RSA_2048' }))
  return kms.send(new ImportKeyMaterialCommand({ KeyId: keyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrap(params.PublicKey!, algorithm, material), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ...extra }))
}

t.test('lifecycle: PendingImport → import → Enabled → delete material → PendingImport → same material again', async (t) => {
  const md = await externalKey()
  t.match(md, { KeyState: 'PendingImport', Origin: 'EXTERNAL' })
  await t.rejects(kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') })), { name: 'KMSInvalidStateException', message: `${md.Arn} is pending import.` })

  const params = await kms.send(new GetParametersForImportCommand({ KeyId: md.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }))
  t.equal(params.KeyId, md.Arn)
  t.equal(createPublicKey({ key: Buffer.from(params.PublicKey!), format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength, 2048, 'PublicKey is a DER SPKI RSA-2048 key')
  const hours = (params.ParametersValidTo!.getTime() - Date.now()) / 3_600_000
  t.ok(hours > 23.9 && hours < 24.1, 'valid for 24 hours')

  const material = randomBytes(32)
  await kms.send(new ImportKeyMaterialCommand({ KeyId: md.KeyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrap(params.PublicKey!, 'RSAES_OAEP_SHA_256', material), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }))
  t.match((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata, { KeyState: 'Enabled', Enabled: true, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })
  const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('under imported material') }))

  await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: md.KeyId }))
  t.match((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata, { KeyState: 'PendingImport', Enabled: false })
  await t.rejects(kms.send(new DecryptCommand({ CiphertextBlob })), { name: 'KMSInvalidStateException' }, 'nothing decrypts without material')

  await t.rejects(importMaterial(md.KeyId!, randomBytes(32)), { name: 'IncorrectKeyMaterialException' }, 'other material is refused')
  await importMaterial(md.KeyId!, material)
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob }))
  t.equal(Buffer.from(dec.Plaintext!).toString(), 'under imported material', 'old ciphertext decrypts after re-import')
})

for (const algorithm of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'] as const) {
  t.test(`wrapping algorithm ${algorithm}`, async (t) => {
    const md = await externalKey()
    await importMaterial(md.KeyId!, randomBytes(32), algorithm)
    t.match((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata, { KeyState: 'Enabled' })
  })
}

t.test('ValidTo and ExpirationModel', async (t) => {
  const md = await externalKey()
  const validTo = new Date(Date.now() + 3 * 86_400_000)
  await importMaterial(md.KeyId!, randomBytes(32), 'RSAES_OAEP_SHA_256', { ValidTo: validTo, ExpirationModel: 'KEY_MATERIAL_EXPIRES' })
  const described = (await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!
  t.equal(described.ExpirationModel, 'KEY_MATERIAL_EXPIRES')
  t.equal(Math.round(described.ValidTo!.getTime() / 1000), Math.round(validTo.getTime() / 1000))
  const other = await externalKey()
  await t.rejects(importMaterial(other.KeyId!, randomBytes(32), 'RSAES_OAEP_SHA_256', { ExpirationModel: 'KEY_MATERIAL_EXPIRES' }), { name: 'ValidationException' }, 'EXPIRES needs ValidTo')
})

t.test('import tokens are bound to their key and wrapping key; bad material is refused', async (t) => {
  const a = await externalKey()
  const b = await externalKey()
  const params = await kms.send(new GetParametersForImportCommand({ KeyId: a.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }))
  const wrapped = wrap(params.PublicKey!, 'RSAES_OAEP_SHA_256', randomBytes(32))
  await t.rejects(kms.send(new ImportKeyMaterialCommand({ KeyId: b.KeyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrapped, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })), {
    name: 'InvalidImportTokenException',
  })
  const otherPair = await kms.send(new GetParametersForImportCommand({ KeyId: a.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }))
  await t.rejects(kms.send(new ImportKeyMaterialCommand({ KeyId: a.KeyId, ImportToken: otherPair.ImportToken, EncryptedKeyMaterial: wrapped, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })), {
    name: 'InvalidCiphertextException',
  }, 'material wrapped for another public key does not unwrap')
  await t.rejects(
    kms.send(new ImportKeyMaterialCommand({ KeyId: a.KeyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrap(params.PublicKey!, 'RSAES_OAEP_SHA_256', randomBytes(16)), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })),
    { name: 'IncorrectKeyMaterialException' },
    'a symmetric key must be 256 bits',
  )
  await t.rejects(kms.send(new GetParametersForImportCommand({ KeyId: a.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_1024' as any })), { name: 'ValidationException' })
})

t.test('origin guards: no automatic rotation for imported material (on demand only, to imported material), no import for AWS_KMS keys', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html (note [6]: origin is EXTERNAL which is not valid for this operation)
  // https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys-on-demand.html (imported key material: rotate on demand to new imported material)
  const md = await externalKey()
  await importMaterial(md.KeyId!, randomBytes(32))
  await t.rejects(kms.send(new EnableKeyRotationCommand({ KeyId: md.KeyId })), { name: 'UnsupportedOperationException' })
  await t.rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: md.KeyId })), { name: 'KMSInvalidStateException', message: `No available key material pending rotation for the key: ${md.Arn}.` })
  await t.rejects(kms.send(new GetKeyRotationStatusCommand({ KeyId: md.KeyId })), { name: 'UnsupportedOperationException', message: `${md.Arn} origin is EXTERNAL which is not valid for this operation.` })
  t.same((await kms.send(new ListKeyRotationsCommand({ KeyId: md.KeyId }))).Rotations, [], 'no rotations yet')
  const native = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!
  await t.rejects(kms.send(new GetParametersForImportCommand({ KeyId: native.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })), { name: 'UnsupportedOperationException' })
  await t.rejects(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: native.KeyId })), { name: 'UnsupportedOperationException' })
})

t.test('a key pending deletion takes no import', async (t) => {
  const md = await externalKey()
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId, PendingWindowInDays: 7 }))
  await t.rejects(kms.send(new GetParametersForImportCommand({ KeyId: md.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })), {
    name: 'KMSInvalidStateException',
    message: `${md.Arn} is pending deletion.`,
  })
})
