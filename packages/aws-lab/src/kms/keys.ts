// KMS keys and their lifecycle: create, describe, list, enable and disable, deletion, rotation.
import { randomUUID } from 'node:crypto'
import type { Operation } from '../core/types.js'
import { accountCheck, requestTagConditions } from './authz.js'
import { constraintViolation, kmsErrors } from './errors.js'
import { liveKey } from './key-ref.js'
import { admitKeyPolicy } from './key-policy.js'
import { DAY_MS, type KeyRecord, addKey, currentMaterial, currentMaterialRecord, keyArn, materialId, pendingMaterial, rotateMaterial, scheduleNextRotation } from './model.js'
import { SYMMETRIC_DEFAULT, seconds, now, state, save, intInRange, page, byKeyId, byAnyRef, onKey, type KmsInput } from './operation.js'
import { validateTags } from './tags.js'

const MAX_ON_DEMAND_ROTATIONS = 10
/** KeySpec's values in the order AWS's validation sentence lists them (as recorded in 2023), then the specs added since. */
const RECORDED_KEY_SPECS = ['RSA_2048', 'ECC_NIST_P384', 'ECC_NIST_P256', 'ECC_NIST_P521', 'HMAC_384', 'RSA_3072', 'ECC_SECG_P256K1', 'RSA_4096', SYMMETRIC_DEFAULT, 'HMAC_256', 'HMAC_224', 'HMAC_512']
const KEY_SPECS = [...RECORDED_KEY_SPECS, 'SM2', 'ECC_NIST_EDWARDS25519', 'ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87']

function keyMetadata(key: KeyRecord): Record<string, unknown> {
  const md: Record<string, unknown> = {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: seconds(key.creationDate),
    Enabled: key.state === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: key.state,
    Origin: key.origin,
    KeyManager: key.keyManager ?? 'CUSTOMER',
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    EncryptionAlgorithms: [SYMMETRIC_DEFAULT],
    MultiRegion: false,
  }
  // The current material's id; an imported key keeps it after DeleteImportedKeyMaterial.
  const current = currentMaterialRecord(key)
  if (current) md.CurrentKeyMaterialId = materialId(key, current)
  if (key.deletionDate !== undefined) md.DeletionDate = seconds(key.deletionDate)
  if (key.origin === 'EXTERNAL') {
    if (key.expirationModel) md.ExpirationModel = key.expirationModel
    if (key.validTo !== undefined) md.ValidTo = seconds(key.validTo)
  }
  return md
}

const CreateKey: Operation<KmsInput> = {
  authorize: (input, ctx) => [
    accountCheck('kms:CreateKey', ctx, {
      'kms:KeyOrigin': input.Origin ?? 'AWS_KMS',
      'kms:KeySpec': input.KeySpec ?? input.CustomerMasterKeySpec ?? SYMMETRIC_DEFAULT,
      'kms:KeyUsage': input.KeyUsage ?? 'ENCRYPT_DECRYPT',
      'kms:MultiRegion': String(input.MultiRegion ?? false),
      ...(input.BypassPolicyLockoutSafetyCheck !== undefined ? { 'kms:BypassPolicyLockoutSafetyCheck': String(input.BypassPolicyLockoutSafetyCheck) } : {}),
      ...requestTagConditions(input.Tags),
    }),
  ],
  run: (input, ctx) => {
    const keyUsage = input.KeyUsage ?? 'ENCRYPT_DECRYPT'
    const keySpec = input.KeySpec ?? input.CustomerMasterKeySpec ?? SYMMETRIC_DEFAULT
    const origin = input.Origin ?? 'AWS_KMS'
    if (!KEY_SPECS.includes(keySpec)) throw constraintViolation(keySpec, 'keySpec', `Member must satisfy enum value set: [${RECORDED_KEY_SPECS.join(', ')}]`)
    if (!['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'].includes(keyUsage)) {
      throw constraintViolation(keyUsage, 'keyUsage', 'Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]')
    }
    if (input.KeyUsage === undefined && keySpec !== SYMMETRIC_DEFAULT) {
      throw kmsErrors.validation('You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.')
    }
    if (keyUsage !== 'ENCRYPT_DECRYPT' || keySpec !== SYMMETRIC_DEFAULT) {
      throw kmsErrors.unsupported(`The lab supports only KeyUsage ENCRYPT_DECRYPT with KeySpec SYMMETRIC_DEFAULT (got ${keyUsage} / ${keySpec}).`)
    }
    if (!['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'].includes(origin)) {
      throw constraintViolation(origin, 'origin', 'Member must satisfy enum value set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]')
    }
    if (origin !== 'AWS_KMS' && origin !== 'EXTERNAL') throw kmsErrors.unsupported(`Origin ${origin} needs a custom key store, which the lab does not have.`)
    if (input.MultiRegion === true) throw kmsErrors.unsupported('The lab does not create multi-Region keys.')
    if (input.Description !== undefined && (typeof input.Description !== 'string' || input.Description.length > 8192)) {
      throw constraintViolation('<description>', 'description', 'Member must have length less than or equal to 8192')
    }
    const tags = input.Tags === undefined ? [] : validateTags(input.Tags)
    if (tags.length > 50) throw kmsErrors.tag('Too many tags')
    const keyId = randomUUID()
    const region = ctx.meta.region
    const accountId = ctx.iam.accountId
    if (input.Policy !== undefined) admitKeyPolicy(input.Policy, keyArn(region, accountId, keyId), ctx, input.BypassPolicyLockoutSafetyCheck === true)
    const key = addKey(state(ctx), { keyId, accountId, region, description: input.Description, origin, policy: input.Policy, tags, now: now(ctx) })
    save(ctx)
    return { KeyMetadata: keyMetadata(key) }
  },
}

const DescribeKey = onKey('DescribeKey', byAnyRef, (_input, _ctx, { key }) => ({ KeyMetadata: keyMetadata(key) }), { readOnly: true })

const ListKeys: Operation<KmsInput> = {
  authorize: (_input, ctx) => [accountCheck('kms:ListKeys', ctx)],
  run: (input, ctx) => {
    const st = state(ctx)
    const keys = Object.values(st.keys)
      .filter((k) => k.region === ctx.meta.region && k.accountId === ctx.iam.accountId && liveKey(st, k.keyId, ctx))
      .sort((a, b) => a.creationDate - b.creationDate || a.keyId.localeCompare(b.keyId))
    const { items, ...rest } = page(keys, input.Limit, input.Marker, 1000, 100)
    return { Keys: items.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })), ...rest }
  },
  readOnly: true,
}

const UpdateKeyDescription = onKey('UpdateKeyDescription', byKeyId, (input: KmsInput, ctx, { key }) => {
  if (typeof input.Description !== 'string' || input.Description.length > 8192) {
    throw constraintViolation(input.Description === undefined ? undefined : '<description>', 'description', 'Member must have length less than or equal to 8192')
  }
  key.description = input.Description
  save(ctx)
  return {}
})

const EnableKey = onKey('EnableKey', byKeyId, (_input, ctx, { key }) => {
  key.state = 'Enabled'
  save(ctx)
  return {}
})

const DisableKey = onKey('DisableKey', byKeyId, (_input, ctx, { key }) => {
  key.state = 'Disabled'
  save(ctx)
  return {}
})

const ScheduleKeyDeletion = onKey('ScheduleKeyDeletion', byKeyId, (input: KmsInput, ctx, { key }) => {
  const days = input.PendingWindowInDays === undefined ? 30 : intInRange(input.PendingWindowInDays, 'pendingWindowInDays', 7, 30)
  key.state = 'PendingDeletion'
  key.pendingWindowInDays = days
  key.deletionDate = now(ctx) + days * DAY_MS
  save(ctx)
  return { KeyId: key.arn, DeletionDate: seconds(key.deletionDate), KeyState: 'PendingDeletion', PendingWindowInDays: days }
})

const CancelKeyDeletion = onKey('CancelKeyDeletion', byKeyId, (_input, ctx, { key }) => {
  // AWS returns a key whose deletion was cancelled as Disabled (PendingImport if it has no material).
  key.state = key.origin === 'EXTERNAL' && !currentMaterial(key) ? 'PendingImport' : 'Disabled'
  key.deletionDate = undefined
  key.pendingWindowInDays = undefined
  save(ctx)
  return { KeyId: key.arn }
})

const EnableKeyRotation = onKey('EnableKeyRotation', byKeyId, (input: KmsInput, ctx, { key }) => {
  const period = input.RotationPeriodInDays === undefined ? 365 : intInRange(input.RotationPeriodInDays, 'rotationPeriodInDays', 90, 2560)
  key.rotationEnabled = true
  key.rotationPeriodInDays = period
  scheduleNextRotation(key, now(ctx))
  save(ctx)
  return {}
})

const DisableKeyRotation = onKey('DisableKeyRotation', byKeyId, (_input, ctx, { key }) => {
  key.rotationEnabled = false
  key.nextRotationDate = undefined
  save(ctx)
  return {}
})

const GetKeyRotationStatus = onKey(
  'GetKeyRotationStatus',
  byKeyId,
  (_input, _ctx, { key }) => {
    // A key pending deletion reports false (imported material was refused by guardKey).
    const enabled = key.rotationEnabled && key.state !== 'PendingDeletion'
    const out: Record<string, unknown> = { KeyRotationEnabled: enabled, KeyId: key.arn }
    if (enabled) {
      out.RotationPeriodInDays = key.rotationPeriodInDays
      out.NextRotationDate = seconds(key.nextRotationDate)
    }
    return out
  },
  { readOnly: true },
)

// Imported keys rotate to the material imported as NEW_KEY_MATERIAL; others get fresh material.
// https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys-on-demand.html
const RotateKeyOnDemand = onKey('RotateKeyOnDemand', byKeyId, (_input, ctx, { key }) => {
  if (key.origin === 'EXTERNAL' && !pendingMaterial(key)) throw kmsErrors.invalidState(`No available key material pending rotation for the key: ${key.arn}.`)
  if (key.rotations.filter((r) => r.type === 'ON_DEMAND').length >= MAX_ON_DEMAND_ROTATIONS) {
    throw kmsErrors.limitExceeded(`The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${key.arn}`)
  }
  rotateMaterial(key, 'ON_DEMAND', now(ctx))
  save(ctx)
  return { KeyId: key.arn }
})

const ListKeyRotations = onKey(
  'ListKeyRotations',
  byKeyId,
  (input: KmsInput, _ctx, { key }) => {
    const { items, ...rest } = page(key.rotations, input.Limit, input.Marker, 1000, 100)
    return { Rotations: items.map((r) => ({ KeyId: key.keyId, RotationDate: seconds(r.date), RotationType: r.type })), ...rest }
  },
  { readOnly: true },
)

export const keyOperations: Record<string, Operation> = { CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand, ListKeyRotations }
