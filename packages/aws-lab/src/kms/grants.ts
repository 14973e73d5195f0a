// KMS grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, grant tokens,
// and the part grants play in authorisation (a grant allows its grantee the grant's operations on
// its key, within its encryption-context constraints; an explicit deny still wins).
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
// https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html
import { randomBytes } from 'node:crypto'
import type { RequestContext } from '@kms-share/policy'
import { AwsError, type Operation, type OperationContext } from '../core/types.js'
import { accountCheck, keyCheck } from './authz.js'
import { constraintViolation, kmsErrors, requireMember } from './errors.js'
import { grantCanHandOn, principalNames } from './grant-match.js'
import { resolveKey, type ResolvedKey } from './key-ref.js'
import { page } from './operation.js'
import { type GrantConstraints, type GrantRecord, type KmsState, keyArn, kmsState, saveKms } from './model.js'

export const GRANT_OPERATIONS = [
  'Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'Sign', 'Verify',
  'GetPublicKey', 'CreateGrant', 'RetireGrant', 'DescribeKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac', 'VerifyMac', 'DeriveSharedSecret',
] as const
const MAX_GRANT_TOKENS = 10
const TOKEN_PREFIX = 'AQpAM'
const NAME_PATTERN = /^[a-zA-Z0-9:/_-]+$/
const PRINCIPAL_PATTERN = /^[\w+=,.@:/-]+$/

/** The grant operations' members; the principals, operations, name and constraints are checked here, as KMS does. */
interface GrantInput {
  KeyId?: string
  GranteePrincipal?: unknown
  RetiringPrincipal?: unknown
  Operations?: unknown
  Name?: unknown
  Constraints?: { EncryptionContextEquals?: unknown; EncryptionContextSubset?: unknown } | null
  GrantId?: string
  GrantToken?: string
  Limit?: number
  Marker?: string
}

const byKeyId = (input: { KeyId?: string }, ctx: OperationContext) => resolveKey(input.KeyId, ctx, { allowAlias: false })
const seconds = (ms: number) => ms / 1000

function grants(ctx: OperationContext): KmsState['grants'] {
  return kmsState(ctx.state).grants
}

function ownGrant(ctx: OperationContext, grantId: string): GrantRecord | undefined {
  const all = grants(ctx)
  return Object.hasOwn(all, grantId) ? all[grantId] : undefined
}

/** GrantTokens on any operation: at most 10, each one KMS issued (a made-up token is InvalidGrantTokenException). */
export function checkGrantTokens(tokens: unknown): void {
  if (tokens === undefined || tokens === null) return
  if (!Array.isArray(tokens)) throw constraintViolation(undefined, 'grantTokens', 'Member must be a list')
  if (tokens.length > MAX_GRANT_TOKENS) throw constraintViolation('[...]', 'grantTokens', `Member must have length less than or equal to ${MAX_GRANT_TOKENS}`)
  for (const token of tokens) {
    if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX) || token.length < 64) {
      throw new AwsError('InvalidGrantTokenException', 'The grant token is not valid.', 400)
    }
  }
}

function checkContextMap(value: unknown, member: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw constraintViolation('<map>', member, 'Member must be a map of strings')
  }
  return { ...(value as Record<string, string>) }
}

function grantInput(input: GrantInput, ctx: OperationContext) {
  const grantee = requireMember(input.GranteePrincipal, 'granteePrincipal')
  if (typeof grantee !== 'string' || grantee.length > 256 || !PRINCIPAL_PATTERN.test(grantee)) {
    throw constraintViolation(grantee, 'granteePrincipal', 'Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$')
  }
  const retiring = input.RetiringPrincipal
  if (retiring !== undefined && (typeof retiring !== 'string' || !PRINCIPAL_PATTERN.test(retiring))) {
    throw constraintViolation(retiring, 'retiringPrincipal', 'Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$')
  }
  for (const [member, arn] of [['GranteePrincipal', grantee], ['RetiringPrincipal', retiring]] as const) {
    if (arn !== undefined && arn.startsWith('arn:') && !ctx.iam.principalExists(arn)) throw kmsErrors.validation(`${member} ${arn} is not a valid principal.`)
  }
  if (!Array.isArray(input.Operations) || input.Operations.length === 0) throw constraintViolation(undefined, 'operations', 'Member must not be null')
  const operations = input.Operations as unknown[]
  for (const op of operations) {
    if (typeof op !== 'string' || !(GRANT_OPERATIONS as readonly string[]).includes(op)) {
      throw constraintViolation(`[${operations.join(', ')}]`, 'operations', `Member must satisfy constraint: [Member must satisfy enum value set: [${GRANT_OPERATIONS.join(', ')}]]`)
    }
  }
  if (operations.every((op) => op === 'CreateGrant')) throw kmsErrors.validation('Grants must not contain only the CreateGrant operation.')
  const name = input.Name
  if (name !== undefined && (typeof name !== 'string' || name.length > 256 || !NAME_PATTERN.test(name))) {
    throw constraintViolation(name, 'name', 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$')
  }
  let constraints: GrantConstraints | undefined
  if (input.Constraints !== undefined && input.Constraints !== null) {
    const equals = checkContextMap(input.Constraints.EncryptionContextEquals, 'constraints.encryptionContextEquals')
    const subset = checkContextMap(input.Constraints.EncryptionContextSubset, 'constraints.encryptionContextSubset')
    constraints = { ...(equals ? { EncryptionContextEquals: equals } : {}), ...(subset ? { EncryptionContextSubset: subset } : {}) }
  }
  return { grantee, retiring, operations: [...new Set(operations as string[])], name, constraints }
}

/** What a symmetric encryption key (the lab's only kind) can be granted; Sign, Verify, GetPublicKey, MACs and key agreement need other keys. */
const SYMMETRIC_GRANT_OPERATIONS = new Set(['Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'CreateGrant', 'RetireGrant', 'DescribeKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext'])

function checkOperationsFit(operations: string[], keyArnText: string): void {
  const unfit = operations.filter((op) => !SYMMETRIC_GRANT_OPERATIONS.has(op))
  if (unfit.length) throw kmsErrors.validation(`Grant operations [${unfit.join(', ')}] are not valid for ${keyArnText}: its key spec is SYMMETRIC_DEFAULT and its key usage ENCRYPT_DECRYPT.`)
}

function grantOut(grant: GrantRecord, arn: string): Record<string, unknown> {
  return {
    KeyId: arn,
    GrantId: grant.grantId,
    ...(grant.name !== undefined ? { Name: grant.name } : {}),
    CreationDate: seconds(grant.creationDate),
    GranteePrincipal: grant.granteePrincipal,
    ...(grant.retiringPrincipal ? { RetiringPrincipal: grant.retiringPrincipal } : {}),
    IssuingAccount: grant.issuingAccount,
    Operations: grant.operations,
    ...(grant.constraints ? { Constraints: grant.constraints } : {}),
  }
}

const newGrantToken = () => TOKEN_PREFIX + randomBytes(96).toString('base64url')
const tokenNames = (grant: GrantRecord, token: string) => grant.token === token || (grant.tokens ?? []).includes(token)

const sorted = (list: GrantRecord[]) => list.sort((a, b) => a.creationDate - b.creationDate || a.grantId.localeCompare(b.grantId))

const CreateGrant: Operation<GrantInput> = {
  authorize: (input, ctx) => {
    const resolved = byKeyId(input, ctx)
    const { grantee, retiring, operations, constraints } = grantInput(input, ctx)
    checkOperationsFit(operations, resolved.key.arn)
    const context: RequestContext = { 'kms:GranteePrincipal': grantee, 'kms:GrantOperations': operations, 'kms:GrantIsForAWSResource': 'false' }
    if (retiring) context['kms:RetiringPrincipal'] = retiring
    const constraintTypes = Object.keys(constraints ?? {})
    if (constraintTypes.length) context['kms:GrantConstraintType'] = constraintTypes
    // CreateGrant held through a grant hands on only that grant's operations, under its constraints.
    // https://docs.aws.amazon.com/kms/latest/developerguide/grants.html ("Grant CreateGrant permission")
    return [keyCheck('kms:CreateGrant', resolved, ctx, context, (grant) => grantCanHandOn(grant, operations, constraints))]
  },
  run: (input, ctx) => {
    const { key } = byKeyId(input, ctx)
    if (key.state === 'PendingDeletion') throw kmsErrors.invalidState(`${key.arn} is pending deletion.`)
    const { grantee, retiring, operations, name, constraints } = grantInput(input, ctx)
    const st = kmsState(ctx.state)
    // Same name and same parameters: the same grant again (CreateGrant is idempotent that way).
    const same = name === undefined
      ? undefined
      : Object.values(st.grants).find((g) =>
          g.keyId === key.keyId && g.name === name && g.granteePrincipal === grantee && g.retiringPrincipal === retiring &&
          JSON.stringify(g.operations) === JSON.stringify(operations) && JSON.stringify(g.constraints) === JSON.stringify(constraints))
    const token = newGrantToken()
    // Each CreateGrant answer carries a token of its own; all of them name the grant.
    if (same) {
      same.tokens = [...(same.tokens ?? []), token]
      saveKms(ctx.state)
      return { GrantToken: token, GrantId: same.grantId }
    }
    const grantId = randomBytes(32).toString('hex')
    st.grants[grantId] = {
      grantId,
      keyId: key.keyId,
      ...(name !== undefined ? { name } : {}),
      granteePrincipal: grantee,
      ...(retiring ? { retiringPrincipal: retiring } : {}),
      operations,
      ...(constraints ? { constraints } : {}),
      issuingAccount: `arn:aws:iam::${ctx.iam.accountId}:root`,
      creationDate: ctx.meta.time.getTime(),
      token,
    }
    saveKms(ctx.state)
    return { GrantToken: token, GrantId: grantId }
  },
}

const ListGrants: Operation<GrantInput> = {
  authorize: (input, ctx) => [keyCheck('kms:ListGrants', byKeyId(input, ctx), ctx)],
  run: (input, ctx) => {
    const { key } = byKeyId(input, ctx)
    let list = Object.values(grants(ctx)).filter((g) => g.keyId === key.keyId)
    if (input.GrantId !== undefined) list = list.filter((g) => g.grantId === input.GrantId)
    if (input.GranteePrincipal !== undefined) list = list.filter((g) => g.granteePrincipal === input.GranteePrincipal)
    const { items, ...rest } = page(sorted(list), input.Limit, input.Marker, 100, 50, 'grants')
    return { Grants: items.map((g) => grantOut(g, key.arn)), ...rest }
  },
  readOnly: true,
}

const ListRetirableGrants: Operation<GrantInput> = {
  authorize: (input, ctx) => {
    requireMember(input.RetiringPrincipal, 'retiringPrincipal')
    return [accountCheck('kms:ListRetirableGrants', ctx)]
  },
  run: (input, ctx) => {
    const list = Object.values(grants(ctx)).filter((g) => g.retiringPrincipal === input.RetiringPrincipal)
    const { items, ...rest } = page(sorted(list), input.Limit, input.Marker, 100, 50, 'grants')
    return { Grants: items.map((g) => grantOut(g, keyArn(ctx.meta.region, ctx.iam.accountId, g.keyId))), ...rest }
  },
  readOnly: true,
}

/** The grant RetireGrant names: by token, or by key ARN and grant id. */
function grantToRetire(input: GrantInput, ctx: OperationContext): { grant: GrantRecord; resolved: ResolvedKey } {
  let grant: GrantRecord | undefined
  if (input.GrantToken !== undefined) {
    checkGrantTokens([input.GrantToken])
    grant = Object.values(grants(ctx)).find((g) => tokenNames(g, input.GrantToken!))
    if (!grant) throw kmsErrors.notFound('Grant not found.')
  } else {
    if (input.KeyId === undefined || input.GrantId === undefined) throw kmsErrors.validation('Either GrantToken, or both KeyId and GrantId, must be provided.')
    const resolved = byKeyId(input, ctx)
    grant = ownGrant(ctx, String(input.GrantId))
    if (!grant || grant.keyId !== resolved.key.keyId) throw kmsErrors.notFound(`Grant ID ${input.GrantId} not found.`)
  }
  return { grant, resolved: resolveKey(grant.keyId, ctx, { allowAlias: false }) }
}

/** The grant itself lets its retiring principal retire it, and its grantee when RetireGrant is one of its operations. */
const grantLetsRetire = (grant: GrantRecord, ctx: OperationContext) =>
  principalNames(grant.retiringPrincipal, ctx.caller) || (grant.operations.includes('RetireGrant') && principalNames(grant.granteePrincipal, ctx.caller))

// Who may retire: the grant's retiring principal, its grantee when granted RetireGrant, or the account that made the
// grant — there, as for any KMS permission of the account, through the key policy and IAM policies.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html
const RetireGrant: Operation<GrantInput> = {
  authorize: (input, ctx) => {
    const { grant, resolved } = grantToRetire(input, ctx)
    return grantLetsRetire(grant, ctx) ? [] : [keyCheck('kms:RetireGrant', resolved, ctx)]
  },
  run: (input, ctx) => {
    const { grant } = grantToRetire(input, ctx)
    delete grants(ctx)[grant.grantId]
    saveKms(ctx.state)
    return {}
  },
}

const RevokeGrant: Operation<GrantInput> = {
  authorize: (input, ctx) => [keyCheck('kms:RevokeGrant', byKeyId(input, ctx), ctx)],
  run: (input, ctx) => {
    const { key } = byKeyId(input, ctx)
    const grantId = requireMember(input.GrantId, 'grantId')
    const grant = ownGrant(ctx, String(grantId))
    if (!grant || grant.keyId !== key.keyId) throw kmsErrors.notFound(`Grant ID ${grantId} not found.`)
    delete grants(ctx)[grant.grantId]
    saveKms(ctx.state)
    return {}
  },
}

export const grantOperations: Record<string, Operation> = { CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant }
