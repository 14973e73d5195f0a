// Matching primitives for evaluate(): wildcards, ARNs, actions, policy variables and principals.
// Everything that can be compiled once per pattern string is, and cached, because the lab
// evaluates on every request.
import type { ContextValue, PrincipalBlock, RequestPrincipal } from './types.js'
import { compileWildcard, wildcardParts, type WildcardMatcher, type WildcardPart } from './wildcard.js'

// ---------------------------------------------------------------------------------------------
// Policy variables: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
// ---------------------------------------------------------------------------------------------

/** A pattern split into literal text, wildcards and variables. */
export type Segment =
  | { t: 'lit'; v: string }
  | { t: 'star' }
  | { t: 'one' }
  | { t: 'var'; key: string; def?: string }

/** Lower-cased context keys → values, built once per evaluation (key names are case-insensitive). */
export type Context = Map<string, ContextValue>

const SEGMENTS = new Map<string, Segment[]>()
const VARIABLE = /\$\{([^}]*)\}/g

/** Splits a pattern into segments; `wildcards` false for operators where `*` and `?` are literal. */
export function segments(pattern: string, wildcards: boolean): Segment[] {
  const cacheKey = (wildcards ? 'w' : 'l') + pattern
  const cached = SEGMENTS.get(cacheKey)
  if (cached) return cached
  const out: Segment[] = []
  const pushText = (text: string): void => {
    if (!wildcards) {
      if (text) out.push({ t: 'lit', v: text })
      return
    }
    out.push(...wildcardParts(text))
  }
  let last = 0
  for (const m of pattern.matchAll(VARIABLE)) {
    pushText(pattern.slice(last, m.index))
    last = m.index + m[0].length
    const body = m[1]
    // ${*}, ${?} and ${$} are how a policy writes those characters literally.
    if (body === '*' || body === '?' || body === '$') {
      out.push({ t: 'lit', v: body })
      continue
    }
    const withDefault = /^\s*([^,\s]+)\s*,\s*'((?:[^']|'')*)'\s*$/.exec(body)
    if (withDefault) out.push({ t: 'var', key: withDefault[1].toLowerCase(), def: withDefault[2].replace(/''/g, "'") })
    else out.push({ t: 'var', key: body.trim().toLowerCase() })
  }
  pushText(pattern.slice(last))
  if (SEGMENTS.size > 20_000) SEGMENTS.clear()
  SEGMENTS.set(cacheKey, out)
  return out
}

export function hasVariables(segs: Segment[]): boolean {
  for (const s of segs) if (s.t === 'var') return true
  return false
}

/** A variable's value: single-valued keys only; a multi-valued or absent key uses the default, else fails. */
function variableValue(seg: { key: string; def?: string }, ctx: Context): string | undefined {
  const v = ctx.get(seg.key)
  if (typeof v === 'string') return v
  if (Array.isArray(v) && v.length === 1) return v[0]
  return seg.def
}

/** Resolves the variables in segments; undefined when a variable has no value (the value then matches nothing). */
export function resolve(segs: Segment[], ctx: Context): Segment[] | undefined {
  if (!hasVariables(segs)) return segs
  const out: Segment[] = []
  for (const s of segs) {
    if (s.t !== 'var') {
      out.push(s)
      continue
    }
    const v = variableValue(s, ctx)
    if (v === undefined) return undefined
    out.push({ t: 'lit', v })
  }
  return out
}

/** Joins resolved literal segments back to a string (for equality operators). */
export function literal(segs: Segment[]): string {
  let s = ''
  for (const seg of segs) s += seg.t === 'lit' ? seg.v : seg.t === 'star' ? '*' : seg.t === 'one' ? '?' : ''
  return s
}

// ---------------------------------------------------------------------------------------------
// Wildcard matchers (linear time, see wildcard.ts), cached per pattern.
// ---------------------------------------------------------------------------------------------

const MATCHERS = new Map<string, WildcardMatcher>()

function cachedMatcher(key: string, compile: () => WildcardMatcher): WildcardMatcher {
  let m = MATCHERS.get(key)
  if (!m) {
    if (MATCHERS.size > 20_000) MATCHERS.clear()
    m = compile()
    MATCHERS.set(key, m)
  }
  return m
}

/** A cache key that tells a literal `*` (from `${*}`) from a wildcard one. */
function segmentsKey(segs: Segment[]): string {
  let key = ''
  for (const s of segs) key += s.t === 'lit' ? `${s.v.length}:${s.v}` : s.t === 'star' ? '*' : s.t === 'one' ? '?' : ''
  return key
}

function wildcardPartsOf(segs: Segment[]): WildcardPart[] {
  return segs.filter((s): s is WildcardPart => s.t !== 'var')
}

/** `*` and `?` over the whole string (StringLike, actions). */
export function globMatcher(segs: Segment[], ignoreCase: boolean): WildcardMatcher {
  return cachedMatcher(`${ignoreCase ? 'gi' : 'g'}|${segmentsKey(segs)}`, () => compileWildcard(wildcardPartsOf(segs), ignoreCase))
}

/**
 * ARN wildcards: each of the first five colon-delimited parts is matched on its own (`*` does not
 * cross a colon there); the resource part may contain colons and slashes. The service part is
 * compared case-insensitively, so the caller lower-cases it on both sides.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
 */
export function arnMatcher(segs: Segment[]): WildcardMatcher {
  return cachedMatcher(`a|${segmentsKey(segs)}`, () => {
    const parts: WildcardPart[][] = [[]]
    for (const s of segs) {
      if (s.t === 'var') continue
      if (s.t !== 'lit') {
        parts[parts.length - 1].push(s)
        continue
      }
      let text = ''
      for (const ch of s.v) {
        if (ch === ':' && parts.length < 6) {
          if (text) parts[parts.length - 1].push({ t: 'lit', v: text })
          text = ''
          parts.push([])
        } else text += parts.length === 3 ? ch.toLowerCase() : ch
      }
      if (text) parts[parts.length - 1].push({ t: 'lit', v: text })
    }
    const matchers = parts.map((p) => compileWildcard(p))
    return {
      test(arn) {
        // The pattern's five colons must meet the ARN's first five: no wildcard before them crosses one.
        let from = 0
        for (let i = 0; i < 5; i++) {
          const colon = arn.indexOf(':', from)
          if (colon < 0 || !matchers[i].test(arn.slice(from, colon))) return false
          from = colon + 1
        }
        return matchers[5].test(arn.slice(from))
      },
    }
  })
}

/** Lower-cases the service part of an ARN (`arn:aws:KMS:…` → `arn:aws:kms:…`). */
export function normalizeArn(arn: string): string {
  if (!arn.startsWith('arn:')) return arn
  const a = arn.indexOf(':', 4)
  if (a < 0) return arn
  const b = arn.indexOf(':', a + 1)
  if (b < 0) return arn
  const service = arn.slice(a + 1, b)
  const lower = service.toLowerCase()
  return lower === service ? arn : arn.slice(0, a + 1) + lower + arn.slice(b)
}

function isPlainLiteral(segs: Segment[]): boolean {
  for (const s of segs) if (s.t !== 'lit') return false
  return true
}

type ArnMatcher =
  | { k: 'any' }
  | { k: 'exact'; v: string }
  | { k: 'wild'; m: WildcardMatcher }
  | { k: 'vars'; segs: Segment[] }

const ARN_MATCHERS = new Map<string, ArnMatcher>()

function arnMatcherFor(segs: Segment[]): WildcardMatcher {
  // A pattern that is not a full ARN (fewer than six parts) is a plain glob over the whole string.
  const text = literal(segs)
  if (!text.startsWith('arn:') || text.split(':').length < 6) return globMatcher(segs, false)
  return arnMatcher(segs)
}

function compileArnPattern(pattern: string): ArnMatcher {
  if (pattern === '*') return { k: 'any' }
  const segs = segments(pattern, true)
  if (hasVariables(segs)) return { k: 'vars', segs }
  if (isPlainLiteral(segs)) return { k: 'exact', v: normalizeArn(literal(segs)) }
  return { k: 'wild', m: arnMatcherFor(segs) }
}

/** Resource / ArnLike matching of one pattern against a (normalised) ARN; compiled once per pattern. */
export function arnMatches(pattern: string, arn: string, ctx: Context): boolean {
  let m = ARN_MATCHERS.get(pattern)
  if (!m) {
    if (ARN_MATCHERS.size > 20_000) ARN_MATCHERS.clear()
    m = compileArnPattern(pattern)
    ARN_MATCHERS.set(pattern, m)
  }
  switch (m.k) {
    case 'any': return true
    case 'exact': return m.v === arn
    case 'wild': return m.m.test(arn)
    case 'vars': {
      const segs = resolve(m.segs, ctx)
      if (!segs) return false
      if (isPlainLiteral(segs)) return normalizeArn(literal(segs)) === arn
      return arnMatcherFor(segs).test(arn)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Actions: case-insensitive, `*` and `?`.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
// ---------------------------------------------------------------------------------------------

const ACTIONS = new Map<string, WildcardMatcher | string>()

/** `action` must be lower-cased by the caller. */
export function actionMatches(pattern: string, action: string): boolean {
  if (pattern === '*') return true
  let compiled = ACTIONS.get(pattern)
  if (compiled === undefined) {
    // The action arrives lower-cased: lower-case the pattern once instead of the action on every test.
    compiled = /[*?]/.test(pattern) ? globMatcher(segments(pattern.toLowerCase(), true).filter((s) => s.t !== 'var'), false) : pattern.toLowerCase()
    if (ACTIONS.size > 20_000) ACTIONS.clear()
    ACTIONS.set(pattern, compiled)
  }
  return typeof compiled === 'string' ? compiled === action : compiled.test(action)
}

// ---------------------------------------------------------------------------------------------
// Principals: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
// and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
// ---------------------------------------------------------------------------------------------

/** One identity the request carries: a role session carries {session, role, account}, a user {user, account}. */
export interface PrincipalMember {
  kind: 'account' | 'user' | 'role' | 'session' | 'root' | 'service' | 'anonymous' | 'other'
  value: string
}

export function principalMembers(p: RequestPrincipal): PrincipalMember[] {
  switch (p.type) {
    case 'assumed-role': {
      const out: PrincipalMember[] = [{ kind: 'session', value: p.arn }]
      if (p.roleArn) out.push({ kind: 'role', value: p.roleArn })
      out.push({ kind: 'account', value: p.accountId })
      return out
    }
    case 'user':
      return [{ kind: 'user', value: p.arn }, { kind: 'account', value: p.accountId }]
    case 'root':
      return [{ kind: 'account', value: p.accountId }]
    case 'service':
      return [{ kind: 'service', value: (p.service ?? p.arn).toLowerCase() }]
    case 'anonymous':
      return [{ kind: 'anonymous', value: '*' }]
    default:
      return [{ kind: 'other', value: p.arn }, { kind: 'account', value: p.accountId }]
  }
}

const ACCOUNT_ROOT = /^arn:aws[a-z-]*:iam::(\d{12}):root$/

/** How a principal entry matched: via the account (delegation) or by naming the caller. */
export type PrincipalHow = 'wildcard' | 'account' | 'direct'

function entryMatches(type: string, entry: string, m: PrincipalMember): PrincipalHow | undefined {
  if (entry === '*') return 'wildcard'
  if (type === 'AWS') {
    if (m.kind === 'account') {
      if (entry === m.value) return 'account'
      const root = ACCOUNT_ROOT.exec(entry)
      if (root && root[1] === m.value) return 'account'
      return undefined
    }
    if (m.kind === 'user' || m.kind === 'role' || m.kind === 'session' || m.kind === 'other') {
      return entry === m.value ? 'direct' : undefined
    }
    return undefined
  }
  if (type === 'Service') return m.kind === 'service' && entry.toLowerCase() === m.value ? 'direct' : undefined
  if (type === 'Federated') return m.kind === 'other' && entry === m.value ? 'direct' : undefined
  return undefined
}

/** Which entry of a Principal block matched one member, and how; undefined when none. */
export function memberMatch(block: PrincipalBlock, m: PrincipalMember): { how: PrincipalHow; entry: string } | undefined {
  if (block === '*') return { how: 'wildcard', entry: '*' }
  let best: { how: PrincipalHow; entry: string } | undefined
  for (const type in block) {
    for (const entry of block[type]) {
      const how = entryMatches(type, entry, m)
      if (how === 'direct' || how === 'wildcard') return { how, entry }
      if (how && !best) best = { how, entry }
    }
  }
  return best
}
