// Before a key policy goes to AWS: every finding (422 when any is an ERROR), then whether the
// identity that puts key policies could still do so under the new one (409 when not), judged with
// the context AWS fills for that identity's own call — and a warning for each Deny that would lock it
// out at another time, from another address or instance, or after a tag change.
import { connect } from 'node:net'
import { positionOf, validatePolicy, type Finding, type PolicyDocument, type RequestContext, type Statement } from '@kms-share/policy'
import { problemOf, ProblemError, type Problem } from '@kms-share/shared'
import type { FastifyInstance } from 'fastify'
import { KeyadminErrors } from './errors.js'
import { IamReader } from './iam-read.js'
import { awsFilledContext, decideOnKey, simulatedPrincipal } from './simulation.js'
import { parsePolicy } from '@kms-share/policy'

export interface LockoutCheck {
  allowed: boolean
  /** Denies whose conditions could lock the identity out later (LOCKOUT_RISK_CONDITIONAL_DENY). */
  risks: Finding[]
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

/** Where keyadmin's calls to KMS come from, as far as it can tell: its side of a connection to the endpoint (2 s at most). */
const sourceAddresses = new WeakMap<FastifyInstance, Promise<{ ip?: string; secure: boolean }>>()

function sourceOf(app: FastifyInstance, region: string): Promise<{ ip?: string; secure: boolean }> {
  let asked = sourceAddresses.get(app)
  if (!asked) {
    asked = (async () => {
      const endpoint = app.kms.config.endpoint ? await app.kms.config.endpoint() : { hostname: `kms.${region}.amazonaws.com`, protocol: 'https:', port: undefined }
      const secure = endpoint.protocol === 'https:'
      const ip = await new Promise<string | undefined>((resolve) => {
        const socket = connect({ host: endpoint.hostname, port: endpoint.port ?? (secure ? 443 : 80), timeout: 2_000 })
        const done = (value?: string) => {
          socket.destroy()
          resolve(value)
        }
        socket.once('connect', () => done(socket.localAddress?.replace(/^::ffff:/, '')))
        socket.once('timeout', () => done())
        socket.once('error', () => done())
      })
      return { ip, secure }
    })()
    sourceAddresses.set(app, asked)
  }
  return asked
}

/** Could the identity that puts key policies still call kms:PutKeyPolicy on `keyArn` under `document`? */
export async function lockoutCheck(app: FastifyInstance, keyArn: string, document: PolicyDocument, text: string): Promise<LockoutCheck> {
  const who = await app.mfa.sensitiveIdentity()
  const region = await app.kms.config.region()
  const simulated = simulatedPrincipal(who.principalArn, who.accountId)
  if (!simulated) throw new Error(`cannot simulate ${who.principalArn}`)
  // The real session ARN, so NotPrincipal exemptions naming it count as AWS would count them.
  const principal = { ...simulated.principal, arn: who.arn }
  const reader = new IamReader(app.iam)
  const identityPolicies = simulated.iamEntity ? await reader.identityPolicies(simulated.iamEntity) : []
  const source = await sourceOf(app, region)
  // EC2 names an instance's role session after the instance: those credentials carry ec2:SourceInstanceARN.
  const instanceId = !who.mfa && who.type === 'assumed-role' ? /\/(i-[0-9a-f]{8,17})$/.exec(who.arn)?.[1] : undefined
  const context = awsFilledContext(principal, {
    region,
    ...(who.mfa ? { mfaAgeSeconds: 0 } : {}),
    userId: who.userId || undefined,
    sourceIp: source.ip,
    secureTransport: source.secure,
    ...(instanceId ? { sourceInstanceArn: `arn:aws:ec2:${region}:${who.accountId}:instance/${instanceId}` } : {}),
  })
  const result = decideOnKey({ principal, action: 'kms:PutKeyPolicy', keyArn, accountId: who.accountId, keyPolicy: document, identityPolicies, context })
  const risks = conditionalDenyRisks(text, document, context, (statement) => decideOnKey({
    principal, action: 'kms:PutKeyPolicy', keyArn, accountId: who.accountId, identityPolicies: [], context,
    keyPolicy: { Version: '2012-10-17', Statement: [{ ...statement, Condition: undefined }, { Effect: 'Allow', Principal: '*', Action: ['*'], Resource: ['*'] }] },
  }).decision === 'ExplicitlyDenied', who.arn)
  return { allowed: result.decision === 'Allowed', risks, principal: who.arn, mfa: who.mfa, decision: result.decision, explanation: [...result.explanation] }
}

/** Condition keys whose value changes with the moment, the origin or the tags of a call, and what they depend on. */
const CIRCUMSTANTIAL: Array<{ matches: (key: string) => boolean; dependsOn: string }> = [
  { matches: (k) => k === 'aws:currenttime' || k === 'aws:epochtime', dependsOn: 'the time of the call' },
  { matches: (k) => k === 'aws:sourceip' || k === 'aws:vpcsourceip', dependsOn: 'the address the call comes from' },
  { matches: (k) => k.startsWith('ec2:') || k === 'aws:sourcevpc' || k === 'aws:sourcevpce', dependsOn: 'the instance or network the call comes from' },
  { matches: (k) => k.startsWith('aws:resourcetag/') || k.startsWith('aws:requesttag/') || k.startsWith('aws:principaltag/') || k === 'aws:tagkeys', dependsOn: 'tags, which can change' },
]

/**
 * A Deny that applies to the policy's administrator for kms:PutKeyPolicy whenever a circumstantial
 * condition holds passes the lockout check now and may lock the key away later (a `DateGreaterThan
 * aws:CurrentTime` 45 s ahead does): each such condition is a SECURITY_WARNING at its line.
 */
function conditionalDenyRisks(text: string, document: PolicyDocument, context: RequestContext, appliesToAdmin: (s: Statement) => boolean, who: string): Finding[] {
  let statementIsArray = true
  try {
    statementIsArray = Array.isArray((JSON.parse(text) as { Statement?: unknown }).Statement)
  } catch { /* findings already say why it does not parse */ }
  const out: Finding[] = []
  document.Statement.forEach((statement, index) => {
    if (statement.Effect !== 'Deny' || !statement.Condition) return
    const circumstantial: Array<{ operator: string; key: string; dependsOn: string }> = []
    for (const operator of Object.keys(statement.Condition)) {
      for (const key of Object.keys(statement.Condition[operator])) {
        const kind = CIRCUMSTANTIAL.find((c) => c.matches(key.toLowerCase()))
        if (kind) circumstantial.push({ operator, key, dependsOn: kind.dependsOn })
      }
    }
    if (circumstantial.length === 0 || !appliesToAdmin(statement)) return
    for (const { operator, key, dependsOn } of circumstantial) {
      const statementPath: Array<string | number> = statementIsArray ? ['Statement', index] : ['Statement']
      const now = context[Object.keys(context).find((k) => k.toLowerCase() === key.toLowerCase()) ?? '']
      out.push({
        severity: 'SECURITY_WARNING',
        code: 'LOCKOUT_RISK_CONDITIONAL_DENY',
        message: `${statementIsArray ? `Statement[${index}]` : 'Statement'} denies ${who} kms:PutKeyPolicy whenever ${operator} on ${key} holds, which depends on ${dependsOn}. It does not hold for this call${now !== undefined ? ` (${key} is ${JSON.stringify(now)} now)` : ''}, so the lockout check passes, but it may hold later or elsewhere, and then nobody here could change this policy again`,
        suggestion: 'Exempt the key administrators from this Deny (e.g. an ArnNotEquals on aws:PrincipalArn), or leave kms:PutKeyPolicy out of its actions',
        path: `${statementIsArray ? `Statement[${index}]` : 'Statement'}.Condition.${operator}.${key}`,
        ...positionOf(text, [...statementPath, 'Condition', operator, key]),
      })
    }
  })
  return out
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
