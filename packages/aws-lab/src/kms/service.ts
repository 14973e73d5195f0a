// The lab's KMS: operations over the JSON 1.1 shapes (PascalCase, blobs as base64, timestamps
// as epoch seconds). Authorisation is the core's, from each operation's `authorize` checks.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_Operations.html
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { RequestContext } from '@kms-share/policy'
import type { Operation, OperationContext, ServiceDefinition } from '../core/types.js'
import { accountCheck, aliasCheck, encryptionContextConditions, keyCheck, requestTagConditions } from './authz.js'
import { type EncryptionContext, decryptBlob, encryptBlob, parseBlob } from './crypto.js'
import { constraintViolation, kmsErrors, requireMember } from './errors.js'
import { WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS, type WrappingKeySpec, newImportToken, newWrappingKeyPair, unwrapKeyMaterial } from './import.js'
import { type ResolvedKey, aliasNotFound, guardKey, keyNotFound, liveKey, resolveKey } from './key-ref.js'
import { admitKeyPolicy } from './key-policy.js'
import { checkGrantTokens, grantOperations } from './grants.js'
import {
  type AliasRecord,
  DAY_MS,
  PREDEFINED_ALIASES,
  type ExpirationModel,
  type KeyRecord,
  type KmsState,
  type Tag,
  addKey,
  aliasArn,
  aliasSlot,
  currentMaterial,
  keyArn,
  kmsState,
  rotateMaterial,
  saveKms,
  scheduleNextRotation,
} from './model.js'

const SYMMETRIC_DEFAULT = 'SYMMETRIC_DEFAULT'
const MAX_PLAINTEXT = 4096
const IMPORT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000
const MAX_ON_DEMAND_ROTATIONS = 10

// ---- small helpers -------------------------------------------------------------------------

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000)

function now(ctx: OperationContext): number {
  return ctx.meta.time.getTime()
}

function state(ctx: OperationContext): KmsState {
  return kmsState(ctx.state)
}

function save(ctx: OperationContext): void {
  saveKms(ctx.state)
}

/** Decodes a base64 blob member; the SDK and CLI always send valid base64. */
function blob(value: unknown, member: string): Buffer {
  if (typeof value !== 'string' || value.length === 0) throw constraintViolation(undefined, member, 'Member must not be null')
  return Buffer.from(value, 'base64')
}

function checkContext(context: unknown, member: string): EncryptionContext | undefined {
  if (context === undefined || context === null) return undefined
  if (typeof context !== 'object' || Array.isArray(context)) throw constraintViolation('<map>', member, 'Member must be a map of strings')
  for (const v of Object.values(context)) if (typeof v !== 'string') throw constraintViolation('<map>', member, 'Member must be a map of strings')
  return context as EncryptionContext
}

function checkAlgorithm(algorithm: unknown, key: KeyRecord): void {
  if (algorithm !== undefined && algorithm !== SYMMETRIC_DEFAULT) {
    throw kmsErrors.invalidKeyUsage(`The encryption algorithm ${String(algorithm)} is not compatible with the type of KMS key ${key.arn}.`)
  }
}

function intInRange(value: unknown, member: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw constraintViolation(value, member, 'Member must be an integer')
  if (value < min) throw constraintViolation(value, member, `Member must have value greater than or equal to ${min}`)
  if (value > max) throw constraintViolation(value, member, `Member must have value less than or equal to ${max}`)
  return value
}

/** Opaque paging markers: the offset into a stable ordering. */
function page<T>(items: T[], limit: unknown, marker: unknown, max: number, fallback: number): { items: T[]; Truncated: boolean; NextMarker?: string } {
  const size = limit === undefined ? fallback : intInRange(limit, 'limit', 1, max)
  let start = 0
  if (marker !== undefined) {
    const decoded = typeof marker === 'string' ? /^lab-(\d+)$/.exec(Buffer.from(marker, 'base64').toString('utf8')) : null
    if (!decoded) throw kmsErrors.invalidMarker('Invalid marker')
    start = Number(decoded[1])
  }
  const slice = items.slice(start, start + size)
  const end = start + slice.length
  return end < items.length
    ? { items: slice, Truncated: true, NextMarker: Buffer.from(`lab-${end}`).toString('base64') }
    : { items: slice, Truncated: false }
}

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
  if (key.deletionDate !== undefined) md.DeletionDate = seconds(key.deletionDate)
  if (key.origin === 'EXTERNAL') {
    if (key.expirationModel) md.ExpirationModel = key.expirationModel
    if (key.validTo !== undefined) md.ValidTo = seconds(key.validTo)
  }
  return md
}

function keyAliases(st: KmsState, key: KeyRecord): AliasRecord[] {
  return Object.values(st.aliases).filter((a) => a.targetKeyId === key.keyId)
}

function validateTags(tags: unknown): Tag[] {
  if (!Array.isArray(tags)) throw constraintViolation(undefined, 'tags', 'Member must not be null')
  const seen = new Set<string>()
  for (const tag of tags as Tag[]) {
    if (typeof tag?.TagKey !== 'string' || tag.TagKey.length < 1 || tag.TagKey.length > 128) {
      throw kmsErrors.tag('Tag keys must be between 1 and 128 characters long.')
    }
    if (typeof tag.TagValue !== 'string' || tag.TagValue.length > 256) throw kmsErrors.tag('Tag values must be between 0 and 256 characters long.')
    if (tag.TagKey.toLowerCase().startsWith('aws:')) throw kmsErrors.tag('Tags beginning with aws: are reserved.')
    if (seen.has(tag.TagKey)) throw kmsErrors.tag('Duplicate tag keys')
    seen.add(tag.TagKey)
  }
  return tags as Tag[]
}

function mergeTags(existing: Tag[], added: Tag[]): Tag[] {
  const merged = existing.map((t) => ({ ...t }))
  for (const t of added) {
    const hit = merged.find((m) => m.TagKey === t.TagKey)
    if (hit) hit.TagValue = t.TagValue
    else merged.push({ TagKey: t.TagKey, TagValue: t.TagValue })
  }
  if (merged.length > 50) throw kmsErrors.limitExceeded('A KMS key can have at most 50 tags.')
  return merged
}

const ALIAS_PATTERN = /^[a-zA-Z0-9:/_-]+$/

function checkAliasName(name: unknown): string {
  const value = requireMember(name as string, 'aliasName')
  if (typeof value !== 'string' || value.length > 256) throw constraintViolation(value, 'aliasName', 'Member must have length less than or equal to 256')
  if (!ALIAS_PATTERN.test(value)) throw constraintViolation(value, 'aliasName', 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$')
  if (!value.startsWith('alias/')) {
    throw kmsErrors.invalidAliasName('Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html')
  }
  if (value.startsWith('alias/aws/')) throw kmsErrors.notAuthorized('Alias names starting with alias/aws/ are reserved for AWS managed keys.')
  return value
}

function existingAlias(ctx: OperationContext, name: string): AliasRecord {
  const slot = aliasSlot(ctx.meta.region, name)
  const alias = Object.hasOwn(state(ctx).aliases, slot) ? state(ctx).aliases[slot] : undefined
  if (!alias || !liveKey(state(ctx), alias.targetKeyId, ctx)) throw aliasNotFound(aliasArn(ctx.meta.region, ctx.iam.accountId, name))
  return alias
}

/** A key referred to by id or ARN only: key administration does not take aliases. */
const byKeyId = (input: { KeyId?: string }, ctx: OperationContext) => resolveKey(input.KeyId, ctx, { allowAlias: false })
/** A key referred to by id, ARN, alias name or alias ARN. */
const byAnyRef = (input: { KeyId?: string }, ctx: OperationContext) => resolveKey(input.KeyId, ctx)

/** Most operations: one check on one key, with operation-specific context. */
function onKey<I extends { KeyId?: string } = any, O = any>(
  action: string,
  resolve: (input: I, ctx: OperationContext) => ResolvedKey,
  run: (input: I, ctx: OperationContext, resolved: ResolvedKey) => O | Promise<O>,
  extra: Partial<Operation<I, O>> & { context?: (input: I, resolved: ResolvedKey) => RequestContext } = {},
): Operation<I, O> {
  const { context, ...rest } = extra
  return {
    authorize: (input, ctx) => {
      const resolved = resolve(input, ctx)
      return [keyCheck(`kms:${action}`, resolved, ctx, context?.(input, resolved) ?? {})]
    },
    run: (input, ctx) => {
      const resolved = resolve(input, ctx)
      guardKey(resolved.key, action)
      return run(input, ctx, resolved)
    },
    ...rest,
  }
}

function encryptUnder(key: KeyRecord, plaintext: Buffer, context: EncryptionContext | undefined): string {
  const material = currentMaterial(key)
  // The state guard lets only Enabled keys through, and an Enabled key always has material.
  if (!material?.material) throw kmsErrors.invalidState(`${key.arn} is pending import.`)
  return encryptBlob({ keyId: key.keyId, materialVersion: material.version, material: Buffer.from(material.material, 'base64'), plaintext, context }).toString('base64')
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

function decryptWith(key: KeyRecord, parsed: NonNullable<ReturnType<typeof parseBlob>>, context: EncryptionContext | undefined): Buffer {
  const material = key.materials[parsed.materialVersion]?.material
  if (!material) throw kmsErrors.invalidCiphertext('')
  const plaintext = decryptBlob(parsed, Buffer.from(material, 'base64'), context)
  // AWS says nothing more: a wrong context and a tampered blob are indistinguishable.
  if (!plaintext) throw kmsErrors.invalidCiphertext('')
  return plaintext
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

// ---- CloudTrail ------------------------------------------------------------------------------

/** Members CloudTrail never records: plaintext, ciphertexts, wrapped material, tokens. */
const SECRET_MEMBERS = new Set(['Plaintext', 'CiphertextBlob', 'SourceCiphertextBlob', 'EncryptedKeyMaterial', 'ImportToken', 'GrantTokens', 'GrantToken'])
/** Maps whose keys are the caller's own strings, recorded verbatim. */
const VERBATIM_MAPS = new Set(['EncryptionContext', 'SourceEncryptionContext', 'DestinationEncryptionContext'])

function camel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1)
}

function camelize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelize)
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = Object.create(null)
    for (const [k, v] of Object.entries(value)) out[camel(k)] = camelize(v)
    return out
  }
  return value
}

/** requestParameters in CloudTrail's camelCase, without secrets. */
export function kmsRequestParameters(input: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!input) return null
  const out: Record<string, unknown> = Object.create(null)
  for (const [k, v] of Object.entries(input)) {
    if (SECRET_MEMBERS.has(k) || v === undefined) continue
    out[camel(k)] = VERBATIM_MAPS.has(k) ? v : camelize(v)
  }
  return Object.keys(out).length > 0 ? out : null
}

// ---- operations ----------------------------------------------------------------------------

const CreateKey: Operation = {
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
    if (!['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'].includes(keyUsage)) {
      throw constraintViolation(keyUsage, 'keyUsage', 'Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]')
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
    if (tags.length > 50) throw kmsErrors.limitExceeded('A KMS key can have at most 50 tags.')
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

const ListKeys: Operation = {
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

const ListAliases: Operation = {
  authorize: (input, ctx) => {
    // An unknown KeyId filter is NotFoundException before any authorisation question.
    if (input.KeyId !== undefined) byKeyId(input, ctx)
    return [accountCheck('kms:ListAliases', ctx)]
  },
  run: (input, ctx) => {
    const st = state(ctx)
    const filter = input.KeyId !== undefined ? byKeyId(input, ctx).key.keyId : undefined
    const aliases = Object.values(st.aliases)
      .filter((a) => a.region === ctx.meta.region && a.accountId === ctx.iam.accountId)
      .filter((a) => (filter ? a.targetKeyId === filter : true) && liveKey(st, a.targetKeyId, ctx))
      .sort((a, b) => a.aliasName.localeCompare(b.aliasName))
    // Predefined aliases are listed, without a target, until their AWS managed key exists.
    const listed: Array<AliasRecord | { aliasName: string; region: string; accountId: string }> = [...aliases]
    if (!filter) {
      for (const name of PREDEFINED_ALIASES) {
        if (!Object.hasOwn(st.aliases, aliasSlot(ctx.meta.region, name))) listed.push({ aliasName: name, region: ctx.meta.region, accountId: ctx.iam.accountId })
      }
      listed.sort((a, b) => a.aliasName.localeCompare(b.aliasName))
    }
    const { items, ...rest } = page(listed, input.Limit, input.Marker, 100, 50)
    return {
      Aliases: items.map((a) => ({
        AliasName: a.aliasName,
        AliasArn: aliasArn(a.region, a.accountId, a.aliasName),
        ...('targetKeyId' in a
          ? { TargetKeyId: a.targetKeyId, CreationDate: seconds(a.creationDate), LastUpdatedDate: seconds(a.lastUpdatedDate) }
          : {}),
      })),
      ...rest,
    }
  },
  readOnly: true,
}

// Alias operations need permission on the alias (IAM policy) and on each key involved (key policy).
// https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html
const CreateAlias: Operation = {
  authorize: (input, ctx) => {
    const name = checkAliasName(input.AliasName)
    const target = resolveKey(requireMember(input.TargetKeyId, 'targetKeyId'), ctx, { allowAlias: false })
    return [aliasCheck('kms:CreateAlias', aliasArn(ctx.meta.region, ctx.iam.accountId, name), ctx), keyCheck('kms:CreateAlias', target, ctx)]
  },
  run: (input, ctx) => {
    const name = checkAliasName(input.AliasName)
    const { key } = resolveKey(input.TargetKeyId, ctx, { allowAlias: false })
    guardKey(key, 'CreateAlias')
    const st = state(ctx)
    const slot = aliasSlot(ctx.meta.region, name)
    const arn = aliasArn(ctx.meta.region, ctx.iam.accountId, name)
    if (Object.hasOwn(st.aliases, slot) && liveKey(st, st.aliases[slot].targetKeyId, ctx)) throw kmsErrors.alreadyExists(`An alias with the name ${arn} already exists`)
    const t = now(ctx)
    st.aliases[slot] = { aliasName: name, region: ctx.meta.region, accountId: ctx.iam.accountId, targetKeyId: key.keyId, creationDate: t, lastUpdatedDate: t }
    save(ctx)
    return {}
  },
}

const UpdateAlias: Operation = {
  authorize: (input, ctx) => {
    const name = checkAliasName(input.AliasName)
    const alias = existingAlias(ctx, name)
    const current = resolveKey(alias.targetKeyId, ctx, { allowAlias: false })
    const target = resolveKey(requireMember(input.TargetKeyId, 'targetKeyId'), ctx, { allowAlias: false })
    return [
      aliasCheck('kms:UpdateAlias', aliasArn(ctx.meta.region, ctx.iam.accountId, name), ctx),
      keyCheck('kms:UpdateAlias', current, ctx),
      keyCheck('kms:UpdateAlias', target, ctx),
    ]
  },
  run: (input, ctx) => {
    const alias = existingAlias(ctx, checkAliasName(input.AliasName))
    const { key } = resolveKey(input.TargetKeyId, ctx, { allowAlias: false })
    guardKey(key, 'UpdateAlias')
    alias.targetKeyId = key.keyId
    alias.lastUpdatedDate = now(ctx)
    save(ctx)
    return {}
  },
}

const DeleteAlias: Operation = {
  authorize: (input, ctx) => {
    const name = checkAliasName(input.AliasName)
    const alias = existingAlias(ctx, name)
    return [
      aliasCheck('kms:DeleteAlias', aliasArn(ctx.meta.region, ctx.iam.accountId, name), ctx),
      keyCheck('kms:DeleteAlias', resolveKey(alias.targetKeyId, ctx, { allowAlias: false }), ctx),
    ]
  },
  run: (input, ctx) => {
    const name = checkAliasName(input.AliasName)
    existingAlias(ctx, name)
    delete state(ctx).aliases[aliasSlot(ctx.meta.region, name)]
    save(ctx)
    return {}
  },
}

const Encrypt = onKey(
  'Encrypt',
  byAnyRef,
  (input: any, _ctx, { key }) => {
    const plaintext = blob(input.Plaintext, 'plaintext')
    if (plaintext.length > MAX_PLAINTEXT) throw constraintViolation(undefined, 'plaintext', `Member must have length less than or equal to ${MAX_PLAINTEXT}`)
    checkAlgorithm(input.EncryptionAlgorithm, key)
    const context = checkContext(input.EncryptionContext, 'encryptionContext')
    return { CiphertextBlob: encryptUnder(key, plaintext, context), KeyId: key.arn, EncryptionAlgorithm: SYMMETRIC_DEFAULT }
  },
  {
    readOnly: true,
    context: (input: any) => ({ ...encryptionContextConditions(input.EncryptionContext), 'kms:EncryptionAlgorithm': input.EncryptionAlgorithm ?? SYMMETRIC_DEFAULT }),
  },
)

const Decrypt: Operation = {
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
    const plaintext = decryptWith(key, parsed, checkContext(input.EncryptionContext, 'encryptionContext'))
    return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: SYMMETRIC_DEFAULT }
  },
  readOnly: true,
}

// ReEncrypt asks for kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the destination.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html
const ReEncrypt: Operation = {
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
    const plaintext = decryptWith(source.key, source.parsed, checkContext(input.SourceEncryptionContext, 'sourceEncryptionContext'))
    const context = checkContext(input.DestinationEncryptionContext, 'destinationEncryptionContext')
    return {
      CiphertextBlob: encryptUnder(destination, plaintext, context),
      SourceKeyId: source.key.arn,
      KeyId: destination.arn,
      SourceEncryptionAlgorithm: SYMMETRIC_DEFAULT,
      DestinationEncryptionAlgorithm: SYMMETRIC_DEFAULT,
    }
  },
  readOnly: true,
}

const dataKeyContext = (input: any) => encryptionContextConditions(input.EncryptionContext)

const GenerateDataKey = onKey(
  'GenerateDataKey',
  byAnyRef,
  (input: any, _ctx, { key }) => {
    const dataKey = randomBytes(dataKeyLength(input))
    const context = checkContext(input.EncryptionContext, 'encryptionContext')
    return { CiphertextBlob: encryptUnder(key, dataKey, context), Plaintext: dataKey.toString('base64'), KeyId: key.arn }
  },
  { readOnly: true, context: dataKeyContext },
)

const GenerateDataKeyWithoutPlaintext = onKey(
  'GenerateDataKeyWithoutPlaintext',
  byAnyRef,
  (input: any, _ctx, { key }) => {
    const dataKey = randomBytes(dataKeyLength(input))
    const context = checkContext(input.EncryptionContext, 'encryptionContext')
    return { CiphertextBlob: encryptUnder(key, dataKey, context), KeyId: key.arn }
  },
  { readOnly: true, context: dataKeyContext },
)

const GenerateRandom: Operation = {
  authorize: (_input, ctx) => [accountCheck('kms:GenerateRandom', ctx)],
  run: (input) => {
    if (input.CustomKeyStoreId !== undefined) throw kmsErrors.unsupported('The lab has no custom key stores.')
    const size = intInRange(requireMember(input.NumberOfBytes, 'numberOfBytes'), 'numberOfBytes', 1, 1024)
    return { Plaintext: randomBytes(size).toString('base64') }
  },
  readOnly: true,
}

function checkPolicyName(name: unknown): void {
  if (name !== undefined && name !== 'default') throw kmsErrors.notFound(`No such policy exists: ${String(name)}. The only valid policy name is default.`)
}

const GetKeyPolicy = onKey(
  'GetKeyPolicy',
  byKeyId,
  (input: any, _ctx, { key }) => {
    checkPolicyName(input.PolicyName)
    return { Policy: key.policy, PolicyName: 'default' }
  },
  { readOnly: true },
)

const PutKeyPolicy = onKey(
  'PutKeyPolicy',
  byKeyId,
  (input: any, ctx, { key }) => {
    checkPolicyName(input.PolicyName ?? 'default')
    admitKeyPolicy(input.Policy, key.arn, ctx, input.BypassPolicyLockoutSafetyCheck === true)
    key.policy = input.Policy
    save(ctx)
    return {}
  },
  {
    context: (input: any): RequestContext =>
      input.BypassPolicyLockoutSafetyCheck !== undefined ? { 'kms:BypassPolicyLockoutSafetyCheck': String(input.BypassPolicyLockoutSafetyCheck) } : {},
  },
)

const ListKeyPolicies = onKey('ListKeyPolicies', byKeyId, () => ({ PolicyNames: ['default'], Truncated: false }), { readOnly: true })

const UpdateKeyDescription = onKey('UpdateKeyDescription', byKeyId, (input: any, ctx, { key }) => {
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

const ScheduleKeyDeletion = onKey('ScheduleKeyDeletion', byKeyId, (input: any, ctx, { key }) => {
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

const EnableKeyRotation = onKey('EnableKeyRotation', byKeyId, (input: any, ctx, { key }) => {
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

const RotateKeyOnDemand = onKey('RotateKeyOnDemand', byKeyId, (_input, ctx, { key }) => {
  if (key.rotations.filter((r) => r.type === 'ON_DEMAND').length >= MAX_ON_DEMAND_ROTATIONS) {
    throw kmsErrors.limitExceeded(`${key.arn} has reached the maximum number of on-demand rotations.`)
  }
  rotateMaterial(key, 'ON_DEMAND', now(ctx))
  save(ctx)
  return { KeyId: key.keyId }
})

const ListKeyRotations = onKey(
  'ListKeyRotations',
  byKeyId,
  (input: any, _ctx, { key }) => {
    const { items, ...rest } = page(key.rotations, input.Limit, input.Marker, 1000, 100)
    return { Rotations: items.map((r) => ({ KeyId: key.keyId, RotationDate: seconds(r.date), RotationType: r.type })), ...rest }
  },
  { readOnly: true },
)

const TagResource = onKey(
  'TagResource',
  byKeyId,
  (input: any, ctx, { key }) => {
    key.tags = mergeTags(key.tags, validateTags(input.Tags))
    save(ctx)
    return {}
  },
  { context: (input: any) => requestTagConditions(Array.isArray(input.Tags) ? input.Tags : []) },
)

const UntagResource = onKey(
  'UntagResource',
  byKeyId,
  (input: any, ctx, { key }) => {
    const keys = input.TagKeys
    if (!Array.isArray(keys)) throw constraintViolation(undefined, 'tagKeys', 'Member must not be null')
    key.tags = key.tags.filter((t) => !keys.includes(t.TagKey))
    save(ctx)
    return {}
  },
  { context: (input: any) => requestTagConditions([], Array.isArray(input.TagKeys) ? input.TagKeys : []) },
)

const ListResourceTags = onKey(
  'ListResourceTags',
  byKeyId,
  (input: any, _ctx, { key }) => {
    const { items, ...rest } = page(key.tags, input.Limit, input.Marker, 50, 50)
    return { Tags: items, ...rest }
  },
  { readOnly: true },
)

const GetParametersForImport = onKey(
  'GetParametersForImport',
  byKeyId,
  async (input: any, ctx, { key }) => {
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
    context: (input: any) => ({
      ...(input.WrappingAlgorithm ? { 'kms:WrappingAlgorithm': input.WrappingAlgorithm } : {}),
      ...(input.WrappingKeySpec ? { 'kms:WrappingKeySpec': input.WrappingKeySpec } : {}),
    }),
  },
)

function expirationModelOf(input: any): ExpirationModel {
  return input.ExpirationModel ?? (input.ValidTo !== undefined ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE')
}

const ImportKeyMaterial = onKey(
  'ImportKeyMaterial',
  byKeyId,
  (input: any, ctx, { key }) => {
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
    context: (input: any) => ({ 'kms:ExpirationModel': expirationModelOf(input) }),
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

const operations: Record<string, Operation> = {
  CreateKey,
  DescribeKey,
  ListKeys,
  ListAliases,
  CreateAlias,
  UpdateAlias,
  DeleteAlias,
  Encrypt,
  Decrypt,
  ReEncrypt,
  GenerateDataKey,
  GenerateDataKeyWithoutPlaintext,
  GenerateRandom,
  GetKeyPolicy,
  PutKeyPolicy,
  ListKeyPolicies,
  UpdateKeyDescription,
  EnableKey,
  DisableKey,
  ScheduleKeyDeletion,
  CancelKeyDeletion,
  EnableKeyRotation,
  DisableKeyRotation,
  GetKeyRotationStatus,
  RotateKeyOnDemand,
  ListKeyRotations,
  TagResource,
  UntagResource,
  ListResourceTags,
  GetParametersForImport,
  ImportKeyMaterial,
  DeleteImportedKeyMaterial,
}

Object.assign(operations, grantOperations)

// CloudTrail always records the algorithms of Encrypt, Decrypt and ReEncrypt, sent or not.
// https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html, ct-encrypt.html, ct-reencrypt.html
Encrypt.requestParameters = Decrypt.requestParameters = (input) => ({ ...kmsRequestParameters(input), encryptionAlgorithm: input.EncryptionAlgorithm ?? SYMMETRIC_DEFAULT })
ReEncrypt.requestParameters = (input) => ({
  ...kmsRequestParameters(input),
  sourceEncryptionAlgorithm: input.SourceEncryptionAlgorithm ?? SYMMETRIC_DEFAULT,
  destinationEncryptionAlgorithm: input.DestinationEncryptionAlgorithm ?? SYMMETRIC_DEFAULT,
})

for (const op of Object.values(operations)) {
  op.requestParameters ??= kmsRequestParameters
  // Every operation that takes GrantTokens checks them before anything else.
  const authorize = op.authorize
  op.authorize = (input, ctx) => {
    checkGrantTokens(input?.GrantTokens)
    return authorize(input, ctx)
  }
}

export function createKmsService(): ServiceDefinition {
  return {
    name: 'kms',
    signingName: 'kms',
    eventSource: 'kms.amazonaws.com',
    accessDenied: { code: 'AccessDeniedException', status: 400 },
    operations,
  }
}

