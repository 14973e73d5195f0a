// Imported key material (origin EXTERNAL): wrapping parameters, import, deletion.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
import { createHash } from 'node:crypto'
import type { Operation } from '../core/types.js'
import { constraintViolation, kmsErrors, requireMember } from './errors.js'
import { WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS, type WrappingKeySpec, newImportToken, newWrappingKeyPair, unwrapKeyMaterial } from './import.js'
import type { ExpirationModel } from './model.js'
import { seconds, now, state, save, blob, byKeyId, onKey, type KmsInput } from './operation.js'

const IMPORT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000

function expirationModelOf(input: KmsInput): ExpirationModel {
  return input.ExpirationModel ?? (input.ValidTo !== undefined ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE')
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
    const model = expirationModelOf(input)
    if (model !== 'KEY_MATERIAL_EXPIRES' && model !== 'KEY_MATERIAL_DOES_NOT_EXPIRE') {
      throw constraintViolation(model, 'expirationModel', 'Member must satisfy enum value set: [KEY_MATERIAL_EXPIRES, KEY_MATERIAL_DOES_NOT_EXPIRE]')
    }
    let validTo: number | undefined
    if (model === 'KEY_MATERIAL_EXPIRES') {
      if (input.ValidTo === undefined) throw kmsErrors.validation('A ValidTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES.')
      validTo = Number(input.ValidTo) * 1000
      if (!(validTo > now(ctx))) throw kmsErrors.validation('ValidTo must be in the future.')
    } else if (input.ValidTo !== undefined) {
      throw kmsErrors.validation('A ValidTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.')
    }
    const material = unwrapKeyMaterial(wrapped, token.wrappingAlgorithm, token.privateKeyPem)
    if (!material) throw kmsErrors.invalidCiphertext('The key material could not be unwrapped with the wrapping key of this import token.')
    if (material.length !== 32) throw kmsErrors.incorrectKeyMaterial('The key material must be a 256-bit symmetric key.')
    const digest = createHash('sha256').update(material).digest('hex')
    // AWS accepts only the very material a key first received; anything else would orphan its ciphertexts.
    if (key.importedMaterialDigest !== undefined && key.importedMaterialDigest !== digest) {
      throw kmsErrors.incorrectKeyMaterial('The key material does not match the key material previously imported into this KMS key.')
    }
    key.importedMaterialDigest = digest
    if (key.materials.length === 0) key.materials.push({ version: 0, material: material.toString('base64'), createdAt: now(ctx) })
    else key.materials[0].material = material.toString('base64')
    key.expirationModel = model
    key.validTo = validTo
    if (key.state === 'PendingImport') key.state = 'Enabled'
    save(ctx)
    return { KeyId: key.arn }
  },
  {
    context: (input: KmsInput) => ({ 'kms:ExpirationModel': expirationModelOf(input) }),
  },
)

const DeleteImportedKeyMaterial = onKey('DeleteImportedKeyMaterial', byKeyId, (_input, ctx, { key }) => {
  for (const m of key.materials) delete m.material
  key.validTo = undefined
  key.expirationModel = undefined
  if (key.state !== 'PendingDeletion') key.state = 'PendingImport'
  save(ctx)
  return {}
})

export const keyMaterialOperations: Record<string, Operation> = { GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial }
