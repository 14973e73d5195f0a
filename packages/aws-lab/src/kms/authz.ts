// The authorisation checks KMS operations hand to the core: action, key ARN, key policy and
// the KMS condition keys taken from the request and the key.
import type { PolicyDocument, RequestContext } from '@kms-share/policy'
import { effectiveKeyPolicy } from './key-policy.js'
import { grantStatements } from './grant-match.js'
import type { AuthCheck, OperationContext } from '../core/types.js'
import type { ResolvedKey } from './key-ref.js'
import { type GrantRecord, type KeyRecord, type KmsState, type Tag, kmsState } from './model.js'

const parsedPolicies = new Map<string, PolicyDocument>()

/** The key policy as a parsed document (stored text was validated when it was set). */
export function keyPolicyDocument(key: KeyRecord): PolicyDocument {
  let doc = parsedPolicies.get(key.policy)
  if (!doc) {
    // A stored policy that no longer parses grants nothing rather than everything.
    doc = effectiveKeyPolicy(key.policy) ?? { Statement: [] }
    if (parsedPolicies.size > 500) parsedPolicies.clear()
    parsedPolicies.set(key.policy, doc)
  }
  return doc
}

export function keyPolicyName(key: KeyRecord): string {
  return `key-policy/${key.keyId}`
}

/** kms:EncryptionContext:<k> per pair and the multi-valued kms:EncryptionContextKeys. */
export function encryptionContextConditions(context: Record<string, string> | undefined, prefix = 'kms:EncryptionContext:'): RequestContext {
  const out: RequestContext = {}
  const keys = Object.keys(context ?? {})
  for (const k of keys) out[`${prefix}${k}`] = context![k]
  if (keys.length > 0) out['kms:EncryptionContextKeys'] = keys
  return out
}

/** aws:RequestTag/<k> per tag and aws:TagKeys, for tagging on create, TagResource and UntagResource. */
export function requestTagConditions(tags: Tag[] | undefined, tagKeys?: string[]): RequestContext {
  const out: RequestContext = {}
  for (const t of tags ?? []) out[`aws:RequestTag/${t.TagKey}`] = t.TagValue
  const keys = tagKeys ?? (tags ?? []).map((t) => t.TagKey)
  if (keys.length > 0) out['aws:TagKeys'] = keys
  return out
}

/** Condition keys that describe the key itself: origin, spec, usage, its tags and aliases. */
export function keyConditions(key: KeyRecord, state: KmsState): RequestContext {
  const out: RequestContext = {
    'kms:KeyOrigin': key.origin,
    'kms:KeySpec': key.keySpec,
    'kms:KeyUsage': key.keyUsage,
  }
  for (const t of key.tags) out[`aws:ResourceTag/${t.TagKey}`] = t.TagValue
  const aliases = Object.values(state.aliases).filter((a) => a.targetKeyId === key.keyId).map((a) => a.aliasName)
  if (aliases.length > 0) out['kms:ResourceAliases'] = aliases
  return out
}

/** One check against a key: its ARN, its key policy (which must allow), and its condition keys. */
export function keyCheck(action: string, resolved: ResolvedKey, ctx: OperationContext, extra: RequestContext = {}, grantPermits?: (grant: GrantRecord) => boolean): AuthCheck {
  const { key, alias } = resolved
  const state = kmsState(ctx.state)
  const context: RequestContext = { ...keyConditions(key, state), ...extra }
  if (alias) context['kms:RequestAlias'] = alias.aliasName
  // Grants allow like the key policy does (an explicit deny still wins): evaluated as extra key-policy statements.
  const granted = grantStatements(state, key.keyId, action, ctx.caller, context, grantPermits)
  const policy = keyPolicyDocument(key)
  return {
    action,
    resource: key.arn,
    resourcePolicy: { name: keyPolicyName(key), document: granted.length ? { ...policy, Statement: [...policy.Statement, ...granted] } : policy },
    resourcePolicyRequired: true,
    resourceAccount: key.accountId,
    context,
  }
}

/** A check on an alias ARN: aliases have no policy of their own, so only IAM policies count. */
export function aliasCheck(action: string, aliasArnValue: string, ctx: OperationContext): AuthCheck {
  return { action, resource: aliasArnValue, resourceAccount: ctx.iam.accountId, context: {} }
}

/** A check on `*` (CreateKey, ListKeys, ListAliases, GenerateRandom): IAM policies only. */
export function accountCheck(action: string, ctx: OperationContext, context: RequestContext = {}): AuthCheck {
  return { action, resource: '*', resourceAccount: ctx.iam.accountId, context }
}
