// KMS aliases: one name per key in a Region, managed with permission on the alias and on the keys.
// https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html
import type { Operation, OperationContext } from '../core/types.js'
import { accountCheck, aliasCheck, keyCheck } from './authz.js'
import { constraintViolation, kmsErrors, requireMember } from './errors.js'
import { type ResolvedKey, aliasNotFound, guardKey, liveKey, resolveKey } from './key-ref.js'
import { type AliasRecord, type KeyRecord, PREDEFINED_ALIASES, aliasArn, aliasSlot } from './model.js'
import { seconds, now, state, save, page, byKeyId, type KmsInput } from './operation.js'

const ALIAS_PATTERN = /^[a-zA-Z0-9:/_-]+$/

function checkAliasName(name: unknown): string {
  const value = requireMember(name as string, 'aliasName')
  if (typeof value !== 'string' || value.length > 256) throw constraintViolation(value, 'aliasName', 'Member must have length less than or equal to 256')
  if (!ALIAS_PATTERN.test(value)) throw constraintViolation(value, 'aliasName', 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$')
  if (!value.startsWith('alias/')) {
    // AWS answers ValidationException here, not InvalidAliasNameException (recorded: LocalStack test_kms.py::test_create_alias).
    throw kmsErrors.validation('Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html')
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

const ListAliases: Operation<KmsInput> = {
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
interface AliasInput {
  AliasName?: unknown
  TargetKeyId?: string
}

function onAlias(
  action: string,
  keysInvolved: (input: AliasInput, ctx: OperationContext, name: string) => ResolvedKey[],
  change: (input: AliasInput, ctx: OperationContext, name: string) => void,
): Operation<AliasInput> {
  return {
    authorize: (input, ctx) => {
      const name = checkAliasName(input.AliasName)
      return [aliasCheck(`kms:${action}`, aliasArn(ctx.meta.region, ctx.iam.accountId, name), ctx), ...keysInvolved(input, ctx, name).map((key) => keyCheck(`kms:${action}`, key, ctx))]
    },
    run: (input, ctx) => {
      change(input, ctx, checkAliasName(input.AliasName))
      save(ctx)
      return {}
    },
  }
}

/** The key an alias is to point at: by id or ARN only, and usable. */
function targetKey(input: AliasInput, ctx: OperationContext, action: string): KeyRecord {
  const { key } = resolveKey(input.TargetKeyId, ctx, { allowAlias: false })
  guardKey(key, action)
  return key
}

const CreateAlias = onAlias(
  'CreateAlias',
  (input, ctx) => [resolveKey(requireMember(input.TargetKeyId, 'targetKeyId'), ctx, { allowAlias: false })],
  (input, ctx, name) => {
    const key = targetKey(input, ctx, 'CreateAlias')
    const st = state(ctx)
    const slot = aliasSlot(ctx.meta.region, name)
    const arn = aliasArn(ctx.meta.region, ctx.iam.accountId, name)
    if (Object.hasOwn(st.aliases, slot) && liveKey(st, st.aliases[slot].targetKeyId, ctx)) throw kmsErrors.alreadyExists(`An alias with the name ${arn} already exists`)
    const t = now(ctx)
    st.aliases[slot] = { aliasName: name, region: ctx.meta.region, accountId: ctx.iam.accountId, targetKeyId: key.keyId, creationDate: t, lastUpdatedDate: t }
  },
)

const UpdateAlias = onAlias(
  'UpdateAlias',
  (input, ctx, name) => {
    const alias = existingAlias(ctx, name)
    const current = resolveKey(alias.targetKeyId, ctx, { allowAlias: false })
    const target = resolveKey(requireMember(input.TargetKeyId, 'targetKeyId'), ctx, { allowAlias: false })
    return [current, target]
  },
  (input, ctx, name) => {
    const alias = existingAlias(ctx, name)
    const key = targetKey(input, ctx, 'UpdateAlias')
    alias.targetKeyId = key.keyId
    alias.lastUpdatedDate = now(ctx)
  },
)

const DeleteAlias = onAlias(
  'DeleteAlias',
  (_input, ctx, name) => [resolveKey(existingAlias(ctx, name).targetKeyId, ctx, { allowAlias: false })],
  (_input, ctx, name) => {
    existingAlias(ctx, name)
    delete state(ctx).aliases[aliasSlot(ctx.meta.region, name)]
  },
)

export const aliasOperations: Record<string, Operation> = { ListAliases, CreateAlias, UpdateAlias, DeleteAlias }
