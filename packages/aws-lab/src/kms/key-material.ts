// Imported key material (origin EXTERNAL): wrapping parameters, import, deletion.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
import { createHmac, hash } from 'node:crypto'
import type { Operation } from '../core/types.js'
import { constraintViolation, kmsErrors, requireMember } from './errors.js'
import { WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS, type WrappingKeySpec, newImportToken, newWrappingKeyPair, unwrapKeyMaterial } from './import.js'
import { DAY_MS, type ExpirationModel, type KeyMaterialRecord, currentMaterial, currentMaterialRecord, materialId, pendingMaterial } from './model.js'
import { seconds, now, state, save, blob, byKeyId, onKey, type KmsInput } from './operation.js'

const IMPORT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000

function expirationModelOf(input: KmsInput): ExpirationModel {
  return input.ExpirationModel ?? 'KEY_MATERIAL_EXPIRES'
}

const GetParametersForImport = onKey(
  'GetParametersForImport',
  byKeyId,
  async (input: KmsInput, ctx, { key }) => {
    const algorithm = requireMember(input.WrappingAlgorithm, 'wrappingAlgorithm')
    const spec = requireMember(input.WrappingKeySpec, 'wrappingKeySpec')
    if (!(WRAPPING_ALGORITHMS as readonly string[]).includes(algorithm)) {
      throw constraintViolation(algorithm, 'wrappingAlgorithm', `Member must satisfy enum value set: [${WRAPPING_ALGORITHMS.join(', ')}]`)
    }
    if (!(WRAPPING_KEY_SPECS as readonly string[]).includes(spec)) {
      throw constraintViolation(spec, 'wrappingKeySpec', `Member must satisfy enum value set: [${WRAPPING_KEY_SPECS.join(', ')}]`)
    }
    const pair = await newWrappingKeyPair(spec as WrappingKeySpec)
    const st = state(ctx)
    const t = now(ctx)
    for (const [id, token] of Object.entries(st.importTokens)) if (token.validTo <= t) delete st.importTokens[id]
    const token = newImportToken()
    const validTo = t + IMPORT_TOKEN_TTL_MS
    st.importTokens[token] = { keyId: key.keyId, wrappingAlgorithm: algorithm, wrappingKeySpec: spec, privateKeyPem: pair.privateKeyPem, validTo }
    save(ctx)
    return { KeyId: key.arn, ImportToken: token, PublicKey: pair.publicKeyDer.toString('base64'), ParametersValidTo: seconds(validTo) }
  },
  {
    readOnly: true,
    context: (input: KmsInput) => ({
      ...(input.WrappingAlgorithm ? { 'kms:WrappingAlgorithm': input.WrappingAlgorithm } : {}),
      ...(input.WrappingKeySpec ? { 'kms:WrappingKeySpec': input.WrappingKeySpec } : {}),
    }),
  },
)

/** At most 365 days ahead: "The value of this parameter must be a timestamp between 1 and 365 days in the future" (API reference). */
const MAX_VALID_TO_MS = 365 * DAY_MS

function checkExpiry(input: KmsInput, at: number): { model: ExpirationModel; validTo?: number } {
  const model = expirationModelOf(input)
  if (model !== 'KEY_MATERIAL_EXPIRES' && model !== 'KEY_MATERIAL_DOES_NOT_EXPIRE') {
    throw constraintViolation(model, 'expirationModel', 'Member must satisfy enum value set: [KEY_MATERIAL_EXPIRES, KEY_MATERIAL_DOES_NOT_EXPIRE]')
  }
  if (model === 'KEY_MATERIAL_DOES_NOT_EXPIRE') {
    if (input.ValidTo !== undefined) throw kmsErrors.validation('A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE')
    return { model }
  }
  // KEY_MATERIAL_EXPIRES is the default model, so a call naming neither needs ValidTo too.
  if (input.ValidTo === undefined) throw kmsErrors.validation('A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES')
  const validTo = Number(input.ValidTo) * 1000
  if (!(validTo > at)) throw kmsErrors.validation('ValidTo must be in the future.')
  if (validTo > at + MAX_VALID_TO_MS) throw kmsErrors.validation('ValidTo must be no more than 365 days in the future.')
  return { model, validTo }
}

/** KMS derives an imported material's id from the key and the material, so re-importing the same bytes keeps the id. */
const importedMaterialId = (keyId: string, material: Buffer) => createHmac('sha256', keyId).update(material).digest('hex')

const ImportKeyMaterial = onKey(
  'ImportKeyMaterial',
  byKeyId,
  (input: KmsInput, ctx, { key }) => {
    const st = state(ctx)
    const tokenText = requireMember(input.ImportToken, 'importToken')
    const wrapped = blob(input.EncryptedKeyMaterial, 'encryptedKeyMaterial')
    const token = Object.hasOwn(st.importTokens, tokenText) ? st.importTokens[tokenText] : undefined
    if (!token || token.keyId !== key.keyId) throw kmsErrors.invalidImportToken('The import token is not valid for this KMS key.')
    if (token.validTo <= now(ctx)) throw kmsErrors.expiredImportToken('The import token has expired. Call GetParametersForImport for a new one.')
    const { model, validTo } = checkExpiry(input, now(ctx))
    // NEW_KEY_MATERIAL is the default only while the key has never had material.
    const importType = input.ImportType ?? (key.materials.length === 0 ? 'NEW_KEY_MATERIAL' : 'EXISTING_KEY_MATERIAL')
    if (importType !== 'NEW_KEY_MATERIAL' && importType !== 'EXISTING_KEY_MATERIAL') {
      throw constraintViolation(importType, 'importType', 'Member must satisfy enum value set: [NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL]')
    }
    if (importType === 'NEW_KEY_MATERIAL' && input.KeyMaterialId !== undefined) throw kmsErrors.validation('You cannot specify a key material ID with ImportType NEW_KEY_MATERIAL.')
    const material = unwrapKeyMaterial(wrapped, token.wrappingAlgorithm, token.privateKeyPem)
    if (!material) throw kmsErrors.invalidCiphertext('The key material could not be unwrapped with the wrapping key of this import token.')
    if (material.length !== 32) throw kmsErrors.incorrectKeyMaterial('The key material must be a 256-bit symmetric key.')
    const digest = hash('sha256', material, 'hex')
    const id = importedMaterialId(key.keyId, material)
    let record: KeyMaterialRecord
    if (importType === 'NEW_KEY_MATERIAL') {
      const pending = pendingMaterial(key)
      if (pending) {
        throw kmsErrors.invalidState(`New key material (id: ${id}) cannot be imported into KMS key ${key.arn}, because another key material (id: ${materialId(key, pending)}) is pending rotation.`)
      }
      if (key.materials.some((m) => m.digest === digest)) throw kmsErrors.incorrectKeyMaterial('This key material was imported into this KMS key before: import it with ImportType EXISTING_KEY_MATERIAL.')
      // Into a key that has material, new material waits for RotateKeyOnDemand; into an empty key it is current at once.
      record = { version: key.materials.length, id, material: material.toString('base64'), createdAt: now(ctx), digest, ...(key.materials.length ? { pendingRotation: true } : {}) }
      key.materials.push(record)
    } else {
      // AWS accepts only material a key already had: anything else would orphan its ciphertexts.
      const wanted = input.KeyMaterialId !== undefined ? key.materials.find((m) => materialId(key, m) === input.KeyMaterialId) : currentMaterialRecord(key)
      if (!wanted || (wanted.digest ?? key.importedMaterialDigest) !== digest) {
        throw kmsErrors.incorrectKeyMaterial('The key material does not match the key material previously imported into this KMS key.')
      }
      wanted.material = material.toString('base64')
      wanted.digest = digest
      record = wanted
    }
    key.expirationModel = model
    key.validTo = validTo
    if (key.state === 'PendingImport' && currentMaterial(key)) key.state = 'Enabled'
    save(ctx)
    return { KeyId: key.arn, KeyMaterialId: materialId(key, record) }
  },
  {
    context: (input: KmsInput) => ({ 'kms:ExpirationModel': expirationModelOf(input) }),
  },
)

const DeleteImportedKeyMaterial = onKey('DeleteImportedKeyMaterial', byKeyId, (input: KmsInput, ctx, { key }) => {
  const current = currentMaterialRecord(key)
  const target = input.KeyMaterialId !== undefined ? key.materials.find((m) => materialId(key, m) === input.KeyMaterialId) : current
  if (!target) throw kmsErrors.notFound(`Key material ${input.KeyMaterialId} is not associated with ${key.arn}.`)
  // Deleting the current material takes every earlier one with it (the key cannot decrypt without its current material).
  for (const m of target === current ? key.materials.filter((m) => !m.pendingRotation) : [target]) delete m.material
  if (!currentMaterial(key)) {
    key.validTo = undefined
    key.expirationModel = undefined
    if (key.state !== 'PendingDeletion') key.state = 'PendingImport'
  }
  save(ctx)
  return { KeyId: key.arn, KeyMaterialId: materialId(key, target) }
})

export const keyMaterialOperations: Record<string, Operation> = { GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial }
