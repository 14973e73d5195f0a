// Validation: the parse findings, then the catalogue (actions, condition keys, operators), the
// shape of principals, account ids and ARNs, and the KMS lints; every finding says what to change.
import { isIP } from 'node:net'
import type { Node } from 'jsonc-parser'
import {
  actionsForService, closest, conditionKeyCandidates, editDistance, expandAction,
  findConditionKey, serviceExists, serviceNames,
} from './catalog.js'
import { CONDITION_OPERATORS, parseOperator as splitOperator } from './conditions.js'
import { policyInvalidError } from './errors.js'
import { countWildcards, MAX_PATTERN_LENGTH, MAX_PATTERN_WILDCARDS, wildcardMatcher } from './wildcard.js'
import {
  PRINCIPAL_TYPES, properties, prop, sortFindings, statementNodes, stringItems, parsePolicyText, type FindingList,
} from './parse.js'
import type { Finding, PolicyDocument } from './types.js'

export interface ValidateOptions {
  /** What the policy is attached to; inferred (resource when any statement names a principal) when absent. */
  kind?: 'resource' | 'identity' | 'trust'
  /** The service whose resource the policy guards (`kms` for a key policy). */
  service?: 'kms' | 's3' | 'iam' | 'sts' | (string & {})
  /** The account that owns the policy: principals elsewhere get CROSS_ACCOUNT_PRINCIPAL, and it fills suggestions. */
  accountId?: string
}

const ACCOUNT_ID = /^\d{12}$/
const PARTITIONS = new Set(['aws', 'aws-cn', 'aws-us-gov', 'aws-iso', 'aws-iso-b', 'aws-iso-e', 'aws-iso-f', 'aws-eusc'])
/** Condition keys whose values are account ids. */
const ACCOUNT_KEYS = new Set(['kms:calleraccount', 'aws:principalaccount', 'aws:resourceaccount', 'aws:sourceaccount', 'aws:vpceaccount'])
/** KMS operations that produce or use data keys and plaintext: what S3 SSE-KMS calls on the caller's behalf. */
const DATA_KEY_ACTIONS = [
  'kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext', 'kms:GenerateDataKeyPair', 'kms:GenerateDataKeyPairWithoutPlaintext',
]
/** Keys that exempt calls made by AWS services, so a network-origin deny spares S3 and friends. */
const SERVICE_EXCEPTION_KEYS = new Set([
  'kms:viaservice', 'aws:viaawsservice', 'aws:calledvia', 'aws:calledviafirst', 'aws:calledvialast', 'aws:principalisawsservice',
])

const hasVariable = (v: string): boolean => v.includes('${')

/** Operator families as validation groups them (the evaluator's String/StringIgnoreCase/StringLike are one here). */
type OperatorFamily = 'String' | 'Numeric' | 'Date' | 'Bool' | 'Binary' | 'IpAddress' | 'Arn' | 'Null'

interface KnownOperator {
  base: string
  family: OperatorFamily
  negated: boolean
  set?: 'any' | 'all'
}

/** The evaluator's reading of an operator (conditions.ts), or undefined when AWS has no such operator. */
function parseOperator(operator: string): KnownOperator | undefined {
  const p = splitOperator(operator)
  if (!p.base) return undefined
  const f = p.base.family
  const family: OperatorFamily = f === 'StringIgnoreCase' || f === 'StringLike' ? 'String' : f === 'Ip' ? 'IpAddress' : f
  return { base: p.name, family, negated: p.base.negated, ...(p.set ? { set: p.set } : {}) }
}

/** Every valid operator spelling, for "did you mean". */
const OPERATOR_SPELLINGS = ((): string[] => {
  const plain = CONDITION_OPERATORS.flatMap((b) => (b === 'Null' ? [b] : [b, `${b}IfExists`]))
  return [...plain, ...plain.flatMap((o) => [`ForAnyValue:${o}`, `ForAllValues:${o}`])]
})()

const hasWildcard = (v: string): boolean => /[*?]/.test(v)

interface Context {
  /** The Effect of the statement being checked. */
  effect?: string
  list: FindingList
  options: ValidateOptions
  kind: 'resource' | 'identity' | 'trust'
  keyPolicy: boolean
}

/** Validates policy text: every parse finding plus catalogue, principal and KMS checks, sorted by position. */
export function validatePolicy(text: string, options: ValidateOptions = {}): Finding[] {
  return validateWithDocument(text, options).findings
}

function validateWithDocument(text: string, options: ValidateOptions): { findings: Finding[]; document?: PolicyDocument } {
  const parsed = parsePolicyText(text)
  const { tree, list } = parsed
  const statements = statementNodes(tree)
  const kind = options.kind ?? (statements.some((s) => prop(s.node, 'Principal') || prop(s.node, 'NotPrincipal')) ? 'resource' : 'identity')
  const actions = statements.flatMap((s) => [...stringItems(prop(s.node, 'Action')?.value, ''), ...stringItems(prop(s.node, 'NotAction')?.value, '')])
  const keyPolicy = kind === 'resource' && (options.service === 'kms' ||
    (options.service === undefined && actions.length > 0 && actions.every((a) => a.value === '*' || a.value.toLowerCase().startsWith('kms:'))))
  const ctx: Context = { list, options, kind, keyPolicy }
  for (const s of statements) checkStatement(s.node, s.path, ctx)
  return { findings: sortFindings(list.items), ...(parsed.document ? { document: parsed.document } : {}) }
}

/**
 * Validates and returns the normalised document, or throws POL_INVALID_POLICY (with every finding
 * on `err.findings`) when there is any ERROR — for callers such as PutKeyPolicy that must refuse.
 */
export function assertValidPolicy(text: string, options: ValidateOptions = {}): { document: PolicyDocument; findings: Finding[] } {
  const { findings, document } = validateWithDocument(text, options)
  if (!document || findings.some((f) => f.severity === 'ERROR')) throw policyInvalidError(findings)
  return { document, findings }
}

/** One line per finding, `source:line:column SEVERITY CODE message (suggestion: …)`, for terminals and logs. */
export function formatFindings(findings: Finding[], source = 'policy'): string {
  return findings
    .map((f) => `${source}:${f.line}:${f.column} ${f.severity} ${f.code} ${f.message}${f.suggestion ? ` (suggestion: ${f.suggestion})` : ''}`)
    .join('\n')
}

function effectOf(s: Node): string | undefined {
  const e = prop(s, 'Effect')?.value
  return e?.type === 'string' ? (e.value as string) : undefined
}

function checkStatement(s: Node, path: string, ctx: Context): void {
  ctx.effect = effectOf(s)
  const { list, kind } = ctx
  const principal = prop(s, 'Principal')
  const notPrincipal = prop(s, 'NotPrincipal')
  if (kind === 'identity') {
    for (const p of [principal, notPrincipal]) {
      if (p) list.add('PRINCIPAL_IN_IDENTITY_POLICY', p.keyNode, `${path}.${p.key}`, `An identity policy applies to the identity it is attached to and cannot name a ${p.key}`, `Remove ${p.key}, or validate this as a resource policy`)
    }
    const sid = prop(s, 'Sid')?.value
    if (sid?.type === 'string' && !/^[A-Za-z0-9]*$/.test(sid.value as string)) {
      list.add('INVALID_SID', sid, `${path}.Sid`, `Sid "${sid.value}" has characters other than letters and digits, which IAM identity policies reject`, (sid.value as string).replace(/[^A-Za-z0-9]/g, ''))
    }
  } else if (!principal && !notPrincipal) {
    list.add('MISSING_PRINCIPAL', s, `${path}.Principal`, `A statement in a ${kind} policy must say whom it applies to`, 'Add "Principal": {"AWS": "arn:aws:iam::111122223333:root"} (or the role/user it is for)')
  }
  if (kind !== 'trust' && !prop(s, 'Resource') && !prop(s, 'NotResource')) {
    list.add('MISSING_RESOURCE', s, `${path}.Resource`, 'The statement has neither Resource nor NotResource', ctx.keyPolicy ? 'Add "Resource": "*" (in a key policy, * is the key itself)' : 'Add "Resource": [ARNs]')
  }
  for (const element of ['Action', 'NotAction']) {
    for (const item of stringItems(prop(s, element)?.value, `${path}.${element}`)) checkAction(item.node, item.path, item.value, ctx)
  }
  for (const p of [principal, notPrincipal]) if (p?.value) checkPrincipalBlock(p.value, `${path}.${p.key}`, ctx)
  checkResources(s, path, ctx)
  const condition = prop(s, 'Condition')?.value
  if (condition?.type === 'object') checkCondition(condition, `${path}.Condition`, ctx)
  lintStatement(s, path, ctx)
}

/**
 * A value longer than MAX_PATTERN_LENGTH, or (where `*`/`?` are wildcards) with more than
 * MAX_PATTERN_WILDCARDS of them, is refused: matching stays linear, but no real policy needs either.
 */
function checkPatternSize(list: FindingList, node: Node, path: string, value: string, wildcards: boolean): boolean {
  if (value.length > MAX_PATTERN_LENGTH) {
    list.add('POLICY_VALUE_TOO_LONG', node, path, `This value has ${value.length} characters; kms-share accepts at most ${MAX_PATTERN_LENGTH} per value`)
    return false
  }
  const count = wildcards ? countWildcards(value) : 0
  if (count > MAX_PATTERN_WILDCARDS) {
    list.add('WILDCARD_PATTERN_TOO_COMPLEX', node, path, `"${value.slice(0, 60)}${value.length > 60 ? '…' : ''}" has ${count} wildcards (* and ?); kms-share accepts at most ${MAX_PATTERN_WILDCARDS} per value`)
    return false
  }
  return true
}

function checkAction(node: Node, path: string, action: string, { list }: Context): void {
  if (action === '*') return
  if (!checkPatternSize(list, node, path, action, true)) return
  const colon = action.indexOf(':')
  if (colon <= 0 || /\s/.test(action) || colon === action.length - 1) {
    const fixed = action.replace(/\s+/g, '')
    list.add('INVALID_ACTION', node, path, `"${action}" is not an action: write service:Action, e.g. kms:Decrypt, without spaces`, fixed !== action && fixed.includes(':') ? fixed : undefined)
    return
  }
  const service = action.slice(0, colon)
  const name = action.slice(colon + 1)
  if (!serviceExists(service)) {
    const near = closest(service, serviceNames())
    list.add('UNKNOWN_SERVICE', node, path, `"${service}" in "${action}" is not an AWS service prefix${near ? ` (did you mean "${near}"?)` : ''}`, near ? `${near}:${name}` : undefined)
    return
  }
  if (hasWildcard(name)) {
    if (expandAction(action).length === 0) {
      list.add('UNKNOWN_ACTION', node, path, `"${action}" matches no ${service} action`, `${service}:*`)
    }
    return
  }
  const names = actionsForService(service)
  if (names.includes(name)) return
  const sameName = names.find((n) => n.toLowerCase() === name.toLowerCase())
  if (sameName) {
    list.add('ACTION_CASE', node, path, `"${action}" matches ${service}:${sameName} only because action names are case-insensitive; write it as AWS does`, `${service}:${sameName}`)
    return
  }
  const near = closest(name, names)
  list.add('UNKNOWN_ACTION', node, path, `${service} has no action "${name}"${near ? `; did you mean ${service}:${near}?` : ''}`, near ? `${service}:${near}` : undefined)
}

function accountHint(ctx: Context): string {
  return ctx.options.accountId && ACCOUNT_ID.test(ctx.options.accountId) ? ctx.options.accountId : '111122223333'
}

function malformedAccount(node: Node, path: string, account: string, where: string, ctx: Context, suggestion?: string): void {
  const placeholder = /[a-z]/i.test(account) ? `"${account}" is a placeholder, not an AWS account id` : `"${account}" is not an AWS account id`
  ctx.list.add('MALFORMED_ACCOUNT_ID', node, path, `${placeholder} (in ${where}): put the 12-digit account id${ctx.options.accountId ? ` (${ctx.options.accountId})` : ''} there`, suggestion)
}

function checkPrincipalBlock(block: Node, path: string, ctx: Context): void {
  if (block.type !== 'object') return
  for (const p of properties(block)) {
    const typePath = `${path}.${p.key}`
    if (!(PRINCIPAL_TYPES as readonly string[]).includes(p.key)) {
      const near = closest(p.key, PRINCIPAL_TYPES)
      ctx.list.add('UNKNOWN_PRINCIPAL_TYPE', p.keyNode, typePath, `"${p.key}" is not a principal type; use AWS, Service, Federated or CanonicalUser`, near)
      continue
    }
    for (const item of stringItems(p.value, typePath)) {
      if (p.key === 'AWS') checkAwsPrincipal(item.node, item.path, item.value, ctx)
      else if (p.key === 'Service' && !/^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$/.test(item.value) && item.value !== '*') {
        ctx.list.add('MALFORMED_PRINCIPAL', item.node, item.path, `"${item.value}" is not a service principal such as s3.amazonaws.com`)
      }
    }
  }
}

interface PrincipalArn {
  partition: string
  service: string
  account: string
  resource: string
}

function splitArn(value: string): { partition: string; service: string; region: string; account: string; resource: string } | undefined {
  const parts = value.split(':')
  if (parts.length < 6 || parts[0] !== 'arn') return undefined
  return { partition: parts[1], service: parts[2], region: parts[3], account: parts[4], resource: parts.slice(5).join(':') }
}

function principalArn(value: string): PrincipalArn | undefined {
  const arn = splitArn(value)
  return arn && (arn.service === 'iam' || arn.service === 'sts') ? arn : undefined
}

function checkAwsPrincipal(node: Node, path: string, value: string, ctx: Context): void {
  const { list } = ctx
  if (value === '*') return
  if (ACCOUNT_ID.test(value)) {
    crossAccount(node, path, value, value, ctx)
    return
  }
  if (!value.startsWith('arn:')) {
    if (!value.includes(':') && !value.includes('/')) malformedAccount(node, path, value, 'Principal', ctx, accountHint(ctx))
    else list.add('MALFORMED_PRINCIPAL', node, path, `"${value}" is not a principal: use "*", a 12-digit account id, or an ARN such as arn:aws:iam::111122223333:role/NAME`)
    return
  }
  const arn = splitArn(value)
  if (!arn || !PARTITIONS.has(arn.partition) || (arn.service !== 'iam' && arn.service !== 'sts') || arn.region !== '') {
    list.add('MALFORMED_PRINCIPAL', node, path, `"${value}" is not a principal ARN: expected arn:aws:iam::ACCOUNT:root|user/NAME|role/NAME or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`)
    return
  }
  if (!ACCOUNT_ID.test(arn.account)) {
    malformedAccount(node, path, arn.account, value, ctx, `arn:${arn.partition}:${arn.service}::${accountHint(ctx)}:${arn.resource}`)
  } else {
    crossAccount(node, path, value, arn.account, ctx)
  }
  const resourceOk = arn.service === 'iam'
    ? /^(root|user\/.+|role\/.+|oidc-provider\/.+|saml-provider\/.+|federated-user\/.+)$/.test(arn.resource)
    : /^(assumed-role\/[^/]+\/.+|federated-user\/.+)$/.test(arn.resource)
  if (hasWildcard(value)) {
    list.add('MALFORMED_PRINCIPAL', node, path, `"${value}": wildcards are not allowed in principal ARNs`, 'Use "Principal": {"AWS": "*"} with "Condition": {"ArnLike": {"aws:PrincipalArn": "…"}}')
  } else if (!resourceOk) {
    const group = arn.resource.startsWith('group/')
    list.add('MALFORMED_PRINCIPAL', node, path, group
      ? `"${value}": IAM groups cannot be principals`
      : `"${value}" does not name a principal: after the account comes root, user/NAME or role/NAME (iam), or assumed-role/ROLE/SESSION (sts)`)
  }
}

function crossAccount(node: Node, path: string, value: string, account: string, ctx: Context): void {
  const own = ctx.options.accountId
  if (own && account !== own) {
    ctx.list.add('CROSS_ACCOUNT_PRINCIPAL', node, path, `${value} is in account ${account}, not this policy's account ${own}: it grants or denies across accounts`, 'Check that the other account is intended')
  }
}

function checkResources(s: Node, path: string, ctx: Context): void {
  for (const element of ['Resource', 'NotResource']) {
    const node = prop(s, element)?.value
    const items = stringItems(node, `${path}.${element}`)
    for (const item of items) {
      if (item.value === '*') continue
      if (!checkPatternSize(ctx.list, item.node, item.path, item.value, true)) continue
      const arn = splitArn(item.value)
      if (!arn) {
        ctx.list.add('MALFORMED_RESOURCE', item.node, item.path, `"${item.value}" is neither "*" nor an ARN (arn:partition:service:region:account:resource)`)
        continue
      }
      if (arn.account !== '' && !ACCOUNT_ID.test(arn.account) && !hasWildcard(arn.account) && !hasVariable(arn.account)) {
        malformedAccount(item.node, item.path, arn.account, item.value, ctx, item.value.replace(`:${arn.account}:`, `:${accountHint(ctx)}:`))
      }
    }
    if (ctx.keyPolicy && node && (element === 'NotResource' || items.some((i) => i.value !== '*'))) {
      ctx.list.add('KEY_POLICY_RESOURCE_NOT_WILDCARD', node, `${path}.${element}`, `In a key policy "${element}" should be "*": the policy applies only to the key it is attached to, and other values can make the statement match nothing`, '"Resource": "*"')
    }
  }
}

/** The operator families a condition key's catalogue type goes with (undefined: anything goes). */
function familiesForType(type: string): OperatorFamily[] | undefined {
  switch (type.replace(/^ArrayOf/, '')) {
    case 'Numeric': return ['Numeric']
    case 'Date': return ['Date']
    case 'Bool': return ['Bool']
    case 'IPAddress': return ['IpAddress']
    case 'Binary': return ['Binary']
    case 'ARN': return ['Arn', 'String']
    case 'String': return ['String', 'Arn']
    default: return undefined
  }
}

const VALUE_CHECKS: Partial<Record<OperatorFamily, { test: (v: string) => boolean; expected: string }>> = {
  Numeric: { test: (v) => /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(v), expected: 'a number, e.g. "300"' },
  Bool: { test: (v) => /^(true|false)$/i.test(v), expected: '"true" or "false"' },
  Null: { test: (v) => /^(true|false)$/i.test(v), expected: '"true" (key absent) or "false" (key present)' },
  Date: { test: (v) => /^-?\d+(\.\d+)?$/.test(v) || (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v))), expected: 'an ISO 8601 date such as "2026-01-01T00:00:00Z" or epoch seconds' },
  IpAddress: { test: (v) => { const [ip, bits, extra] = v.split('/'); return isIP(ip) !== 0 && extra === undefined && (bits === undefined || /^\d{1,3}$/.test(bits)) }, expected: 'an IP address or CIDR range such as "203.0.113.0/24"' },
  Binary: { test: (v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v), expected: 'base64-encoded bytes' },
  Arn: { test: (v) => v.startsWith('arn:') || v === '*', expected: 'an ARN (arn:aws:…)' },
}

function conditionValues(node: Node | undefined, path: string): Array<{ node: Node; path: string; value: string }> {
  if (!node) return []
  const scalar = (n: Node): boolean => n.type === 'string' || n.type === 'number' || n.type === 'boolean'
  if (node.type !== 'array') return scalar(node) ? [{ node, path, value: String(node.value) }] : []
  return (node.children ?? []).flatMap((n, i) => (scalar(n) ? [{ node: n, path: `${path}[${i}]`, value: String(n.value) }] : []))
}

/** "Did you mean" for a condition key: the nearest plain key, or a variable key's prefix with the rest kept. */
function suggestConditionKey(key: string): string | undefined {
  let best: { text: string; distance: number } | undefined
  const consider = (text: string, distance: number): void => {
    if (!best || distance < best.distance) best = { text, distance }
  }
  for (const c of conditionKeyCandidates(key)) {
    const m = /\$\{[^}]*\}|<[^>]*>|tag-key$/.exec(c.key)
    if (!m) {
      consider(c.key, editDistance(key, c.key))
      continue
    }
    const prefix = c.key.slice(0, m.index)
    for (let cut = Math.max(1, prefix.length - 3); cut <= Math.min(key.length - 1, prefix.length + 3); cut++) {
      // Ranks behind a plain key at the same distance, so kms:EncryptionContextKey → kms:EncryptionContextKeys.
      consider(prefix + key.slice(cut), editDistance(key.slice(0, cut), prefix) + 0.5)
    }
  }
  const limit = Math.max(2, Math.floor(key.length / 4))
  return best && best.distance <= limit ? best.text : undefined
}

/** Whether the Condition also requires the key to be present (`"Null": {"key": "false"}`). */
function nullChecked(condition: Node, key: string): boolean {
  const block = prop(condition, 'Null')?.value
  if (block?.type !== 'object') return false
  return properties(block).some((k) => k.key.toLowerCase() === key.toLowerCase() && conditionValues(k.value, '').some((v) => v.value.toLowerCase() === 'false'))
}

function checkCondition(condition: Node, path: string, ctx: Context): void {
  const { list } = ctx
  for (const op of properties(condition)) {
    const opPath = `${path}.${op.key}`
    const parsed = parseOperator(op.key)
    if (!parsed) {
      // Null is itself the existence test, so NullIfExists is a mistake for Null.
      const near = /^(For(AnyValue|AllValues):)?NullIfExists$/.test(op.key) ? op.key.replace(/IfExists$/, '') : closest(op.key, OPERATOR_SPELLINGS)
      list.add('UNKNOWN_CONDITION_OPERATOR', op.keyNode, opPath, `"${op.key}" is not an IAM condition operator${near ? `; did you mean ${near}?` : ''}`, near)
    }
    if (op.value?.type !== 'object') continue
    for (const k of properties(op.value)) {
      const keyPath = `${opPath}.${k.key}`
      let entry = findConditionKey(k.key)
      if (/\s/.test(k.key)) {
        const stripped = k.key.replace(/\s+/g, '')
        const fixed = findConditionKey(stripped)
        const spelled = fixed && !/\$\{|<|tag-key$/.test(fixed.key) ? fixed.key : stripped
        list.add('MALFORMED_CONDITION_KEY', k.keyNode, keyPath, `Condition key "${k.key}" contains whitespace, so it never matches a key in the request${fixed ? ` and the condition is never true; write "${spelled}"` : ''}`, fixed ? spelled : suggestConditionKey(stripped))
        entry = undefined
      } else if (!entry) {
        const lower = k.key.toLowerCase()
        const needsName = conditionKeyCandidates(k.key).find((c) => {
          const m = /\$\{[^}]*\}|<[^>]*>|tag-key$/.exec(c.key)
          return m && c.key.slice(0, m.index).toLowerCase().replace(/[:/]$/, '') === lower
        })
        if (needsName) {
          list.add('UNKNOWN_CONDITION_KEY', k.keyNode, keyPath, `"${k.key}" needs a name after it: ${needsName.key}`, needsName.key)
        } else {
          const near = suggestConditionKey(k.key)
          list.add('UNKNOWN_CONDITION_KEY', k.keyNode, keyPath, `"${k.key}" is not a global condition key nor a key of its service${near ? `; did you mean ${near}?` : ''}`, near)
        }
      }
      const values = conditionValues(k.value, keyPath)
      const wildcardFamily = /^(StringLike|StringNotLike|Arn)/.test(parsed?.base ?? '')
      for (const v of values) checkPatternSize(list, v.node, v.path, v.value, wildcardFamily)
      if (parsed) {
        const check = VALUE_CHECKS[parsed.family]
        for (const v of values) {
          if (check && !hasVariable(v.value) && !(parsed.family === 'Arn' && hasWildcard(v.value)) && !check.test(v.value)) {
            list.add('CONDITION_VALUE_TYPE_MISMATCH', v.node, v.path, `${op.key} compares ${check.expected}, but "${v.value}" is not; the condition will not match as intended`)
          }
        }
        if (parsed.set && entry && !entry.type.startsWith('ArrayOf')) {
          list.add('SET_OPERATOR_ON_SINGLE_VALUED_KEY', op.keyNode, keyPath, `${op.key} compares sets of values, but ${entry.key} is single-valued (${entry.type}); the result can surprise (e.g. ForAllValues is true when the key is absent)`, op.key.replace(/^For(AnyValue|AllValues):/, ''))
        }
        if (parsed.set === 'all' && !parsed.negated && ctx.effect === 'Allow' && !nullChecked(condition, k.key)) {
          list.add('ALLOW_FORALLVALUES_WITHOUT_NULL', op.keyNode, keyPath, `ForAllValues is true when the request has no ${k.key} at all, so this Allow also matches requests without it`, `Add "Null": {"${k.key}": "false"} to the Condition`)
        }
        const families = entry && parsed.family !== 'Null' ? familiesForType(entry.type) : undefined
        if (families && !families.includes(parsed.family)) {
          list.add('CONDITION_OPERATOR_KEY_TYPE_MISMATCH', op.keyNode, keyPath, `${entry!.key} is of type ${entry!.type}, but ${op.key} is a ${parsed.family} operator`, `Use a ${families[0]} operator`)
        }
      }
      const lowerKey = k.key.toLowerCase()
      if (ACCOUNT_KEYS.has(lowerKey) && parsed?.family !== 'Null') {
        for (const v of values) {
          if (!ACCOUNT_ID.test(v.value) && !hasVariable(v.value) && !hasWildcard(v.value)) malformedAccount(v.node, v.path, v.value, k.key, ctx, accountHint(ctx))
        }
      }
      if ((lowerKey === 'aws:sourcevpce' || lowerKey === 'aws:sourcevpc') && parsed?.family !== 'Null') {
        const [prefix, what] = lowerKey === 'aws:sourcevpce' ? ['vpce', 'VPC endpoint'] : ['vpc', 'VPC']
        for (const v of values) {
          if (!new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`).test(v.value) && !hasVariable(v.value) && !hasWildcard(v.value)) {
            list.add('MALFORMED_VPC_ENDPOINT_ID', v.node, v.path, `"${v.value}" is not a ${what} id (${prefix}- and 8 or 17 hex digits); it looks like a placeholder`, `The id of your ${what}, e.g. ${prefix}-0123456789abcdef0`)
          }
        }
      }
    }
  }
}

function principalValues(block: Node | undefined): Array<{ node: Node; value: string }> {
  if (!block) return []
  if (block.type === 'string') return [{ node: block, value: block.value as string }]
  if (block.type !== 'object') return []
  return properties(block).flatMap((p) => stringItems(p.value, '').map((i) => ({ node: i.node, value: p.key === 'AWS' ? i.value : `${p.key}:${i.value}` })))
}

const isAccountRoot = (v: string): boolean => /^\d{12}$/.test(v) || /^arn:[^:]+:iam::[^:]+:root$/.test(v)

/** Whether a statement's Action/NotAction covers any of the actions. */
function covers(s: Node, actions: string[]): boolean {
  const action = stringItems(prop(s, 'Action')?.value, '').map((i) => wildcardMatcher(i.value, true))
  if (action.length > 0) return actions.some((a) => action.some((re) => re.test(a)))
  const notAction = stringItems(prop(s, 'NotAction')?.value, '').map((i) => wildcardMatcher(i.value, true))
  return notAction.length > 0 && actions.some((a) => !notAction.some((re) => re.test(a)))
}

function lintStatement(s: Node, path: string, ctx: Context): void {
  const { list } = ctx
  const effect = effectOf(s)
  const principal = prop(s, 'Principal')
  const notPrincipal = prop(s, 'NotPrincipal')
  const condition = prop(s, 'Condition')?.value

  if (effect === 'Allow' && principal?.value && !condition) {
    const everyone = principalValues(principal.value).find((p) => p.value === '*')
    if (everyone) list.add('PUBLIC_ACCESS', everyone.node, `${path}.Principal`, 'This statement allows every principal, in any account and anonymous, with no condition', 'Name the principals, or add a condition such as "StringEquals": {"aws:PrincipalAccount": "111122223333"}')
  }

  if (notPrincipal && effect === 'Allow') {
    list.add('ALLOW_WITH_NOTPRINCIPAL', notPrincipal.keyNode, `${path}.NotPrincipal`, 'Allow with NotPrincipal grants the actions to everyone except those listed, anonymous users included (AWS does not support it)', 'Use "Principal" with the principals to allow')
  }

  if (notPrincipal?.value && effect === 'Deny') {
    const listed = principalValues(notPrincipal.value)
    const values = new Set(listed.map((p) => p.value))
    for (const p of listed) {
      const arn = principalArn(p.value)
      if (!arn) continue
      const role = arn.service === 'iam' && /^role\/(?:.*\/)?([^/]+)$/.exec(arn.resource)
      if (role) {
        const sessionPrefix = `arn:${arn.partition}:sts::${arn.account}:assumed-role/${role[1]}/`
        if (![...values].some((v) => v.startsWith(sessionPrefix))) {
          list.add('NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION', p.node, `${path}.NotPrincipal.AWS`,
            `NotPrincipal lists the role ${p.value} but none of its sessions (${sessionPrefix}SESSION). Callers using a role act as role sessions, and AWS exempts a session from a NotPrincipal Deny only when its session ARN, its role and its account are all listed, so this Deny also applies to the role's own sessions`,
            `Replace NotPrincipal with "Principal": {"AWS": "*"} and "Condition": {"ArnNotEquals": {"aws:PrincipalArn": ["${p.value}", "arn:${arn.partition}:iam::${arn.account}:root"]}}, or list "${sessionPrefix}SESSION-NAME" too`)
        }
      }
      const session = arn.service === 'sts' && /^assumed-role\/([^/]+)\//.exec(arn.resource)
      if (session) {
        const roleListed = [...values].some((v) => new RegExp(`^arn:${arn.partition}:iam::${arn.account}:role/(?:.*/)?${session[1].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`).test(v))
        if (!roleListed) {
          list.add('NOTPRINCIPAL_DENY_SESSION_WITHOUT_ROLE', p.node, `${path}.NotPrincipal.AWS`,
            `NotPrincipal lists the session ${p.value} but not its role (arn:${arn.partition}:iam::${arn.account}:role/${session[1]}); AWS checks the role before the session, so the Deny applies to this session too`,
            `Add "arn:${arn.partition}:iam::${arn.account}:role/${session[1]}" to NotPrincipal`)
        }
      }
      const named = arn.resource !== 'root'
      const accountListed = values.has(`arn:${arn.partition}:iam::${arn.account}:root`) || values.has(arn.account)
      if (named && !accountListed) {
        list.add('NOTPRINCIPAL_DENY_WITHOUT_ACCOUNT', p.node, `${path}.NotPrincipal.AWS`,
          `NotPrincipal lists ${p.value} but not its account (arn:${arn.partition}:iam::${arn.account}:root); AWS checks the account first, so the Deny applies to that principal too`,
          `Add "arn:${arn.partition}:iam::${arn.account}:root" to NotPrincipal, or use an aws:PrincipalArn condition instead`)
      }
    }
  }

  if (effect === 'Allow') {
    // A bare "*" is KMS's business only in a key policy; elsewhere it is every service's.
    const wildcard = stringItems(prop(s, 'Action')?.value, `${path}.Action`).find((a) => (a.value === '*' && ctx.keyPolicy) || a.value.toLowerCase() === 'kms:*')
    if (wildcard) {
      const grantees = principal?.value ? principalValues(principal.value).filter((p) => !isAccountRoot(p.value)).map((p) => p.value) : []
      const identity = ctx.kind === 'identity' && !principal && wildcard.value.toLowerCase() === 'kms:*'
      if (grantees.length > 0 || identity) {
        list.add('KMS_WILDCARD_TO_NON_ROOT', wildcard.node, wildcard.path,
          `"${wildcard.value}" gives ${identity ? 'this identity' : grantees.join(', ')} every KMS permission, key administration and cryptographic use alike, which breaks least privilege and the separation of key administrators from key users`,
          'Allow only the actions this principal needs (e.g. kms:Decrypt, or kms:Describe*/kms:Put*/… for administrators); keep kms:* for the account root')
      }
    }
  }

  if (effect === 'Deny' && condition?.type === 'object' && covers(s, DATA_KEY_ACTIONS)) {
    const allKeys = properties(condition).flatMap((op) => (op.value?.type === 'object' ? properties(op.value).map((k) => k.key.toLowerCase()) : []))
    if (!allKeys.some((k) => SERVICE_EXCEPTION_KEYS.has(k))) {
      for (const op of properties(condition)) {
        const parsed = parseOperator(op.key)
        if (!parsed || op.value?.type !== 'object') continue
        for (const k of properties(op.value)) {
          const lower = k.key.toLowerCase()
          if (lower !== 'aws:sourcevpce' && lower !== 'aws:sourcevpc') continue
          const negative = (parsed.family === 'String' && parsed.negated) ||
            (parsed.base === 'Null' && conditionValues(k.value, '').some((v) => v.value.toLowerCase() === 'true'))
          if (!negative) continue
          list.add('VPCE_DENY_BLOCKS_AWS_SERVICES', k.keyNode, `${path}.Condition.${op.key}.${k.key}`,
            `This Deny applies to data-key actions whenever a request does not come through the ${lower === 'aws:sourcevpce' ? 'VPC endpoint' : 'VPC'} named in ${k.key}. AWS services that use the key for you, such as S3 with SSE-KMS (GenerateDataKey on upload, Decrypt on download), call KMS from their own network, not through your endpoint, so those uploads and downloads are denied too`,
            'Exempt calls made by AWS services: add "Bool": {"aws:ViaAWSService": "false"} to this Condition, or a "StringNotLike": {"kms:ViaService": "s3.*.amazonaws.com"} exception')
        }
      }
    }
  }
}
