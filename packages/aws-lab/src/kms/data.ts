// KMS data operations: encrypt, decrypt, re-encrypt, data keys and random bytes.
import { randomBytes } from 'node:crypto'
import type { Operation, OperationContext } from '../core/types.js'
import { accountCheck, encryptionContextConditions, keyCheck } from './authz.js'
import { type EncryptionContext, decryptBlob, encryptBlob, parseBlob } from './crypto.js'
import { constraintViolation, kmsErrors, requireMember, sensitiveConstraintViolation } from './errors.js'
import { type ResolvedKey, guardKey, keyNotFound, liveKey, resolveKey } from './key-ref.js'
import { type KeyRecord, currentMaterial, keyArn, materialId } from './model.js'
import { SYMMETRIC_DEFAULT, state, blob, intInRange, byAnyRef, onKey, type KmsInput } from './operation.js'
import { kmsRequestParameters } from './request-parameters.js'

const MAX_PLAINTEXT = 4096

function checkContext(context: unknown, member: string): EncryptionContext | undefined {
  if (context === undefined || context === null) return undefined
  if (typeof context !== 'object' || Array.isArray(context)) throw constraintViolation('<map>', member, 'Member must be a map of strings')
  for (const v of Object.values(context)) if (typeof v !== 'string') throw constraintViolation('<map>', member, 'Member must be a map of strings')
  return context as EncryptionContext
}

function checkAlgorithm(algorithm: string | undefined, key: KeyRecord): void {
  if (algorithm !== undefined && algorithm !== SYMMETRIC_DEFAULT) {
    throw kmsErrors.invalidKeyUsage(`The encryption algorithm ${algorithm} is not compatible with the type of KMS key ${key.arn}.`)
  }
}

/** A new ciphertext under the key's current material, and that material's KeyMaterialId. */
function encryptUnder(key: KeyRecord, plaintext: Buffer, context: EncryptionContext | undefined): { blob: string; materialId: string } {
  const material = currentMaterial(key)
  // The state guard lets only Enabled keys through, and an Enabled key always has material.
  if (!material?.material) throw kmsErrors.invalidState(`${key.arn} is pending import.`)
  const blob = encryptBlob({ keyId: key.keyId, materialVersion: material.version, material: Buffer.from(material.material, 'base64'), plaintext, context }).toString('base64')
  return { blob, materialId: materialId(key, material) }
}

/** The key a ciphertext blob names; a blob that is not ours is InvalidCiphertextException. */
function keyOfBlob(ciphertext: unknown, ctx: OperationContext, member = 'ciphertextBlob') {
  const parsed = parseBlob(blob(ciphertext, member))
  if (!parsed) throw kmsErrors.invalidCiphertext('')
  const key = liveKey(state(ctx), parsed.keyId, ctx)
  if (!key || key.region !== ctx.meta.region || key.accountId !== ctx.iam.accountId) {
    throw keyNotFound(keyArn(ctx.meta.region, ctx.iam.accountId, parsed.keyId))
  }
  return { parsed, key }
}

/** Resolves the blob's key and, when the caller also named a key, insists it is the same one. */
function resolveBlobKey(ciphertext: unknown, keyIdRef: string | undefined, ctx: OperationContext, member?: string): ResolvedKey & { parsed: NonNullable<ReturnType<typeof parseBlob>> } {
  const { parsed, key } = keyOfBlob(ciphertext, ctx, member)
  if (keyIdRef === undefined) return { key, parsed }
  const named = resolveKey(keyIdRef, ctx)
  if (named.key.keyId !== key.keyId) {
    throw kmsErrors.incorrectKey('The key ID in the request does not identify a CMK that can perform this operation.')
  }
  return { key, alias: named.alias, parsed }
}

/** The plaintext, and the KeyMaterialId of the material that decrypted it. */
function decryptWith(key: KeyRecord, parsed: NonNullable<ReturnType<typeof parseBlob>>, context: EncryptionContext | undefined): { plaintext: Buffer; materialId: string } {
  const record = key.materials.find((m) => m.version === parsed.materialVersion)
  if (!record?.material) throw kmsErrors.invalidCiphertext('')
  const plaintext = decryptBlob(parsed, Buffer.from(record.material, 'base64'), context)
  // AWS says nothing more: a wrong context and a tampered blob are indistinguishable.
  if (!plaintext) throw kmsErrors.invalidCiphertext('')
  return { plaintext, materialId: materialId(key, record) }
}

function dataKeyLength(input: { KeySpec?: string; NumberOfBytes?: number }): number {
  if ((input.KeySpec === undefined) === (input.NumberOfBytes === undefined)) {
    throw kmsErrors.validation('Please specify either number of bytes or key spec.')
  }
  if (input.KeySpec !== undefined) {
    if (input.KeySpec === 'AES_256') return 32
    if (input.KeySpec === 'AES_128') return 16
    throw constraintViolation(input.KeySpec, 'keySpec', 'Member must satisfy enum value set: [AES_256, AES_128]')
  }
  return intInRange(input.NumberOfBytes, 'numberOfBytes', 1, 1024)
}

const Encrypt = onKey(
  'Encrypt',
  byAnyRef,
  (input: KmsInput, _ctx, { key }) => {
    const plaintext = blob(input.Plaintext, 'plaintext')
    if (plaintext.length > MAX_PLAINTEXT) throw sensitiveConstraintViolation('plaintext', `Member must have length less than or equal to ${MAX_PLAINTEXT}`)
    checkAlgorithm(input.EncryptionAlgorithm, key)
    const context = checkContext(input.EncryptionContext, 'encryptionContext')
    return { CiphertextBlob: encryptUnder(key, plaintext, context).blob, KeyId: key.arn, EncryptionAlgorithm: SYMMETRIC_DEFAULT }
  },
  {
    readOnly: true,
    context: (input: KmsInput) => ({ ...encryptionContextConditions(input.EncryptionContext), 'kms:EncryptionAlgorithm': input.EncryptionAlgorithm ?? SYMMETRIC_DEFAULT }),
  },
)

const Decrypt: Operation<KmsInput> = {
  authorize: (input, ctx) => {
    const resolved = resolveBlobKey(input.CiphertextBlob, input.KeyId, ctx)
    return [
      keyCheck('kms:Decrypt', resolved, ctx, {
        ...encryptionContextConditions(input.EncryptionContext),
        'kms:EncryptionAlgorithm': input.EncryptionAlgorithm ?? SYMMETRIC_DEFAULT,
      }),
    ]
  },
  run: (input, ctx) => {
    const { key, parsed } = resolveBlobKey(input.CiphertextBlob, input.KeyId, ctx)
    guardKey(key, 'Decrypt')
    checkAlgorithm(input.EncryptionAlgorithm, key)
    const { plaintext, materialId: used } = decryptWith(key, parsed, checkContext(input.EncryptionContext, 'encryptionContext'))
    return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: SYMMETRIC_DEFAULT, KeyMaterialId: used }
  },
  readOnly: true,
}

// ReEncrypt asks for kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the destination.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html
const ReEncrypt: Operation<KmsInput> = {
  authorize: (input, ctx) => {
    const source = resolveBlobKey(input.CiphertextBlob, input.SourceKeyId, ctx)
    const destination = resolveKey(requireMember(input.DestinationKeyId, 'destinationKeyId'), ctx)
    return [
      keyCheck('kms:ReEncryptFrom', source, ctx, {
        ...encryptionContextConditions(input.SourceEncryptionContext),
        'kms:EncryptionAlgorithm': input.SourceEncryptionAlgorithm ?? SYMMETRIC_DEFAULT,
        'kms:ReEncryptOnSameKey': String(source.key.keyId === destination.key.keyId),
      }),
      keyCheck('kms:ReEncryptTo', destination, ctx, {
        ...encryptionContextConditions(input.DestinationEncryptionContext),
        'kms:EncryptionAlgorithm': input.DestinationEncryptionAlgorithm ?? SYMMETRIC_DEFAULT,
        'kms:ReEncryptOnSameKey': String(source.key.keyId === destination.key.keyId),
      }),
    ]
  },
  run: (input, ctx) => {
    const source = resolveBlobKey(input.CiphertextBlob, input.SourceKeyId, ctx)
    const destination = resolveKey(input.DestinationKeyId, ctx).key
    guardKey(source.key, 'ReEncrypt')
    guardKey(destination, 'ReEncrypt')
    checkAlgorithm(input.SourceEncryptionAlgorithm, source.key)
    checkAlgorithm(input.DestinationEncryptionAlgorithm, destination)
    const decrypted = decryptWith(source.key, source.parsed, checkContext(input.SourceEncryptionContext, 'sourceEncryptionContext'))
    const encrypted = encryptUnder(destination, decrypted.plaintext, checkContext(input.DestinationEncryptionContext, 'destinationEncryptionContext'))
    return {
      CiphertextBlob: encrypted.blob,
      SourceKeyId: source.key.arn,
      KeyId: destination.arn,
      SourceEncryptionAlgorithm: SYMMETRIC_DEFAULT,
      DestinationEncryptionAlgorithm: SYMMETRIC_DEFAULT,
      SourceKeyMaterialId: decrypted.materialId,
      DestinationKeyMaterialId: encrypted.materialId,
    }
  },
  readOnly: true,
}

const dataKeyContext = (input: KmsInput) => encryptionContextConditions(input.EncryptionContext)

const GenerateDataKey = onKey(
  'GenerateDataKey',
  byAnyRef,
  (input: KmsInput, _ctx, { key }) => {
    const dataKey = randomBytes(dataKeyLength(input))
    const { blob: ciphertext, materialId: used } = encryptUnder(key, dataKey, checkContext(input.EncryptionContext, 'encryptionContext'))
    return { CiphertextBlob: ciphertext, Plaintext: dataKey.toString('base64'), KeyId: key.arn, KeyMaterialId: used }
  },
  { readOnly: true, context: dataKeyContext },
)

const GenerateDataKeyWithoutPlaintext = onKey(
  'GenerateDataKeyWithoutPlaintext',
  byAnyRef,
  (input: KmsInput, _ctx, { key }) => {
    const dataKey = randomBytes(dataKeyLength(input))
    const { blob: ciphertext, materialId: used } = encryptUnder(key, dataKey, checkContext(input.EncryptionContext, 'encryptionContext'))
    return { CiphertextBlob: ciphertext, KeyId: key.arn, KeyMaterialId: used }
  },
  { readOnly: true, context: dataKeyContext },
)

const GenerateRandom: Operation<KmsInput> = {
  authorize: (_input, ctx) => [accountCheck('kms:GenerateRandom', ctx)],
  run: (input) => {
    if (input.CustomKeyStoreId !== undefined) throw kmsErrors.unsupported('The lab has no custom key stores.')
    if (input.NumberOfBytes === undefined || input.NumberOfBytes === null) throw kmsErrors.validation('NumberOfBytes is required.')
    const size = intInRange(input.NumberOfBytes, 'numberOfBytes', 1, 1024)
    return { Plaintext: randomBytes(size).toString('base64') }
  },
  readOnly: true,
}

// CloudTrail always records the algorithms of Encrypt, Decrypt and ReEncrypt, sent or not.
// https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html, ct-encrypt.html, ct-reencrypt.html
Encrypt.requestParameters = Decrypt.requestParameters = (input) => ({ ...kmsRequestParameters(input), encryptionAlgorithm: input.EncryptionAlgorithm ?? SYMMETRIC_DEFAULT })
ReEncrypt.requestParameters = (input) => ({
  ...kmsRequestParameters(input),
  sourceEncryptionAlgorithm: input.SourceEncryptionAlgorithm ?? SYMMETRIC_DEFAULT,
  destinationEncryptionAlgorithm: input.DestinationEncryptionAlgorithm ?? SYMMETRIC_DEFAULT,
})

export const dataOperations: Record<string, Operation> = { Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom }
