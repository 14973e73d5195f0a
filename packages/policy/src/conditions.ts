// Condition operators, from https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// and the set operators from https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
import { BlockList, isIP } from 'node:net'
import type { ConditionBlock, ContextValue } from './types.js'
import { dictionary } from './dictionary.js'
import {
  arnMatches, globMatcher, literal, normalizeArn, resolve, segments, hasVariables, type Context, type Segment,
} from './match.js'

type Family = 'String' | 'StringIgnoreCase' | 'StringLike' | 'Numeric' | 'Date' | 'Bool' | 'Binary' | 'Ip' | 'Arn' | 'Null'
type Compare = 'eq' | 'lt' | 'le' | 'gt' | 'ge'

interface BaseOperator {
  family: Family
  /** Negated operators (StringNotEquals, NotIpAddress, ArnNotLike …) are true when the key is absent. */
  negated: boolean
  compare: Compare
}

const BASE: Record<string, BaseOperator> = Object.assign(dictionary<BaseOperator>(), {
  StringEquals: { family: 'String', negated: false, compare: 'eq' },
  StringNotEquals: { family: 'String', negated: true, compare: 'eq' },
  StringEqualsIgnoreCase: { family: 'StringIgnoreCase', negated: false, compare: 'eq' },
  StringNotEqualsIgnoreCase: { family: 'StringIgnoreCase', negated: true, compare: 'eq' },
  StringLike: { family: 'StringLike', negated: false, compare: 'eq' },
  StringNotLike: { family: 'StringLike', negated: true, compare: 'eq' },
  NumericEquals: { family: 'Numeric', negated: false, compare: 'eq' },
  NumericNotEquals: { family: 'Numeric', negated: true, compare: 'eq' },
  NumericLessThan: { family: 'Numeric', negated: false, compare: 'lt' },
  NumericLessThanEquals: { family: 'Numeric', negated: false, compare: 'le' },
  NumericGreaterThan: { family: 'Numeric', negated: false, compare: 'gt' },
  NumericGreaterThanEquals: { family: 'Numeric', negated: false, compare: 'ge' },
  DateEquals: { family: 'Date', negated: false, compare: 'eq' },
  DateNotEquals: { family: 'Date', negated: true, compare: 'eq' },
  DateLessThan: { family: 'Date', negated: false, compare: 'lt' },
  DateLessThanEquals: { family: 'Date', negated: false, compare: 'le' },
  DateGreaterThan: { family: 'Date', negated: false, compare: 'gt' },
  DateGreaterThanEquals: { family: 'Date', negated: false, compare: 'ge' },
  Bool: { family: 'Bool', negated: false, compare: 'eq' },
  BinaryEquals: { family: 'Binary', negated: false, compare: 'eq' },
  IpAddress: { family: 'Ip', negated: false, compare: 'eq' },
  NotIpAddress: { family: 'Ip', negated: true, compare: 'eq' },
  ArnEquals: { family: 'Arn', negated: false, compare: 'eq' },
  ArnNotEquals: { family: 'Arn', negated: true, compare: 'eq' },
  ArnLike: { family: 'Arn', negated: false, compare: 'eq' },
  ArnNotLike: { family: 'Arn', negated: true, compare: 'eq' },
  Null: { family: 'Null', negated: false, compare: 'eq' },
} satisfies Record<string, BaseOperator>)

/** The operator names evaluate() understands (without ForAnyValue:/ForAllValues: or IfExists). */
export const CONDITION_OPERATORS: readonly string[] = Object.keys(BASE)

/** One operator + key of a Condition block, compiled once per statement. */
export interface CompiledCondition {
  operator: string
  key: string
  /** Lower-cased key for context lookups (key names are case-insensitive). */
  lookup: string
  values: string[]
  /** Undefined for an operator this evaluator does not know: the statement then does not match. */
  base?: BaseOperator
  ifExists: boolean
  set?: 'any' | 'all'
  /** Precompiled value matcher: does one context value match any policy value? */
  test: (value: string, ctx: Context) => boolean
}

export interface ParsedOperator {
  base?: BaseOperator
  name: string
  ifExists: boolean
  set?: 'any' | 'all'
}

export function parseOperator(operator: string): ParsedOperator {
  let name = operator
  let set: 'any' | 'all' | undefined
  if (name.startsWith('ForAnyValue:')) {
    set = 'any'
    name = name.slice('ForAnyValue:'.length)
  } else if (name.startsWith('ForAllValues:')) {
    set = 'all'
    name = name.slice('ForAllValues:'.length)
  }
  let ifExists = false
  if (name.endsWith('IfExists') && name !== 'IfExists') {
    ifExists = true
    name = name.slice(0, -'IfExists'.length)
  }
  const base = BASE[name]
  // Null has no IfExists form: it is itself the existence test.
  if (base?.family === 'Null' && ifExists) return { name, ifExists, set }
  return { base, name, ifExists, set }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const EPOCH = /^-?\d+(?:\.\d+)?$/

function parseNumber(s: string): number | undefined {
  return NUMBER.test(s) ? Number(s) : undefined
}

/** ISO 8601 dates or epoch seconds, as the Date operators accept. */
function parseDate(s: string): number | undefined {
  if (EPOCH.test(s)) return Number(s) * 1000
  const ms = Date.parse(s)
  return Number.isNaN(ms) ? undefined : ms
}

function compare(op: Compare, a: number, b: number): boolean {
  switch (op) {
    case 'eq': return a === b
    case 'lt': return a < b
    case 'le': return a <= b
    case 'gt': return a > b
    case 'ge': return a >= b
  }
}

function decodeBase64(s: string): Buffer | undefined {
  const t = s.trim()
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 === 1) return undefined
  return Buffer.from(t, 'base64')
}

/** Resolved policy values (variables substituted), or the literal ones when there are none. */
function valueResolver(values: string[], wildcards: boolean): (ctx: Context) => Segment[][] {
  const segs = values.map((v) => segments(v, wildcards))
  if (!segs.some(hasVariables)) return () => segs
  return (ctx) => {
    const out: Segment[][] = []
    for (const s of segs) {
      const r = resolve(s, ctx)
      if (r) out.push(r)
    }
    return out
  }
}

function compileTest(base: BaseOperator, values: string[]): (value: string, ctx: Context) => boolean {
  switch (base.family) {
    case 'String': {
      const resolveValues = valueResolver(values, false)
      if (!values.some((v) => v.includes('${'))) {
        const set = new Set(values)
        return (v) => set.has(v)
      }
      return (v, ctx) => resolveValues(ctx).some((s) => literal(s) === v)
    }
    case 'StringIgnoreCase': {
      if (!values.some((v) => v.includes('${'))) {
        const set = new Set(values.map((v) => v.toLowerCase()))
        return (v) => set.has(v.toLowerCase())
      }
      const resolveValues = valueResolver(values, false)
      return (v, ctx) => {
        const lower = v.toLowerCase()
        return resolveValues(ctx).some((s) => literal(s).toLowerCase() === lower)
      }
    }
    case 'StringLike': {
      const resolveValues = valueResolver(values, true)
      if (!values.some((v) => v.includes('${'))) {
        const matchers = resolveValues(new Map()).map((s) => globMatcher(s, false))
        return (v) => matchers.some((m) => m.test(v))
      }
      return (v, ctx) => resolveValues(ctx).some((s) => globMatcher(s, false).test(v))
    }
    case 'Numeric': {
      // Policy variables are not supported by Numeric, Date, Binary and IP operators.
      const nums = values.map(parseNumber).filter((n): n is number => n !== undefined)
      return (v) => {
        const n = parseNumber(v)
        return n !== undefined && nums.some((p) => compare(base.compare, n, p))
      }
    }
    case 'Date': {
      const dates = values.map(parseDate).filter((n): n is number => n !== undefined)
      return (v) => {
        const d = parseDate(v)
        return d !== undefined && dates.some((p) => compare(base.compare, d, p))
      }
    }
    case 'Bool': {
      const resolveValues = valueResolver(values, false)
      return (v, ctx) => {
        const lower = v.toLowerCase()
        return resolveValues(ctx).some((s) => literal(s).toLowerCase() === lower)
      }
    }
    case 'Binary': {
      const blobs = values.map(decodeBase64).filter((b): b is Buffer => b !== undefined)
      return (v) => {
        const b = decodeBase64(v)
        return b !== undefined && blobs.some((p) => p.equals(b))
      }
    }
    case 'Ip': {
      const list = new BlockList()
      for (const cidr of values) {
        const [addr, prefix] = cidr.trim().split('/')
        const family = isIP(addr)
        if (!family) continue
        const type = family === 4 ? 'ipv4' : 'ipv6'
        const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix)
        if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) continue
        list.addSubnet(addr, bits, type)
      }
      return (v) => {
        const family = isIP(v)
        return family !== 0 && list.check(v, family === 4 ? 'ipv4' : 'ipv6')
      }
    }
    case 'Arn':
      // ArnEquals and ArnLike both match per ARN part with wildcards (IAM guide, ARN condition operators).
      return (v, ctx) => {
        const arn = normalizeArn(v)
        return values.some((p) => arnMatches(p, arn, ctx))
      }
    case 'Null':
      return () => false
  }
}

// Tests depend only on the operator and the policy values, so freshly parsed policies reuse them.
const TESTS = new Map<string, (value: string, ctx: Context) => boolean>()

function cachedTest(name: string, base: BaseOperator, values: string[]): (value: string, ctx: Context) => boolean {
  const key = name + '\u0000' + values.join('\u0000')
  let test = TESTS.get(key)
  if (!test) {
    if (TESTS.size > 20_000) TESTS.clear()
    test = compileTest(base, values)
    TESTS.set(key, test)
  }
  return test
}

export function compileConditions(block: ConditionBlock | undefined): CompiledCondition[] {
  if (!block) return []
  const out: CompiledCondition[] = []
  for (const operator in block) {
    const parsed = parseOperator(operator)
    const keys = block[operator]
    for (const key in keys) {
      const values = keys[key]
      out.push({
        operator,
        key,
        lookup: key.toLowerCase(),
        values,
        base: parsed.base,
        ifExists: parsed.ifExists,
        set: parsed.set,
        test: parsed.base ? cachedTest(parsed.name, parsed.base, values) : () => false,
      })
    }
  }
  return out
}

function present(v: ContextValue | undefined): v is ContextValue {
  return v !== undefined && (typeof v === 'string' || v.length > 0)
}

/** Whether one compiled condition holds for the request context. */
export function conditionHolds(c: CompiledCondition, ctx: Context): boolean {
  const base = c.base
  if (!base) return false
  const raw = ctx.get(c.lookup)
  if (base.family === 'Null') {
    // "true" asks that the key be absent, "false" that it be present; several values are OR'ed.
    const absent = !present(raw)
    return c.values.some((v) => (v.toLowerCase() === 'true' ? absent : v.toLowerCase() === 'false' ? !absent : false))
  }
  if (!present(raw)) {
    if (c.ifExists) return true
    if (c.set === 'all') return true
    if (c.set === 'any') return false
    return base.negated
  }
  const values = typeof raw === 'string' ? [raw] : raw
  if (c.set === 'all') {
    for (const v of values) if (c.test(v, ctx) === base.negated) return false
    return true
  }
  if (c.set === 'any') {
    for (const v of values) if (c.test(v, ctx) !== base.negated) return true
    return false
  }
  // Single-valued operator: positive ones need a match, negated ones need no value to match.
  let any = false
  for (const v of values) {
    if (c.test(v, ctx)) {
      any = true
      break
    }
  }
  return base.negated ? !any : any
}

/** One line for the explanation trace. */
export function describeCondition(c: CompiledCondition, ctx: Context, holds: boolean): string {
  const head = `${c.operator} ${c.key} ${JSON.stringify(c.values)}`
  if (!c.base) return `${head}: unknown condition operator, so the statement does not apply`
  const raw = ctx.get(c.lookup)
  if (!present(raw)) {
    let why = 'key absent'
    if (c.base.family === 'Null') why = 'key absent (Null test)'
    else if (c.ifExists) why = 'key absent, IfExists'
    else if (c.set === 'all') why = 'key absent, ForAllValues on an empty set'
    else if (c.set === 'any') why = 'key absent, ForAnyValue on an empty set'
    else if (c.base.negated) why = 'key absent, negated operator'
    return `${head}: ${why} → ${holds}`
  }
  return `${head} against ${JSON.stringify(raw)} → ${holds}`
}
