// The one place a KeyId parameter becomes a key (key id, key ARN, alias name, alias ARN), and
// the one place key state and origin decide whether an operation may proceed.
import type { OperationContext } from '../core/types.js'
import { kmsErrors } from './errors.js'
import { type AliasRecord, type KeyRecord, type KmsState, aliasArn, aliasSlot, applyTime, keyArn, kmsState, managedKeyFor, saveKms } from './model.js'

export interface ResolvedKey {
  key: KeyRecord
  /** Set when the caller named the key through an alias (for kms:RequestAlias). */
  alias?: AliasRecord
}

/** A key id: a UUID, or a multi-Region key's `mrk-` and 32 hex digits. */
const KEY_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/i
const KMS_ARN = /^arn:aws[a-z-]*:kms:([^:]*):([^:]*):(.+)$/

export interface ResolveOptions {
  /** Aliases are not accepted everywhere (e.g. ListAliases' KeyId filter, key administration). */
  allowAlias?: boolean
}

/** Resolves a key reference in the caller's account and Region; anything else is NotFoundException, as AWS. */
export function resolveKey(ref: string | undefined, ctx: OperationContext, opts: ResolveOptions = {}): ResolvedKey {
  if (ref === undefined || ref === null || ref === '') {
    throw kmsErrors.validation("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
  }
  const state = kmsState(ctx.state)
  const region = ctx.meta.region
  const account = ctx.iam.accountId
  const allowAlias = opts.allowAlias ?? true
  let aliasName: string | undefined
  let keyId: string | undefined
  const arn = KMS_ARN.exec(ref)
  if (arn) {
    const [, arnRegion, arnAccount, resource] = arn
    // A key is looked up in the Region the request was signed for; another Region's ARN names no key here.
    if (arnRegion !== region) throw kmsErrors.notFound(`Invalid arn ${arnRegion}`)
    if (resource.startsWith('key/')) {
      if (arnRegion !== region || arnAccount !== account) throw keyNotFound(ref)
      keyId = resource.slice(4)
    } else if (resource.startsWith('alias/')) {
      if (arnRegion !== region || arnAccount !== account) throw aliasNotFound(ref)
      aliasName = resource
    } else {
      throw kmsErrors.notFound(`Invalid arn ${ref}`)
    }
  } else if (ref.startsWith('alias/')) {
    aliasName = ref
  } else if (KEY_ID.test(ref)) {
    keyId = ref
  } else {
    throw kmsErrors.notFound(`Invalid keyId '${ref}'`)
  }
  if (aliasName !== undefined) {
    if (!allowAlias) throw kmsErrors.notFound(`Invalid keyId '${ref}'`)
    const slot = aliasSlot(region, aliasName)
    // A predefined alias (alias/aws/s3 …) gets its AWS managed key the first time anyone refers to it.
    if (!Object.hasOwn(state.aliases, slot) && managedKeyFor(state, region, account, aliasName, ctx.meta.time.getTime())) saveKms(ctx.state)
    const alias = Object.hasOwn(state.aliases, slot) ? state.aliases[slot] : undefined
    if (!alias) throw aliasNotFound(aliasArn(region, account, aliasName))
    const key = liveKey(state, alias.targetKeyId, ctx)
    if (!key) throw aliasNotFound(aliasArn(region, account, aliasName))
    return { key, alias }
  }
  const key = liveKey(state, keyId!.toLowerCase(), ctx)
  if (!key || key.region !== region || key.accountId !== account) throw keyNotFound(keyArn(region, account, keyId!))
  return { key }
}

/** A key after time has had its say (deletion, expiry, rotation); undefined when gone. */
export function liveKey(state: KmsState, keyId: string, ctx: OperationContext): KeyRecord | undefined {
  // Key ids can come from a ciphertext blob the caller made up: only own entries count.
  const key = Object.hasOwn(state.keys, keyId) ? state.keys[keyId] : undefined
  if (!key) return undefined
  const changed = applyTime(state, key, ctx.meta.time.getTime())
  if (changed) saveKms(ctx.state)
  return changed === 'deleted' ? undefined : key
}

export function keyNotFound(arn: string) {
  return kmsErrors.notFound(`Key '${arn}' does not exist`)
}

export function aliasNotFound(arn: string) {
  return kmsErrors.notFound(`Alias ${arn} is not found.`)
}

/** How each key state treats an operation, per AWS's "Key states of AWS KMS keys" table and its notes [1]–[10]. https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html */
type StateRule = 'cryptographic' | 'rotation' | 'enable-disable' | 'not-pending-deletion' | 'cancel-deletion' | 'any'

const RULES: Record<string, StateRule> = {
  Encrypt: 'cryptographic',
  Decrypt: 'cryptographic',
  ReEncrypt: 'cryptographic',
  GenerateDataKey: 'cryptographic',
  GenerateDataKeyWithoutPlaintext: 'cryptographic',
  EnableKeyRotation: 'rotation',
  DisableKeyRotation: 'rotation',
  RotateKeyOnDemand: 'rotation',
  EnableKey: 'enable-disable',
  DisableKey: 'enable-disable',
  ScheduleKeyDeletion: 'not-pending-deletion',
  CreateAlias: 'not-pending-deletion',
  UpdateKeyDescription: 'not-pending-deletion',
  UpdateAlias: 'not-pending-deletion',
  TagResource: 'not-pending-deletion',
  UntagResource: 'not-pending-deletion',
  GetParametersForImport: 'not-pending-deletion',
  ImportKeyMaterial: 'not-pending-deletion',
  CancelKeyDeletion: 'cancel-deletion',
}

const STATE_WORDS: Record<string, string> = {
  Enabled: 'enabled',
  Disabled: 'disabled',
  PendingDeletion: 'pending deletion',
  PendingImport: 'pending import',
  Unavailable: 'unavailable',
}

function invalidState(key: KeyRecord) {
  return kmsErrors.invalidState(`${key.arn} is ${STATE_WORDS[key.state]}.`)
}

/** Throws AWS's DisabledException / KMSInvalidStateException / UnsupportedOperationException when the key's state or origin forbids `operation`. */
export function guardKey(key: KeyRecord, operation: string): void {
  guardOrigin(key, operation)
  const rule = RULES[operation] ?? 'any'
  const state = key.state
  switch (rule) {
    case 'any':
      return
    case 'cryptographic':
    case 'rotation':
      if (state === 'Enabled') return
      if (state === 'Disabled') throw kmsErrors.disabled(`${key.arn} is disabled.`)
      throw invalidState(key)
    case 'enable-disable':
      if (state === 'Enabled' || state === 'Disabled') return
      throw invalidState(key)
    case 'not-pending-deletion':
      if (state !== 'PendingDeletion' && state !== 'Unavailable') return
      throw invalidState(key)
    case 'cancel-deletion':
      if (state === 'PendingDeletion') return
      throw kmsErrors.invalidState(`${key.arn} is not pending deletion.`)
  }
}

const IMPORT_OPERATIONS = new Set(['GetParametersForImport', 'ImportKeyMaterial', 'DeleteImportedKeyMaterial'])
// Automatic rotation is for keys KMS makes material for; imported keys rotate on demand only, to imported material.
const ROTATION_OPERATIONS = new Set(['EnableKeyRotation', 'DisableKeyRotation', 'GetKeyRotationStatus'])

function guardOrigin(key: KeyRecord, operation: string): void {
  if (IMPORT_OPERATIONS.has(operation) && key.origin !== 'EXTERNAL') {
    throw kmsErrors.unsupported(`${key.arn} origin is ${key.origin} which is not valid for this operation.`)
  }
  if (ROTATION_OPERATIONS.has(operation) && key.origin === 'EXTERNAL') {
    throw kmsErrors.unsupported(`${key.arn} origin is EXTERNAL which is not valid for this operation.`)
  }
}
