// Intrinsic functions, conditions and rules, evaluated as CloudFormation evaluates them, and the
// references a value makes (for the dependency graph and "Unresolved resource dependencies").
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html
import { text } from '../core/types.js'
import { formatError, isObject, validationError, type Template, type TemplateValue } from './template.js'

/** `AWS::NoValue`: the property (or list item) is dropped. */
export const NO_VALUE = Symbol('AWS::NoValue')
export type Resolved = TemplateValue | typeof NO_VALUE

export const PSEUDO_PARAMETERS = ['AWS::AccountId', 'AWS::Region', 'AWS::Partition', 'AWS::StackName', 'AWS::StackId', 'AWS::URLSuffix', 'AWS::NoValue', 'AWS::NotificationARNs']

const FUNCTIONS = [
  'Fn::Base64', 'Fn::GetAtt', 'Fn::GetAZs', 'Fn::ImportValue', 'Fn::Join', 'Fn::Split', 'Fn::FindInMap', 'Fn::Select', 'Ref', 'Fn::Equals', 'Fn::If', 'Fn::Not',
  'Condition', 'Fn::And', 'Fn::Or', 'Fn::Contains', 'Fn::EachMemberEquals', 'Fn::EachMemberIn', 'Fn::ValueOf', 'Fn::ValueOfAll', 'Fn::RefAll', 'Fn::Sub', 'Fn::Cidr',
]
const CONDITION_FUNCTIONS = new Set(['Fn::And', 'Fn::Or', 'Fn::Not', 'Fn::Equals', 'Condition', 'Fn::If'])
const RULE_FUNCTIONS = new Set(['Fn::Contains', 'Fn::EachMemberEquals', 'Fn::EachMemberIn', 'Fn::ValueOf', 'Fn::ValueOfAll', 'Fn::RefAll'])

/** The one key of `{ "Fn::X": … }` (or `Ref`, `Condition`) when the object is an intrinsic function call. */
export function functionOf(value: unknown): string | undefined {
  if (!isObject(value)) return undefined
  const keys = Object.keys(value)
  if (keys.length !== 1) return undefined
  const key = keys[0]
  return key === 'Ref' || key === 'Condition' || key.startsWith('Fn::') ? key : undefined
}

/** A resource attribute or reference the engine cannot know yet (change set preview). */
export class UnknownValue extends Error {
  constructor(readonly logicalId: string) {
    super(`value of ${logicalId} is not known until it is created`)
  }
}

export interface EvalContext {
  template: Template
  pseudo: Record<string, TemplateValue>
  /** Parameter values after defaults and SSM resolution (lists for List<> and CommaDelimitedList). */
  parameters: Record<string, TemplateValue>
  conditions: Record<string, boolean>
  /** A resource's Ref value; throws UnknownValue when not created yet. */
  ref(logicalId: string): TemplateValue
  getAtt(logicalId: string, attribute: string): TemplateValue
  importValue(name: string): TemplateValue
  azs(region: string): string[]
}

const err = (message: string) => validationError(`Template error: ${message}`)

function str(value: Resolved, what: string): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return text(value)
  throw err(`${what} must be a string`)
}

function args(value: TemplateValue, fn: string, count: number, message: string): TemplateValue[] {
  if (!Array.isArray(value) || value.length !== count) throw err(message)
  return value
}

/** Fn::Cidr: `count` IPv4 blocks of `hostBits` host bits each, carved from `block` in order. */
export function cidrs(block: string, count: number, hostBits: number): string[] {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(block)
  if (!m) throw err(`Fn::Cidr: ${block} is not a valid IPv4 CIDR block`)
  const base = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0
  const prefix = Number(m[5])
  const size = 2 ** hostBits
  if (hostBits < 0 || 32 - hostBits < prefix || count < 1 || count > 256 || count * size > 2 ** (32 - prefix)) throw err(`Fn::Cidr: cannot carve ${count} /${32 - hostBits} blocks from ${block}`)
  const start = base & ~(2 ** (32 - prefix) - 1)
  return Array.from({ length: count }, (_, i) => {
    const n = (start + i * size) >>> 0
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${32 - hostBits}`
  })
}

/** Evaluate a template value: intrinsic functions resolved, AWS::NoValue dropped from objects and lists. */
export function evaluate(value: TemplateValue, ctx: EvalContext): Resolved {
  const fn = functionOf(value)
  if (fn) return call(fn, (value as Record<string, TemplateValue>)[fn], ctx)
  if (Array.isArray(value)) {
    const out: TemplateValue[] = []
    for (const item of value) {
      const v = evaluate(item, ctx)
      if (v !== NO_VALUE) out.push(v)
    }
    return out
  }
  if (isObject(value)) {
    const out: Record<string, TemplateValue> = {}
    for (const [k, v] of Object.entries(value)) {
      const r = evaluate(v, ctx)
      if (r !== NO_VALUE) out[k] = r
    }
    return out
  }
  return value
}

function ref(name: string, ctx: EvalContext): Resolved {
  if (name === 'AWS::NoValue') return NO_VALUE
  if (name in ctx.pseudo) return ctx.pseudo[name]
  if (Object.hasOwn(ctx.parameters, name)) return ctx.parameters[name]
  if (Object.hasOwn(ctx.template.Resources, name)) return ctx.ref(name)
  throw formatError(`Unresolved resource dependencies [${name}] in the Resources block of the template`)
}

function getAttArgs(value: TemplateValue, ctx: EvalContext): [string, string] {
  const parts = typeof value === 'string' ? [value.slice(0, value.indexOf('.')), value.slice(value.indexOf('.') + 1)] : value
  if (!Array.isArray(parts) || parts.length !== 2 || typeof parts[0] !== 'string' || parts[0] === '') {
    throw err('every Fn::GetAtt object requires two non-empty parameters, the resource name and the resource attribute')
  }
  const attribute = evaluate(parts[1], ctx)
  if (typeof attribute !== 'string' || attribute === '') throw err('every Fn::GetAtt object requires two non-empty parameters, the resource name and the resource attribute')
  return [parts[0], attribute]
}

/** Fn::Sub's `${Name}`, `${Resource.Attribute}` and `${!Literal}`. */
function sub(value: TemplateValue, ctx: EvalContext): string {
  let text: TemplateValue
  let vars: Record<string, TemplateValue> = {}
  if (Array.isArray(value)) {
    if (value.length !== 2 || !isObject(value[1])) throw err('One or more Fn::Sub intrinsic functions don\'t specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string')
    text = value[0]
    vars = value[1]
  } else text = value
  if (typeof text !== 'string') throw err('One or more Fn::Sub intrinsic functions don\'t specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string')
  return text.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`
    if (Object.hasOwn(vars, name)) return str(evaluate(vars[name], ctx), `Fn::Sub variable ${name}`)
    const dot = name.indexOf('.')
    if (dot > 0 && !name.startsWith('AWS::')) return str(ctx.getAtt(name.slice(0, dot), name.slice(dot + 1)), `Fn::Sub variable ${name}`)
    const v = ref(name, ctx)
    if (Array.isArray(v)) return v.map(String).join(',')
    return str(v, `Fn::Sub variable ${name}`)
  })
}

export function condition(name: string, ctx: EvalContext): boolean {
  if (!Object.hasOwn(ctx.conditions, name)) throw err(`unresolved condition dependency ${name} in Fn::If`)
  return ctx.conditions[name]
}

function truth(value: Resolved, fn: string): boolean {
  if (value === true || value === 'true') return true
  if (value === false || value === 'false') return false
  throw err(`${fn} requires a list of conditions`)
}

function call(fn: string, value: TemplateValue, ctx: EvalContext): Resolved {
  switch (fn) {
    case 'Ref': {
      if (typeof value !== 'string') throw err('every Ref object requires a single string parameter.')
      return ref(value, ctx)
    }
    case 'Fn::GetAtt': {
      const [id, attribute] = getAttArgs(value, ctx)
      if (!Object.hasOwn(ctx.template.Resources, id)) throw formatError(`Unresolved resource dependencies [${id}] in the Resources block of the template`)
      return ctx.getAtt(id, attribute)
    }
    case 'Fn::Join': {
      const [delimiter, items] = args(value, fn, 2, 'every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.')
      const list = evaluate(items, ctx)
      if (typeof delimiter !== 'string' || !Array.isArray(list)) throw err('every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.')
      return list.map((v) => str(v, 'Fn::Join item')).join(delimiter)
    }
    case 'Fn::Sub':
      return sub(value, ctx)
    case 'Fn::Select': {
      const [indexValue, items] = args(value, fn, 2, 'Fn::Select requires a list argument with two elements: an integer index and a list')
      const index = Number(evaluate(indexValue, ctx))
      const list = evaluate(items, ctx)
      if (!Array.isArray(list) || !Number.isInteger(index)) throw err('Fn::Select requires a list argument with two elements: an integer index and a list')
      if (index < 0 || index >= list.length) throw err(`Fn::Select cannot select nonexistent value at index ${index}`)
      return list[index]
    }
    case 'Fn::Split': {
      const [delimiter, source] = args(value, fn, 2, 'every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split.')
      const s = evaluate(source, ctx)
      if (typeof delimiter !== 'string' || typeof s !== 'string') throw err('every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split.')
      return s.split(delimiter)
    }
    case 'Fn::Base64':
      return Buffer.from(str(evaluate(value, ctx), 'Fn::Base64'), 'utf8').toString('base64')
    case 'Fn::GetAZs': {
      const region = str(evaluate(value, ctx), 'Fn::GetAZs') || text(ctx.pseudo['AWS::Region'])
      return ctx.azs(region)
    }
    case 'Fn::Cidr': {
      const [block, count, bits] = args(value, fn, 3, 'Fn::Cidr requires three parameters: an IP block, a count and a number of subnet bits').map((v) => evaluate(v, ctx))
      return cidrs(str(block, 'Fn::Cidr ipBlock'), Number(count), Number(bits))
    }
    case 'Fn::FindInMap': {
      const [map, top, second] = args(value, fn, 3, 'every Fn::FindInMap object requires three parameters, the map name, map key and the attribute for return value').map((v) => str(evaluate(v, ctx), 'Fn::FindInMap key'))
      const found = ctx.template.Mappings[map]?.[top]?.[second]
      if (found === undefined) throw err(`Unable to get mapping for ${map}::${top}::${second}`)
      return found
    }
    case 'Fn::ImportValue':
      return ctx.importValue(str(evaluate(value, ctx), 'Fn::ImportValue'))
    case 'Fn::If': {
      const [name, yes, no] = args(value, fn, 3, 'Fn::If requires a list argument with three elements')
      if (typeof name !== 'string') throw err('Fn::If requires a list argument with three elements')
      return evaluate(condition(name, ctx) ? yes : no, ctx)
    }
    case 'Condition':
      if (typeof value !== 'string') throw err('Condition requires a condition name')
      return condition(value, ctx)
    case 'Fn::Equals': {
      const [a, b] = args(value, fn, 2, 'every Fn::Equals object requires a list of 2 string parameters.').map((v) => evaluate(v, ctx))
      return JSON.stringify(a) === JSON.stringify(b) || (typeof a !== 'object' && typeof b !== 'object' && text(a) === text(b))
    }
    case 'Fn::Not': {
      const [c] = args(value, fn, 1, 'Fn::Not requires a list argument with one function token')
      return !truth(evaluate(c, ctx), fn)
    }
    case 'Fn::And':
    case 'Fn::Or': {
      if (!Array.isArray(value) || value.length < 2 || value.length > 10) throw err(`${fn} requires a list of 2 to 10 conditions`)
      const values = value.map((c) => truth(evaluate(c, ctx), fn))
      return fn === 'Fn::And' ? values.every(Boolean) : values.some(Boolean)
    }
    case 'Fn::Contains': {
      const [list, item] = args(value, fn, 2, 'Fn::Contains requires a list and a value').map((v) => evaluate(v, ctx))
      return Array.isArray(list) && list.some((v) => text(v) === text(item))
    }
    case 'Fn::EachMemberEquals': {
      const [list, item] = args(value, fn, 2, 'Fn::EachMemberEquals requires a list and a value').map((v) => evaluate(v, ctx))
      return Array.isArray(list) && list.every((v) => text(v) === text(item))
    }
    case 'Fn::EachMemberIn': {
      const [list, allowed] = args(value, fn, 2, 'Fn::EachMemberIn requires two lists').map((v) => evaluate(v, ctx))
      return Array.isArray(list) && Array.isArray(allowed) && list.every((v) => allowed.some((a) => text(a) === text(v)))
    }
    default:
      if (FUNCTIONS.includes(fn)) throw validationError(`Template error: ${fn} is not supported by aws-lab`)
      throw formatError(`Encountered unsupported function: ${fn} Supported functions are: [${FUNCTIONS.join(', ')}]`)
  }
}

/** The template's conditions, each evaluated once (a condition may name another). */
export function evaluateConditions(ctx: EvalContext): Record<string, boolean> {
  const done: Record<string, boolean> = {}
  const visiting = new Set<string>()
  const conditionCtx: EvalContext = { ...ctx, conditions: new Proxy(done, { has: (_t, name: string) => Object.hasOwn(ctx.template.Conditions, name), get: (_t, name: string) => one(name) }) }
  function one(name: string): boolean {
    if (Object.hasOwn(done, name)) return done[name]
    if (!Object.hasOwn(ctx.template.Conditions, name)) throw err(`unresolved condition dependency ${name}`)
    if (visiting.has(name)) throw formatError(`Circular dependency between conditions: [${[...visiting].join(', ')}]`)
    visiting.add(name)
    const cond = ctx.template.Conditions[name]
    const fn = functionOf(cond)
    if (!fn || !CONDITION_FUNCTIONS.has(fn)) throw formatError(`Conditions can only be boolean operations on parameters and other conditions (condition ${name})`)
    done[name] = truth(evaluate(cond, { ...conditionCtx, ref: (id) => { throw formatError(`Unresolved resource dependencies [${id}] in the Conditions block of the template`) } }), name)
    visiting.delete(name)
    return done[name]
  }
  for (const name of Object.keys(ctx.template.Conditions)) one(name)
  return done
}

/** The Rules section: a failing assertion refuses the change set with its AssertDescription, as CloudFormation does. */
export function checkRules(ctx: EvalContext): void {
  for (const [name, rule] of Object.entries(ctx.template.Rules)) {
    if (rule.RuleCondition !== undefined && !truth(evaluate(rule.RuleCondition, ctx), `Rule ${name}`)) continue
    for (const assertion of rule.Assertions) {
      if (!truth(evaluate(assertion.Assert, ctx), `Rule ${name}`)) throw validationError(assertion.AssertDescription ?? `Template error: rule ${name} failed`)
    }
  }
}

/** Every function name used in a value, to refuse the ones CloudFormation does not know before anything runs. */
export function checkFunctions(value: TemplateValue, where: 'Resources' | 'Outputs' | 'Conditions' | 'Rules'): void {
  const fn = functionOf(value)
  if (fn) {
    if (!FUNCTIONS.includes(fn)) throw formatError(`Encountered unsupported function: ${fn} Supported functions are: [${FUNCTIONS.join(', ')}]`)
    if (RULE_FUNCTIONS.has(fn) && where !== 'Rules') throw formatError(`Intrinsic function ${fn} is only supported in the Rules section of the template`)
  }
  if (Array.isArray(value)) for (const v of value) checkFunctions(v, where)
  else if (isObject(value)) for (const v of Object.values(value)) checkFunctions(v, where)
}

/** Names a value refers to (Ref, Fn::GetAtt, Fn::Sub variables), for the dependency graph. */
export function references(value: TemplateValue, out = new Set<string>()): Set<string> {
  const fn = functionOf(value)
  if (fn === 'Ref' && typeof (value as Record<string, TemplateValue>).Ref === 'string') out.add((value as Record<string, string>).Ref)
  else if (fn === 'Fn::GetAtt') {
    const a = (value as Record<string, TemplateValue>)['Fn::GetAtt']
    const id = typeof a === 'string' ? a.split('.')[0] : Array.isArray(a) ? a[0] : undefined
    if (typeof id === 'string') out.add(id)
    if (Array.isArray(a)) for (const v of a.slice(1)) references(v, out)
  } else if (fn === 'Fn::Sub') {
    const a = (value as Record<string, TemplateValue>)['Fn::Sub']
    const text = Array.isArray(a) ? a[0] : a
    const vars = Array.isArray(a) && isObject(a[1]) ? a[1] : {}
    if (typeof text === 'string') {
      for (const m of text.matchAll(/\$\{([^}!][^}]*)\}/g)) if (!Object.hasOwn(vars, m[1])) out.add(m[1].startsWith('AWS::') ? m[1] : m[1].split('.')[0])
    }
    for (const v of Object.values(vars)) references(v, out)
  } else if (Array.isArray(value)) for (const v of value) references(v, out)
  else if (isObject(value)) for (const v of Object.values(value)) references(v, out)
  return out
}
