// Policy evaluation with AWS semantics:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
// and KMS's key-policy rule: https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html
import { dictionary } from './dictionary.js'
import { compileConditions, conditionHolds, describeCondition, type CompiledCondition } from './conditions.js'
import {
  actionMatches, arnMatches, memberMatch, normalizeArn, principalMembers, type Context, type PrincipalHow, type PrincipalMember,
} from './match.js'
import type {
  EvaluationInput, EvaluationResult, MatchedStatement, NamedPolicy, PolicyKind, RequestContext, Statement,
} from './types.js'

interface CompiledStatement {
  conditions: CompiledCondition[]
  /** The conditions part of a deciding statement's reason, built once. */
  conditionReason: string
}

// Compiled per statement object: callers that keep their parsed policies pay compilation once.
const COMPILED = new WeakMap<Statement, CompiledStatement>()

function compiled(s: Statement): CompiledStatement {
  let c = COMPILED.get(s)
  if (!c) {
    const ops: string[] = []
    for (const op in s.Condition) for (const key in s.Condition[op]) ops.push(`${op} ${key}`)
    c = { conditions: compileConditions(s.Condition), conditionReason: ops.length ? `, conditions held: ${ops.join('; ')}` : '' }
    COMPILED.set(s, c)
  }
  return c
}

interface Request {
  action: string
  resource: string
  ctx: Context
  members: PrincipalMember[]
  root: boolean
}

interface StatementMatch {
  action: string
  resource: string
  principal?: { how: PrincipalHow; entry: string; not: boolean; member?: PrincipalMember['kind']; unlisted?: PrincipalMember[] }
  conditions: number
}

const RANK: Record<PrincipalHow, number> = { direct: 3, wildcard: 2, account: 1 }

/** Whether a statement applies to the request; `trace` collects why or why not. */
function matchStatement(s: Statement, kind: PolicyKind, req: Request, trace?: string[]): StatementMatch | undefined {
  let action: string | undefined
  if (s.Action) {
    for (const p of s.Action) if (actionMatches(p, req.action)) { action = p; break }
    if (action === undefined) {
      trace?.push(`action ${req.action} is not in Action ${JSON.stringify(s.Action)}`)
      return undefined
    }
  } else if (s.NotAction) {
    for (const p of s.NotAction) {
      if (actionMatches(p, req.action)) {
        trace?.push(`action ${req.action} is excluded by NotAction '${p}'`)
        return undefined
      }
    }
    action = `NotAction ${JSON.stringify(s.NotAction)}`
  } else {
    trace?.push('no Action or NotAction')
    return undefined
  }

  let resource = '(no Resource element)'
  if (s.Resource) {
    let hit: string | undefined
    for (const p of s.Resource) if (arnMatches(p, req.resource, req.ctx)) { hit = p; break }
    if (hit === undefined) {
      trace?.push(`resource ${req.resource} is not in Resource ${JSON.stringify(s.Resource)}`)
      return undefined
    }
    resource = hit
  } else if (s.NotResource) {
    for (const p of s.NotResource) {
      if (arnMatches(p, req.resource, req.ctx)) {
        trace?.push(`resource ${req.resource} is excluded by NotResource '${p}'`)
        return undefined
      }
    }
    resource = `NotResource ${JSON.stringify(s.NotResource)}`
  }

  let principal: StatementMatch['principal']
  // Only resource-based policies name principals; identity policies apply to their holder.
  if (kind === 'resource') {
    if (s.Principal) {
      for (const m of req.members) {
        let hit = memberMatch(s.Principal, m)
        // The account principal is the root user itself, so for the root user it is a direct grant.
        if (hit?.how === 'account' && req.root) hit = { how: 'direct', entry: hit.entry }
        if (hit && (!principal || RANK[hit.how] > RANK[principal.how])) principal = { how: hit.how, entry: hit.entry, not: false, member: m.kind }
      }
      if (!principal) {
        trace?.push(`principal ${req.members[0]?.value} is not in Principal ${JSON.stringify(s.Principal)}`)
        return undefined
      }
    } else if (s.NotPrincipal) {
      // Exempt only when every identity the request carries is listed (session, role and account).
      const unlisted = req.members.filter((m) => !memberMatch(s.NotPrincipal!, m))
      if (unlisted.length === 0) {
        trace?.push(`every identity of the caller (${req.members.map((m) => m.value).join(', ')}) is listed in NotPrincipal, so it is exempt`)
        return undefined
      }
      principal = { how: 'direct', entry: 'NotPrincipal', not: true, unlisted }
    } else {
      trace?.push('a resource-based policy statement without Principal applies to no one')
      return undefined
    }
  }

  const conds = compiled(s).conditions
  for (const c of conds) {
    const holds = conditionHolds(c, req.ctx)
    if (trace) trace.push(describeCondition(c, req.ctx, holds))
    if (!holds) return undefined
  }
  return { action, resource, principal, conditions: conds.length }
}

function reasonOf(m: StatementMatch, s: Statement): string {
  let r = `action matched '${m.action}', resource matched '${m.resource.replaceAll('${$}{', '${')}'`
  if (m.principal) {
    if (m.principal.not) r += `, caller not exempted by NotPrincipal (not listed: ${m.principal.unlisted!.map((u) => u.value).join(', ')})`
    else if (m.principal.how === 'account') r += `, principal '${m.principal.entry}' names the account (delegates to IAM policies)`
    else r += `, principal matched '${m.principal.entry}'`
  }
  return r + compiled(s).conditionReason
}

function decided(policy: string, kind: PolicyKind, index: number, s: Statement, m: StatementMatch): MatchedStatement {
  const d: MatchedStatement = { policy, kind, statementIndex: index, effect: s.Effect, reason: reasonOf(m, s) }
  if (s.Sid !== undefined) d.sid = s.Sid
  return d
}

/** The statements that applied, sorted by the role they can play in the decision. */
interface Hits {
  denies: MatchedStatement[]
  identity: MatchedStatement[]
  /** Resource-policy allows that name the caller (or everyone). */
  direct: MatchedStatement[]
  /** Resource-policy allows that name only the caller's account. */
  delegation: MatchedStatement[]
  boundary: MatchedStatement[]
  session: MatchedStatement[]
  /** Direct resource-policy allows naming the user or the role session ARN: no boundary or session policy limits them. */
  unbounded: MatchedStatement[]
}

// Policy variables exist only in Version 2012-10-17; elsewhere `${…}` is literal text.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-using-variables
const LITERAL = new WeakMap<Statement, Statement>()
const escapeVariables = (v: string): string => v.replaceAll('${', '${$}{')

function withLiteralVariables(s: Statement): Statement {
  let out = LITERAL.get(s)
  if (!out) {
    out = { ...s }
    if (s.Resource) out.Resource = s.Resource.map(escapeVariables)
    if (s.NotResource) out.NotResource = s.NotResource.map(escapeVariables)
    if (s.Condition) {
      const cond: Statement['Condition'] = dictionary()
      for (const op in s.Condition) {
        cond[op] = dictionary()
        for (const key in s.Condition[op]) cond[op][key] = s.Condition[op][key].map(escapeVariables)
      }
      out.Condition = cond
    }
    LITERAL.set(s, out)
  }
  return out
}

function scan(policy: NamedPolicy, kind: PolicyKind, req: Request, hits: Hits, explanation: string[] | undefined): void {
  if (explanation) explanation.push(`${KIND_LABEL[kind]} ${policy.name}:`)
  const statements = policy.document.Statement
  const literalVariables = policy.document.Version !== '2012-10-17'
  for (let i = 0; i < statements.length; i++) {
    const s = literalVariables ? withLiteralVariables(statements[i]) : statements[i]
    const trace = explanation ? ([] as string[]) : undefined
    const m = matchStatement(s, kind, req, trace)
    if (explanation) {
      const label = `  [${i}]${s.Sid !== undefined ? ` ${JSON.stringify(s.Sid)}` : ''} ${s.Effect}`
      const detail = m ? [reasonOf(m, s), ...trace!] : trace!
      explanation.push(`${label}: ${m ? 'applies' : 'does not apply'}${detail.length ? ' — ' + detail.join('; ') : ''}`)
    }
    if (!m) continue
    const d = decided(policy.name, kind, i, s, m)
    if (s.Effect === 'Deny') hits.denies.push(d)
    else if (kind === 'resource') {
      if (m.principal?.how === 'account') hits.delegation.push(d)
      else {
        hits.direct.push(d)
        if (m.principal?.member === 'user' || m.principal?.member === 'session') hits.unbounded.push(d)
      }
    } else if (kind === 'identity') hits.identity.push(d)
    else if (kind === 'boundary') hits.boundary.push(d)
    else if (kind === 'session') hits.session.push(d)
  }
}

// Context key names repeat across requests: lower-case each spelling once.
const LOWER = new Map<string, string>()

function contextMap(context: RequestContext): Context {
  const m: Context = new Map()
  for (const k in context) {
    let lower = LOWER.get(k)
    if (lower === undefined) {
      if (LOWER.size > 10_000) LOWER.clear()
      lower = k.toLowerCase()
      LOWER.set(k, lower)
    }
    m.set(lower, context[k])
  }
  return m
}

const KIND_LABEL: Record<PolicyKind, string> = {
  identity: 'identity-based policy',
  resource: 'resource-based policy',
  session: 'session policy',
  boundary: 'permissions boundary',
  scp: 'service control policy',
}

function run(input: EvaluationInput, tracing: boolean): EvaluationResult {
  const { request } = input
  const req: Request = {
    action: request.action.toLowerCase(),
    resource: normalizeArn(request.resource),
    ctx: contextMap(request.context),
    members: principalMembers(request.principal),
    root: request.principal.type === 'root',
  }
  const explanation: string[] = []
  const trace = tracing ? explanation : undefined
  const hits: Hits = { denies: [], identity: [], direct: [], delegation: [], boundary: [], session: [], unbounded: [] }
  for (const p of input.identityPolicies) scan(p, 'identity', req, hits, trace)
  if (input.resourcePolicy) scan(input.resourcePolicy, 'resource', req, hits, trace)
  if (input.permissionsBoundary) scan(input.permissionsBoundary, 'boundary', req, hits, trace)
  if (input.sessionPolicies) for (const p of input.sessionPolicies) scan(p, 'session', req, hits, trace)
  const { denies, identity, direct, delegation } = hits

  const finish = (r: Omit<EvaluationResult, 'explanation'>, why: string): EvaluationResult => {
    if (tracing) {
      explanation.push(`Decision: ${r.decision} — ${why}`)
      return { ...r, explanation }
    }
    return new Result(r, input)
  }

  // 1. An explicit deny in any policy wins.
  if (denies.length) {
    const first = denies[0]
    return finish(
      { decision: 'ExplicitlyDenied', decidingStatements: denies, deniedBy: KIND_LABEL[first.kind] as EvaluationResult['deniedBy'] },
      `explicit deny in ${KIND_LABEL[first.kind]} ${first.policy} statement ${first.statementIndex}`,
    )
  }

  // 2. Identity-based and resource-based allows, with the account-principal delegation rule.
  const principal = request.principal
  // Service principals and anonymous callers hold no identity policies: only the resource policy can allow them.
  const accountless = principal.type === 'service' || principal.type === 'anonymous'
  const crossAccount = !accountless && input.resourceAccount !== undefined && input.resourceAccount !== principal.accountId
  // The root user holds every permission of its own account without identity policies (KMS keys still need their key policy).
  const identityAllows = identity.length > 0 || req.root
  let granted: MatchedStatement[] | undefined
  let why = ''
  if (!crossAccount && direct.length) {
    granted = direct
    why = 'the resource-based policy allows the caller directly'
  } else if (crossAccount) {
    if ((direct.length || delegation.length) && identityAllows) {
      granted = [...direct, ...delegation, ...identity]
      why = 'cross-account: the resource-based policy allows the caller\'s account and its identity-based policies allow'
    }
  } else if (input.resourcePolicyRequired) {
    if (delegation.length && identityAllows) {
      granted = [...delegation, ...identity]
      why = 'the key policy delegates to the account and an identity-based policy allows'
    }
  } else if (identityAllows) {
    granted = identity
    why = req.root ? 'the account root user has full access to resources of its own account' : 'an identity-based policy allows'
  }

  if (!granted) {
    const keyPolicyMissing = input.resourcePolicyRequired && identity.length > 0 && !direct.length && !delegation.length
    return finish(
      { decision: 'ImplicitlyDenied', decidingStatements: [], deniedBy: keyPolicyMissing ? 'resource-based policy' : 'identity-based policy' },
      keyPolicyMissing
        ? 'an identity-based policy allows, but the key policy neither allows the caller nor delegates to the account, so IAM policies have no effect'
        : input.resourcePolicyRequired && delegation.length
          ? 'the key policy delegates to the account, but no identity-based policy allows'
          : 'no policy allows the request',
    )
  }

  // 3. A permissions boundary and session policies, when present, must also allow — except for a
  // same-account resource policy naming the user or session ARN (IAM guide, permissions boundaries).
  if (!crossAccount && hits.unbounded.length && (input.permissionsBoundary || input.sessionPolicies?.length)) {
    return finish({ decision: 'Allowed', decidingStatements: hits.unbounded }, 'the resource-based policy names the caller\'s user or session ARN, which no permissions boundary or session policy limits')
  }
  if (input.permissionsBoundary) {
    if (!hits.boundary.length) {
      return finish({ decision: 'ImplicitlyDenied', decidingStatements: [], deniedBy: 'permissions boundary' }, 'the permissions boundary does not allow the request')
    }
    granted = [...granted, ...hits.boundary]
  }
  if (input.sessionPolicies?.length) {
    if (!hits.session.length) {
      return finish({ decision: 'ImplicitlyDenied', decidingStatements: [], deniedBy: 'session policy' }, 'no session policy allows the request')
    }
    granted = [...granted, ...hits.session]
  }
  return finish({ decision: 'Allowed', decidingStatements: granted }, why)
}

/**
 * The trace costs more than the decision, so it is computed only when someone reads it or
 * serialises the result (toJSON); a spread copy (`{...result}`) leaves it behind.
 */
class Result implements EvaluationResult {
  readonly decision: EvaluationResult['decision']
  readonly decidingStatements: MatchedStatement[]
  readonly deniedBy?: EvaluationResult['deniedBy']
  #input: EvaluationInput
  #explanation?: string[]

  constructor(r: Omit<EvaluationResult, 'explanation'>, input: EvaluationInput) {
    this.decision = r.decision
    this.decidingStatements = r.decidingStatements
    if (r.deniedBy !== undefined) this.deniedBy = r.deniedBy
    this.#input = input
  }

  get explanation(): string[] {
    return (this.#explanation ??= run(this.#input, true).explanation)
  }

  toJSON(): EvaluationResult {
    const out: EvaluationResult = { decision: this.decision, decidingStatements: this.decidingStatements, explanation: this.explanation }
    if (this.deniedBy !== undefined) out.deniedBy = this.deniedBy
    return out
  }
}

/**
 * Evaluates a request against identity policies, a resource policy (key policy, bucket policy)
 * and optional boundary/session policies. Fills in no context: callers pass every condition key.
 */
export function evaluate(input: EvaluationInput): EvaluationResult {
  return run(input, false)
}
