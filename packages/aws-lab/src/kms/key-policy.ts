// Key policy admission, as PutKeyPolicy and CreateKey do it: valid JSON and grammar, principals
// that exist, and the lockout safety check.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
import { evaluate, parsePolicy, type Finding, type PolicyDocument } from '@kms-share/policy'
import { globalContext } from '../core/condition-context.js'
import type { OperationContext } from '../core/types.js'
import { constraintViolation, kmsErrors } from './errors.js'

const MAX_POLICY_LENGTH = 32768

export const LOCKOUT_MESSAGE = 'The new key policy will not allow you to update the key policy in the future.'
export const INVALID_PRINCIPALS_MESSAGE = 'Policy contains a statement with one or more invalid principals.'

/**
 * Throws MalformedPolicyDocumentException unless `text` may become the policy of `keyArn`.
 * Without `bypassLockoutCheck`, the caller must still be allowed kms:PutKeyPolicy under it.
 */
export function admitKeyPolicy(text: string, keyArn: string, ctx: OperationContext, bypassLockoutCheck: boolean): PolicyDocument {
  if (typeof text !== 'string' || text.length === 0) throw constraintViolation(undefined, 'policy', 'Member must not be null')
  if (text.length > MAX_POLICY_LENGTH) {
    throw constraintViolation('<policy>', 'policy', `Member must have length less than or equal to ${MAX_POLICY_LENGTH}`)
  }
  const parsed = parsePolicy(text)
  const errors = parsed.findings.filter((f: Finding) => f.severity === 'ERROR')
  if (!parsed.document || errors.length > 0) {
    const first = errors[0]
    throw kmsErrors.malformedPolicy(first ? `The key policy is not a valid policy document: ${first.message}` : 'The key policy is not a valid policy document.')
  }
  const document = parsed.document
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
