// Before a key policy goes to AWS: every finding (422 when any is an ERROR), then whether the
// identity that puts key policies could still do so under the new one (409 when not).
import { validatePolicy, type Finding, type PolicyDocument } from '@kms-share/policy'
import { problemOf, ProblemError, type Problem } from '@kms-share/shared'
import type { FastifyInstance } from 'fastify'
import { KeyadminErrors } from './errors.js'
import { IamReader } from './iam-read.js'
import { awsFilledContext, decideOnKey, simulatedPrincipal } from './simulation.js'
import { parsePolicy } from '@kms-share/policy'

export interface LockoutCheck {
  allowed: boolean
  /** Who was simulated: the identity that calls PutKeyPolicy (the MFA user when MFA is configured). */
  principal: string
  mfa: boolean
  decision: string
  explanation: string[]
}

/** A problem with members beyond the shared ones (findings, lockout); ProblemSchema allows them. */
export function problemWith(err: { code: string; statusCode?: number; message: string }, extra: Record<string, unknown>): Problem {
  return Object.assign(problemOf(err), extra)
}

/** JSON syntax errors first (what follows them may be their knock-on effect), then by position as validatePolicy sorts. */
export function syntaxFirst(findings: Finding[]): Finding[] {
  const syntax = (f: Finding) => (f.code.startsWith('JSON_') ? 0 : 1)
  return findings.map((f, i) => ({ f, i })).sort((a, b) => syntax(a.f) - syntax(b.f) || a.i - b.i).map(({ f }) => f)
}

export async function findingsFor(app: FastifyInstance, text: string): Promise<Finding[]> {
  const { accountId } = await app.identity()
  return syntaxFirst(validatePolicy(text, { service: 'kms', kind: 'resource', accountId }))
}

/** Throws KADM_POLICY_INVALID (422) with every finding when any is an ERROR. */
export function refuseInvalid(findings: Finding[]): void {
  const errors = findings.filter((f) => f.severity === 'ERROR')
  if (errors.length > 0) throw new ProblemError(problemWith(new KeyadminErrors.POLICY_INVALID(String(errors.length)), { findings }))
}

/** Could the identity that puts key policies still call kms:PutKeyPolicy on `keyArn` under `document`? */
export async function lockoutCheck(app: FastifyInstance, keyArn: string, document: PolicyDocument): Promise<LockoutCheck> {
  const who = await app.mfa.sensitiveIdentity()
  const region = await app.kms.config.region()
  const simulated = simulatedPrincipal(who.principalArn, who.accountId)
  if (!simulated) throw new Error(`cannot simulate ${who.principalArn}`)
  // The real session ARN, so NotPrincipal exemptions naming it count as AWS would count them.
  const principal = { ...simulated.principal, arn: who.arn }
  const reader = new IamReader(app.iam)
  const identityPolicies = simulated.iamEntity ? await reader.identityPolicies(simulated.iamEntity) : []
  const result = decideOnKey({
    principal, action: 'kms:PutKeyPolicy', keyArn, accountId: who.accountId, keyPolicy: document, identityPolicies,
    context: awsFilledContext(principal, { region, ...(who.mfa ? { mfaAgeSeconds: 0 } : {}) }),
  })
  return { allowed: result.decision === 'Allowed', principal: who.arn, mfa: who.mfa, decision: result.decision, explanation: [...result.explanation] }
}

export function refuseLockout(check: LockoutCheck): void {
  if (check.allowed) return
  const why = `under the new policy ${check.principal} could no longer call kms:PutKeyPolicy on this key (${check.decision}), so nobody here could change the policy again`
  throw new ProblemError(problemWith(new KeyadminErrors.POLICY_LOCKOUT(why), { action: 'kms:PutKeyPolicy', lockout: check }))
}

/** The document of a text whose findings had no ERROR (parsePolicy recovers it then). */
export function documentOf(text: string): PolicyDocument {
  const parsed = parsePolicy(text)
  if (!parsed.document) throw new ProblemError(problemWith(new KeyadminErrors.POLICY_UNREADABLE('it does not parse into a policy document'), { findings: parsed.findings }))
  return parsed.document
}
