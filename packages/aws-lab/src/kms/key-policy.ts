// Key policy admission, as CreateKey and PutKeyPolicy do it: the member's length and characters,
// the 32 KiB limit (LimitExceededException), JSON and grammar, a principal in every statement
// (existing and well formed), known condition operators, then the lockout safety check. A statement
// without Action or Resource is accepted and has no effect, as AWS documents.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
import { evaluate, parsePolicy, type PolicyDocument } from '@kms-share/policy'
import { globalContext } from '../core/condition-context.js'
import type { OperationContext } from '../core/types.js'
import { POLICY_CHARACTERS, POLICY_PATTERN_TEXT, parseJson, refusedFindings, statementsOf, type JsonStatement } from '../iam/admission.js'
import { constraintViolation, kmsErrors } from './errors.js'

/** The member's own constraint (API reference); above MAX_POLICY_LENGTH and up to this, KMS answers LimitExceededException. */
const MEMBER_MAX_LENGTH = 131072
export const MAX_POLICY_LENGTH = 32768

export const LOCKOUT_MESSAGE = 'The new key policy will not allow you to update the key policy in the future.'
export const INVALID_PRINCIPALS_MESSAGE = 'Policy contains a statement with one or more invalid principals.'
export const NO_PRINCIPAL_MESSAGE = 'Policy contains a statement with no principal.'

const hasAny = (st: JsonStatement, a: string, b: string) => a in st || b in st

/** A statement without Action or Resource has no effect: evaluation sees the policy without it. */
function effectiveStatements(statements: JsonStatement[]): JsonStatement[] {
  return statements.filter((st) => hasAny(st, 'Action', 'NotAction') && hasAny(st, 'Resource', 'NotResource'))
}

/** Parses stored key policy text into what evaluation uses (statements without Action/Resource dropped). */
export function effectiveKeyPolicy(text: string): PolicyDocument | undefined {
  const json = parseJson(text) as Record<string, unknown> | undefined
  const statements = statementsOf(json)
  if (!json || !statements) return undefined
  return parsePolicy(JSON.stringify({ ...json, Statement: effectiveStatements(statements) })).document
}

function principalEntries(block: unknown): unknown[] | undefined {
  if (block === '*') return ['*']
  if (!block || typeof block !== 'object' || Array.isArray(block)) return typeof block === 'string' ? [block] : undefined
  return Object.values(block as Record<string, unknown>).flatMap((v) => (Array.isArray(v) ? (v as unknown[]) : [v]))
}

/**
 * Throws what KMS throws unless `text` may become the policy of `keyArn`.
 * Without `bypassLockoutCheck`, the caller must still be allowed kms:PutKeyPolicy under it.
 */
export function admitKeyPolicy(text: string, keyArn: string, ctx: OperationContext, bypassLockoutCheck: boolean): PolicyDocument {
  if (typeof text !== 'string' || text.length === 0) throw constraintViolation(undefined, 'policy', 'Member must not be null')
  if (text.length > MEMBER_MAX_LENGTH) throw constraintViolation('<policy>', 'policy', `Member must have length less than or equal to ${MEMBER_MAX_LENGTH}`)
  if (!POLICY_CHARACTERS.test(text)) throw constraintViolation(text, 'policy', `Member must satisfy regular expression pattern: ${POLICY_PATTERN_TEXT}`)
  if (text.length > MAX_POLICY_LENGTH) throw kmsErrors.limitExceeded(`The key policy is ${text.length} characters long; the limit is ${MAX_POLICY_LENGTH} (32 KiB).`)
  const json = parseJson(text)
  const statements = statementsOf(json)
  if (!statements) {
    // Say where the JSON breaks (the linter knows), so a learner can fix it.
    const syntax = json === undefined ? parsePolicy(text).findings.find((f) => f.severity === 'ERROR') : undefined
    throw kmsErrors.malformedPolicy(syntax ? `The key policy is not valid JSON: ${syntax.message}` : 'The key policy is not a JSON policy document with a Statement.')
  }
  for (const st of statements) {
    if (!hasAny(st, 'Principal', 'NotPrincipal')) throw kmsErrors.malformedPolicy(NO_PRINCIPAL_MESSAGE)
    const entries = principalEntries(st.Principal ?? st.NotPrincipal)
    if (entries === undefined) throw kmsErrors.malformedPolicy(INVALID_PRINCIPALS_MESSAGE)
    if (entries.length === 0) throw kmsErrors.malformedPolicy(NO_PRINCIPAL_MESSAGE)
    if (entries.some((e) => typeof e !== 'string' || e.trim() === '')) throw kmsErrors.malformedPolicy(INVALID_PRINCIPALS_MESSAGE)
  }
  const refused = refusedFindings(text, 'resource', 'kms')
  if (refused.some((f) => /Principal/.test(f.path ?? ''))) throw kmsErrors.malformedPolicy(INVALID_PRINCIPALS_MESSAGE)
  const operator = refused.find((f) => f.code === 'UNKNOWN_CONDITION_OPERATOR')
  if (operator) throw kmsErrors.malformedPolicy(`Policy contains a statement with an invalid condition operator: ${operator.path.split('.').pop()}.`)
  if (refused.length > 0) throw kmsErrors.malformedPolicy(`The key policy is not a valid policy document: ${refused[0].message}`)
  const document = effectiveKeyPolicy(text)
  if (!document) throw kmsErrors.malformedPolicy('The key policy is not a valid policy document.')
  for (const statement of document.Statement) {
    for (const block of [statement.Principal, statement.NotPrincipal]) {
      if (!block || block === '*') continue
      for (const arn of block.AWS ?? []) {
        if (arn !== '*' && !ctx.iam.principalExists(arn)) throw kmsErrors.malformedPolicy(INVALID_PRINCIPALS_MESSAGE)
      }
    }
  }
  if (!bypassLockoutCheck) {
    const result = evaluate({
      request: { principal: ctx.caller.principal, action: 'kms:PutKeyPolicy', resource: keyArn, context: globalContext(ctx.caller, ctx.meta, 'kms') },
      identityPolicies: ctx.caller.identityPolicies,
      resourcePolicy: { name: 'new-key-policy', document },
      resourceAccount: ctx.iam.accountId,
      resourcePolicyRequired: true,
    })
    if (result.decision !== 'Allowed') throw kmsErrors.malformedPolicy(LOCKOUT_MESSAGE)
  }
  return document
}
