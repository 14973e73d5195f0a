// Key policy admission, as PutKeyPolicy and CreateKey do it: valid JSON and grammar, principals
// that exist, and the lockout safety check.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
import { evaluate, parsePolicy, type Finding, type PolicyDocument, type RequestContext } from '@kms-share/policy'
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
      request: { principal: ctx.caller.principal, action: 'kms:PutKeyPolicy', resource: keyArn, context: callerContext(ctx) },
      identityPolicies: ctx.caller.identityPolicies,
      resourcePolicy: { name: 'new-key-policy', document },
      resourceAccount: ctx.iam.accountId,
      resourcePolicyRequired: true,
    })
    if (result.decision !== 'Allowed') throw kmsErrors.malformedPolicy(LOCKOUT_MESSAGE)
  }
  return document
}

/** The caller's global condition keys as they stand now, for judging a future PutKeyPolicy by the same caller (mirrors Router.globalContext, which ctx does not expose). */
function callerContext(ctx: OperationContext): RequestContext {
  const { caller, meta } = ctx
  const context: RequestContext = {
    'aws:PrincipalArn': caller.principal.roleArn ?? caller.principal.arn,
    'aws:PrincipalAccount': caller.principal.accountId,
    'aws:PrincipalType': principalType(caller.principal.type),
    'aws:userid': caller.userId,
    'aws:CurrentTime': meta.time.toISOString(),
    'aws:EpochTime': String(Math.floor(meta.time.getTime() / 1000)),
    'aws:SecureTransport': String(meta.secureTransport),
    'aws:SourceIp': meta.sourceIp,
    'aws:RequestedRegion': meta.region,
    'kms:CallerAccount': caller.principal.accountId,
  }
  // As the router does: long-term keys carry no MFA key; temporary credentials say true or false.
  if (caller.sessionIssuedAt !== undefined || caller.mfaAuthenticated) context['aws:MultiFactorAuthPresent'] = String(caller.mfaAuthenticated)
  if (caller.mfaAuthenticated && caller.mfaAuthTime !== undefined) context['aws:MultiFactorAuthAge'] = String(Math.floor((meta.time.getTime() - caller.mfaAuthTime) / 1000))
  if (caller.userName) context['aws:username'] = caller.userName
  if (meta.sourceVpce) context['aws:SourceVpce'] = meta.sourceVpce
  if (meta.sourceVpc) context['aws:SourceVpc'] = meta.sourceVpc
  if (meta.viaService) context['kms:ViaService'] = meta.viaService
  return context
}

function principalType(type: string): string {
  switch (type) {
    case 'root':
      return 'Account'
    case 'user':
      return 'User'
    case 'assumed-role':
      return 'AssumedRole'
    default:
      return 'Anonymous'
  }
}
