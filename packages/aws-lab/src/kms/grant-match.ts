// Which grants allow a request: a grant names the caller (its ARN, or its role for any session of it),
// holds the operation, and its encryption-context constraints hold. Authorisation (authz.ts) and the
// grant operations (grants.ts) both ask it.
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
import type { RequestContext, Statement as PolicyStatement } from '@kms-share/policy'
import type { Caller } from '../core/types.js'
import type { GrantConstraints, GrantRecord, KmsState } from './model.js'

/** Whether a grant's grantee (or retiring) principal names this caller: its ARN, or its role for any session of it. */
export function principalNames(entry: string | undefined, caller: Caller): boolean {
  if (!entry) return false
  return entry === caller.principal.arn || (caller.principal.roleArn !== undefined && entry === caller.principal.roleArn)
}

function contextOf(context: RequestContext): Record<string, string> {
  const out = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(context)) {
    if (k.startsWith('kms:EncryptionContext:') && typeof v === 'string') out[k.slice('kms:EncryptionContext:'.length)] = v
  }
  return out
}

/** The context with its keys lower-cased: in grant constraints the key is not case sensitive, the value is. */
function foldKeys(context: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(context).map(([k, v]) => [k.toLowerCase(), v]))
}

// https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html ("the key is not case sensitive")
function constraintsHold(constraints: GrantConstraints | undefined, requestContext: Record<string, string>): boolean {
  if (!constraints) return true
  const request = foldKeys(requestContext)
  const equals = constraints.EncryptionContextEquals
  if (equals) {
    const wanted = foldKeys(equals)
    if (request.size !== wanted.size) return false
    for (const [k, v] of wanted) if (request.get(k) !== v) return false
  }
  const subset = constraints.EncryptionContextSubset
  if (subset) {
    for (const [k, v] of foldKeys(subset)) if (request.get(k) !== v) return false
  }
  return true
}

/**
 * Key-policy statements standing for the grants that allow `caller` to do `action` on `keyId` with this
 * request context: evaluation then treats them like a key policy naming the grantee, so an explicit deny wins.
 * `permits` narrows which grants count (CreateGrant through a grant hands on no more than the grant holds).
 */
export function grantStatements(state: KmsState, keyId: string, action: string, caller: Caller, context: RequestContext, permits: (grant: GrantRecord) => boolean = () => true): PolicyStatement[] {
  const operation = action.replace(/^kms:/, '')
  const requestContext = contextOf(context)
  const out: PolicyStatement[] = []
  for (const grant of Object.values(state.grants ?? {})) {
    if (grant.keyId !== keyId || !grant.operations.includes(operation) || !permits(grant)) continue
    if (!principalNames(grant.granteePrincipal, caller) || !constraintsHold(grant.constraints, requestContext)) continue
    out.push({ Sid: `grant:${grant.grantId}`, Effect: 'Allow', Principal: { AWS: [grant.granteePrincipal] }, Action: [action], Resource: ['*'] })
  }
  return out
}

/** Whether a grant lets its grantee make this new grant: no operation it lacks, and its constraints kept. */
export function grantCanHandOn(grant: GrantRecord, operations: string[], constraints: GrantConstraints | undefined): boolean {
  if (!operations.every((op) => grant.operations.includes(op))) return false
  if (!grant.constraints) return true
  return JSON.stringify(constraints ?? {}) === JSON.stringify(grant.constraints)
}
