// Turns a policy value (from JSON.parse or a tolerant parser) into the normalised grammar that
// evaluate() expects: every list element an array, every condition value an array of strings.
import type { ConditionBlock, PolicyDocument, PrincipalBlock, Statement } from './types.js'
import { dictionary } from './dictionary.js'

/** Thrown when a value cannot be read as an IAM policy; `path` points at the offending element. */
export class PolicyGrammarError extends Error {
  constructor(
    message: string,
    /** JSON path of the offending element, e.g. `Statement[1].Effect`. */
    readonly path: string,
  ) {
    super(`${message} (at ${path})`)
    this.name = 'PolicyGrammarError'
  }
}

const DOCUMENT_KEYS = new Set(['Version', 'Id', 'Statement'])
const STATEMENT_KEYS = new Set([
  'Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition',
])

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A string or an array of strings → string[]. */
function stringList(v: unknown, path: string): string[] {
  if (typeof v === 'string') return [v]
  if (Array.isArray(v)) {
    return v.map((item, i) => {
      if (typeof item !== 'string') throw new PolicyGrammarError('expected a string', `${path}[${i}]`)
      return item
    })
  }
  throw new PolicyGrammarError('expected a string or an array of strings', path)
}

/** Condition values: AWS accepts strings, numbers and booleans and compares them as strings. */
function conditionValues(v: unknown, path: string): string[] {
  const one = (item: unknown, p: string): string => {
    if (typeof item === 'string') return item
    if (typeof item === 'number' || typeof item === 'boolean') return String(item)
    throw new PolicyGrammarError('expected a string, number or boolean condition value', p)
  }
  if (Array.isArray(v)) return v.map((item, i) => one(item, `${path}[${i}]`))
  return [one(v, path)]
}

function principalBlock(v: unknown, path: string): PrincipalBlock {
  if (v === '*') return '*'
  if (!isRecord(v)) throw new PolicyGrammarError('expected "*" or an object such as {"AWS": …}', path)
  const out = dictionary<string[]>()
  for (const [type, list] of Object.entries(v)) out[type] = stringList(list, `${path}.${type}`)
  return out
}

function conditionBlock(v: unknown, path: string): ConditionBlock {
  if (!isRecord(v)) throw new PolicyGrammarError('expected an object of condition operators', path)
  const out: ConditionBlock = dictionary()
  for (const [operator, keys] of Object.entries(v)) {
    if (!isRecord(keys)) throw new PolicyGrammarError('expected an object of condition keys', `${path}.${operator}`)
    const block = dictionary<string[]>()
    for (const [key, values] of Object.entries(keys)) block[key] = conditionValues(values, `${path}.${operator}.${key}`)
    out[operator] = block
  }
  return out
}

function statement(v: unknown, path: string): Statement {
  if (!isRecord(v)) throw new PolicyGrammarError('expected a statement object', path)
  for (const key of Object.keys(v)) {
    if (!STATEMENT_KEYS.has(key)) throw new PolicyGrammarError(`unknown statement element "${key}"`, `${path}.${key}`)
  }
  const effect = v.Effect
  if (effect !== 'Allow' && effect !== 'Deny') throw new PolicyGrammarError('Effect must be "Allow" or "Deny"', `${path}.Effect`)
  const pairs: Array<[string, string]> = [['Principal', 'NotPrincipal'], ['Action', 'NotAction'], ['Resource', 'NotResource']]
  for (const [a, b] of pairs) {
    if (a in v && b in v) throw new PolicyGrammarError(`a statement cannot have both ${a} and ${b}`, `${path}.${b}`)
  }
  if (!('Action' in v) && !('NotAction' in v)) throw new PolicyGrammarError('a statement needs Action or NotAction', path)
  const s: Statement = { Effect: effect }
  if (v.Sid !== undefined) {
    if (typeof v.Sid !== 'string') throw new PolicyGrammarError('Sid must be a string', `${path}.Sid`)
    s.Sid = v.Sid
  }
  if (v.Principal !== undefined) s.Principal = principalBlock(v.Principal, `${path}.Principal`)
  if (v.NotPrincipal !== undefined) s.NotPrincipal = principalBlock(v.NotPrincipal, `${path}.NotPrincipal`)
  if (v.Action !== undefined) s.Action = stringList(v.Action, `${path}.Action`)
  if (v.NotAction !== undefined) s.NotAction = stringList(v.NotAction, `${path}.NotAction`)
  if (v.Resource !== undefined) s.Resource = stringList(v.Resource, `${path}.Resource`)
  if (v.NotResource !== undefined) s.NotResource = stringList(v.NotResource, `${path}.NotResource`)
  if (v.Condition !== undefined) s.Condition = conditionBlock(v.Condition, `${path}.Condition`)
  return s
}

/**
 * Normalises a policy value: single strings → arrays, a Statement object → array, Principal "*"
 * kept, condition values → arrays of strings. Throws PolicyGrammarError when it cannot.
 */
export function normalizePolicy(value: unknown): PolicyDocument {
  if (!isRecord(value)) throw new PolicyGrammarError('a policy must be a JSON object', '$')
  for (const key of Object.keys(value)) {
    if (!DOCUMENT_KEYS.has(key)) throw new PolicyGrammarError(`unknown policy element "${key}"`, key)
  }
  const doc: PolicyDocument = { Statement: [] }
  if (value.Version !== undefined) {
    if (typeof value.Version !== 'string') throw new PolicyGrammarError('Version must be a string', 'Version')
    doc.Version = value.Version
  }
  if (value.Id !== undefined) {
    if (typeof value.Id !== 'string') throw new PolicyGrammarError('Id must be a string', 'Id')
    doc.Id = value.Id
  }
  const raw = value.Statement
  if (raw === undefined) throw new PolicyGrammarError('a policy needs a Statement', 'Statement')
  if (Array.isArray(raw)) doc.Statement = raw.map((s, i) => statement(s, `Statement[${i}]`))
  else doc.Statement = [statement(raw, 'Statement')]
  return doc
}
