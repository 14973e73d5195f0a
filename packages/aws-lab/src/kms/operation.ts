// What every KMS operation area shares: the state and clock of the call, member checks, paging,
// and the key-reference resolvers with the one-check-on-one-key operation shape.
import type { RequestContext } from '@kms-share/policy'
import type { Operation, OperationContext } from '../core/types.js'
import { keyCheck } from './authz.js'
import { constraintViolation, kmsErrors } from './errors.js'
import { type ResolvedKey, guardKey, resolveKey } from './key-ref.js'
import type { EncryptionContext } from './crypto.js'
import { type ExpirationModel, type KmsState, type Tag, kmsState, saveKms } from './model.js'

/**
 * A KMS request's members as the API declares them (the JSON protocol hands the parsed body over
 * unchanged); operations still check what they must (blobs, maps, ranges) as KMS does.
 * https://docs.aws.amazon.com/kms/latest/APIReference/API_Operations.html
 */
// A type, not an interface: it is also read as CloudTrail's Record<string, unknown>.
export type KmsInput = {
  KeyId?: string
  AliasName?: string
  TargetKeyId?: string
  SourceKeyId?: string
  DestinationKeyId?: string
  /** Blobs, base64 on the wire. */
  Plaintext?: string
  CiphertextBlob?: string
  EncryptedKeyMaterial?: string
  ImportToken?: string
  EncryptionAlgorithm?: string
  SourceEncryptionAlgorithm?: string
  DestinationEncryptionAlgorithm?: string
  EncryptionContext?: EncryptionContext
  SourceEncryptionContext?: EncryptionContext
  DestinationEncryptionContext?: EncryptionContext
  KeySpec?: string
  CustomerMasterKeySpec?: string
  KeyUsage?: string
  Origin?: string
  CustomKeyStoreId?: string
  MultiRegion?: boolean
  Description?: string
  Policy?: string
  PolicyName?: string
  BypassPolicyLockoutSafetyCheck?: boolean
  NumberOfBytes?: number
  PendingWindowInDays?: number
  RotationPeriodInDays?: number
  WrappingAlgorithm?: string
  WrappingKeySpec?: string
  ExpirationModel?: ExpirationModel
  ImportType?: string
  KeyMaterialId?: string
  DryRun?: boolean
  /** Epoch seconds. */
  ValidTo?: number
  Tags?: Tag[]
  TagKeys?: string[]
  GrantTokens?: string[]
  Limit?: number
  Marker?: string
}

export const SYMMETRIC_DEFAULT = 'SYMMETRIC_DEFAULT'

export const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000)

export function now(ctx: OperationContext): number {
  return ctx.meta.time.getTime()
}

export function state(ctx: OperationContext): KmsState {
  return kmsState(ctx.state)
}

export function save(ctx: OperationContext): void {
  saveKms(ctx.state)
}

/** Decodes a base64 blob member; the SDK and CLI always send valid base64. */
export function blob(value: unknown, member: string): Buffer {
  if (typeof value !== 'string' || value.length === 0) throw constraintViolation(undefined, member, 'Member must not be null')
  return Buffer.from(value, 'base64')
}

export function intInRange(value: unknown, member: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw constraintViolation(value, member, 'Member must be an integer')
  if (value < min) throw constraintViolation(value, member, `Member must have value greater than or equal to ${min}`)
  if (value > max) throw constraintViolation(value, member, `Member must have value less than or equal to ${max}`)
  return value
}

/** Opaque paging markers: the offset into a stable ordering, under a prefix of the listing's own (`grants-…`). */
export function page<T>(items: T[], limit: unknown, marker: unknown, max: number, fallback: number, prefix = 'lab'): { items: T[]; Truncated: boolean; NextMarker?: string } {
  const size = limit === undefined ? fallback : intInRange(limit, 'limit', 1, max)
  let start = 0
  if (marker !== undefined) {
    const decoded = typeof marker === 'string' ? new RegExp(`^${prefix}-(\\d+)$`).exec(Buffer.from(marker, 'base64').toString('utf8')) : null
    if (!decoded) throw kmsErrors.invalidMarker('Invalid marker')
    start = Number(decoded[1])
  }
  const slice = items.slice(start, start + size)
  const end = start + slice.length
  return end < items.length
    ? { items: slice, Truncated: true, NextMarker: Buffer.from(`${prefix}-${end}`).toString('base64') }
    : { items: slice, Truncated: false }
}

/** A key referred to by id or ARN only: key administration does not take aliases. */
export const byKeyId = (input: { KeyId?: string }, ctx: OperationContext) => resolveKey(input.KeyId, ctx, { allowAlias: false })
/** A key referred to by id, ARN, alias name or alias ARN. */
export const byAnyRef = (input: { KeyId?: string }, ctx: OperationContext) => resolveKey(input.KeyId, ctx)

/** Most operations: one check on one key, with operation-specific context. */
export function onKey<I extends { KeyId?: string } = KmsInput, O = unknown>(
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
