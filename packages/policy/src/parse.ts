// Tolerant parsing of a policy document: every JSON syntax error and every grammar mistake, each
// with its 1-based line and column, and the normalised document whenever it can be recovered.
import { findNodeAtLocation, getLocation, parseTree, printParseErrorCode, type JSONPath, type Node, type ParseError } from 'jsonc-parser'
import { FINDING_CODES, PolicyInputError, type FindingCode } from './errors.js'
import { normalizePolicy } from './normalize.js'
import { dictionary } from './dictionary.js'
import { closest } from './catalog.js'
import type { Finding, ParseResult, PolicyDocument } from './types.js'

export const DOCUMENT_ELEMENTS = ['Version', 'Id', 'Statement'] as const
export const STATEMENT_ELEMENTS = [
  'Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition',
] as const
export const PRINCIPAL_TYPES = ['AWS', 'Service', 'Federated', 'CanonicalUser'] as const

/** Collects findings with positions computed from node offsets. */
export class FindingList {
  readonly items: Finding[] = []
  private readonly lineStarts: number[] = [0]

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1)
  }

  /** 1-based line and column of a character offset. */
  position(offset: number): { line: number; column: number } {
    let lo = 0
    let hi = this.lineStarts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.lineStarts[mid] <= offset) lo = mid
      else hi = mid - 1
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo] + 1 }
  }

  add(code: FindingCode, at: Node | number, path: string, message: string, suggestion?: string): Finding {
    const offset = typeof at === 'number' ? at : at.offset
    const f: Finding = { severity: FINDING_CODES[code].severity, code, message, path, ...this.position(offset) }
    if (suggestion !== undefined) f.suggestion = suggestion
    this.items.push(f)
    return f
  }
}

/**
 * Where a JSON path (`['Statement', 1, 'Condition', 'DateGreaterThan', 'aws:CurrentTime']`) is in a
 * policy's text: the 1-based line and column of that property's key (of the value for array items),
 * or of the text's start when the path is not there. For findings made outside validatePolicy.
 */
export function positionOf(text: string, path: JSONPath): { line: number; column: number } {
  const root = parseTree(text)
  const node = root ? findNodeAtLocation(root, path) : undefined
  const keyNode = node?.parent?.type === 'property' ? node.parent.children?.[0] : node
  return new FindingList(text).position(keyNode?.offset ?? 0)
}

/** A property of an object node: its key node and (when the parser recovered one) its value node. */
export interface Property {
  key: string
  keyNode: Node
  value?: Node
}

export function properties(obj: Node): Property[] {
  const out: Property[] = []
  for (const p of obj.children ?? []) {
    const keyNode = p.children?.[0]
    if (!keyNode || typeof keyNode.value !== 'string') continue
    out.push({ key: keyNode.value, keyNode, value: p.children?.[1] })
  }
  return out
}

/** The last property with this exact key (JSON.parse keeps the last of duplicates too). */
export function prop(obj: Node, key: string): Property | undefined {
  return properties(obj).filter((p) => p.key === key).at(-1)
}

/** The statements of a document tree with their paths (`Statement[0]`, or `Statement` for a single object). */
export function statementNodes(root: Node | undefined): Array<{ node: Node; path: string; index: number }> {
  if (root?.type !== 'object') return []
  const st = prop(root, 'Statement')?.value
  if (!st) return []
  if (st.type === 'object') return [{ node: st, path: 'Statement', index: 0 }]
  if (st.type !== 'array') return []
  return (st.children ?? []).flatMap((node, index) => (node.type === 'object' ? [{ node, path: `Statement[${index}]`, index }] : []))
}

/** A string or array-of-strings element as (node, path) pairs, skipping non-strings (reported by the grammar check). */
export function stringItems(node: Node | undefined, path: string): Array<{ node: Node; path: string; value: string }> {
  if (!node) return []
  if (node.type === 'string') return [{ node, path, value: node.value as string }]
  if (node.type !== 'array') return []
  return (node.children ?? []).flatMap((n, i) => (n.type === 'string' ? [{ node: n, path: `${path}[${i}]`, value: n.value as string }] : []))
}

// Keyed by printParseErrorCode's names: jsonc-parser's ParseErrorCode is a const enum, unusable under verbatimModuleSyntax.
const SYNTAX_MESSAGES: Record<string, string> = {
  InvalidSymbol: 'Unexpected character: JSON allows only objects, arrays, strings, numbers, true, false and null here',
  InvalidNumberFormat: 'Invalid number',
  PropertyNameExpected: 'Expected a property name in double quotes',
  ValueExpected: 'Expected a value',
  ColonExpected: 'Expected a colon after the property name',
  CommaExpected: 'Expected a comma between elements',
  CloseBraceExpected: 'Expected "}" to close the object',
  CloseBracketExpected: 'Expected "]" to close the array',
  EndOfFileExpected: 'Unexpected text after the end of the document',
  InvalidCommentToken: 'Comments are not allowed in policy documents',
  UnexpectedEndOfComment: 'Unterminated comment',
  UnexpectedEndOfString: 'Unterminated string',
  UnexpectedEndOfNumber: 'Unterminated number',
  InvalidUnicode: 'Invalid unicode escape sequence',
  InvalidEscapeCharacter: 'Invalid escape character in string',
  InvalidCharacter: 'Invalid character in string (control characters must be escaped)',
}

/** The offset of the comma when this error is a trailing comma before `]` or `}`, else -1. */
function trailingCommaOffset(text: string, e: ParseError): number {
  const code = printParseErrorCode(e.error)
  if (code !== 'ValueExpected' && code !== 'PropertyNameExpected') return -1
  const closer = text[e.offset]
  if (closer !== ']' && closer !== '}') return -1
  let i = e.offset - 1
  while (i >= 0 && /\s/.test(text[i])) i--
  return text[i] === ',' ? i : -1
}

/** `Statement[1].Principal.AWS` from jsonc-parser's path segments. */
function formatPath(path: JSONPath): string {
  return path.reduce<string>((out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg), '')
}

/** What parsePolicy found, with the tree for validatePolicy's further checks. */
export interface ParsedPolicy extends ParseResult {
  tree?: Node
  list: FindingList
}

/** Parses and grammar-checks; validate.ts builds on the tree and the finding list. */
export function parsePolicyText(text: string): ParsedPolicy {
  if (typeof text !== 'string') throw new PolicyInputError(text === null ? 'null' : typeof text)
  const list = new FindingList(text)
  const errors: ParseError[] = []
  const tree = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true, allowEmptyContent: false })
  let onlyTrailingCommas = true
  const reported = new Set<number>()
  for (const e of errors) {
    const comma = trailingCommaOffset(text, e)
    // jsonc-parser may report one spot twice (PropertyNameExpected then ValueExpected).
    if (reported.has(comma >= 0 ? comma : e.offset)) continue
    reported.add(comma >= 0 ? comma : e.offset)
    if (comma >= 0) {
      const p = list.position(comma)
      // The comma's location names the element after it; its parent is the array or object it trails.
      list.add('JSON_TRAILING_COMMA', comma, formatPath(getLocation(text, comma).path.slice(0, -1)), `Trailing comma at line ${p.line}, column ${p.column}: JSON (and AWS) do not allow a comma before "${text[e.offset]}"`, 'Remove the comma')
      continue
    }
    onlyTrailingCommas = false
    const what = SYNTAX_MESSAGES[printParseErrorCode(e.error)] ?? printParseErrorCode(e.error)
    list.add('JSON_SYNTAX_ERROR', e.offset, formatPath(getLocation(text, e.offset).path), `${what} (${printParseErrorCode(e.error)})`)
  }
  if (!tree) {
    if (errors.length === 0) list.add('JSON_SYNTAX_ERROR', 0, '', 'The policy text is empty', 'Write a JSON object with Version and Statement')
    return { findings: sortFindings(list.items), list }
  }
  checkDocument(tree, list)
  let document: PolicyDocument | undefined
  if (onlyTrailingCommas && tree.type === 'object') {
    try {
      document = normalizePolicy(nodeValue(tree))
    } catch {
      // The grammar findings above already say what is wrong.
      document = undefined
    }
  }
  return { findings: sortFindings(list.items), tree, list, ...(document ? { document } : {}) }
}

/** Parses a policy: every syntax error (with line/column), grammar findings, and the normalised document when recoverable. */
export function parsePolicy(text: string): ParseResult {
  const { findings, document } = parsePolicyText(text)
  return document ? { document, findings } : { findings }
}

/** Orders findings by position, then code, so output is stable. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort((a, b) => a.line - b.line || a.column - b.column || a.code.localeCompare(b.code) || a.path.localeCompare(b.path))
}

/** The plain value of a node (the last of duplicate keys wins, as in JSON.parse). */
function nodeValue(node: Node): unknown {
  switch (node.type) {
    case 'object': {
      const out = dictionary<unknown>()
      for (const p of properties(node)) if (p.value) out[p.key] = nodeValue(p.value)
      return out
    }
    case 'array':
      return (node.children ?? []).map(nodeValue)
    default:
      return node.value
  }
}

function typeName(node: Node): string {
  return node.type === 'property' ? 'property' : node.type
}

/** Reports duplicate and unknown keys of an object node; returns its properties. */
function checkKeys(obj: Node, path: string, allowed: readonly string[], list: FindingList): Property[] {
  const props = properties(obj)
  const seen = new Set<string>()
  for (const p of props) {
    const where = path ? `${path}.${p.key}` : p.key
    if (seen.has(p.key)) list.add('DUPLICATE_KEY', p.keyNode, where, `"${p.key}" appears more than once in this object; only the last one would count`, `Keep one "${p.key}" and merge the values into it`)
    seen.add(p.key)
    if (!allowed.includes(p.key)) {
      const near = closest(p.key, allowed)
      list.add('UNKNOWN_ELEMENT', p.keyNode, where, `"${p.key}" is not a policy element here; allowed: ${allowed.join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`, near)
    }
  }
  return props
}

function checkDocument(root: Node, list: FindingList): void {
  if (root.type !== 'object') {
    list.add('NOT_AN_OBJECT', root, '', `A policy document must be a JSON object, not ${typeName(root)}`, 'Write {"Version": "2012-10-17", "Statement": [...]}')
    return
  }
  checkKeys(root, '', DOCUMENT_ELEMENTS, list)
  const version = prop(root, 'Version')
  if (!version) {
    list.add('MISSING_VERSION', root, 'Version', 'The policy has no Version, so AWS reads it as 2008-10-17, where policy variables such as ${aws:username} are plain text', 'Add "Version": "2012-10-17"')
  } else if (version.value) {
    const v = version.value
    if (v.type !== 'string') list.add('INVALID_TYPE', v, 'Version', `Version must be a string, not ${typeName(v)}`, '"2012-10-17"')
    else if (v.value === '2008-10-17') list.add('OUTDATED_VERSION', v, 'Version', 'Version 2008-10-17 does not support policy variables', '2012-10-17')
    else if (v.value !== '2012-10-17') list.add('INVALID_VERSION', v, 'Version', `Version "${v.value}" is not a policy language version; use "2012-10-17"`, '2012-10-17')
  }
  const id = prop(root, 'Id')?.value
  if (id && id.type !== 'string') list.add('INVALID_TYPE', id, 'Id', `Id must be a string, not ${typeName(id)}`)
  const statement = prop(root, 'Statement')
  if (!statement) {
    list.add('MISSING_STATEMENT', root, 'Statement', 'The policy has no Statement', 'Add "Statement": [ { "Effect": …, "Action": …, "Resource": … } ]')
    return
  }
  const st = statement.value
  if (!st) return
  if (st.type === 'array') {
    if ((st.children ?? []).length === 0) list.add('MISSING_STATEMENT', st, 'Statement', 'Statement is an empty array: the policy has no statements', 'Add at least one statement')
    for (const [i, s] of (st.children ?? []).entries()) {
      if (s.type !== 'object') list.add('INVALID_TYPE', s, `Statement[${i}]`, `A statement must be an object, not ${typeName(s)}`)
    }
  } else if (st.type !== 'object') {
    list.add('INVALID_TYPE', st, 'Statement', `Statement must be an array of statements or one statement object, not ${typeName(st)}`)
  }
  const sids = new Map<string, string>()
  for (const { node, path } of statementNodes(root)) {
    checkStatement(node, path, list)
    const sid = prop(node, 'Sid')?.value
    if (sid?.type === 'string') {
      const first = sids.get(sid.value as string)
      if (first) list.add('DUPLICATE_SID', sid, `${path}.Sid`, `Sid "${sid.value}" is already used by ${first}; Sids must be unique within a policy`, 'Give each statement its own Sid')
      else sids.set(sid.value as string, path)
    }
  }
}

function checkStringList(node: Node | undefined, path: string, element: string, list: FindingList): void {
  if (!node) return
  if (node.type === 'string') return
  if (node.type !== 'array') {
    list.add('INVALID_TYPE', node, path, `${element} must be a string or an array of strings, not ${typeName(node)}`)
    return
  }
  const items = node.children ?? []
  if (items.length === 0) list.add('EMPTY_ARRAY', node, path, `${element} is an empty array and matches nothing`, `Name at least one value, or remove ${element}`)
  for (const [i, n] of items.entries()) {
    if (n.type !== 'string') list.add('INVALID_TYPE', n, `${path}[${i}]`, `Each ${element} entry must be a string, not ${typeName(n)}`)
  }
}

function checkPair(statement: Node, path: string, a: string, b: string, code: FindingCode, list: FindingList): void {
  const pa = prop(statement, a)
  const pb = prop(statement, b)
  if (pa && pb) list.add(code, pb.keyNode, `${path}.${b}`, `A statement cannot have both ${a} and ${b}`, `Keep either ${a} or ${b}`)
}

function checkStatement(s: Node, path: string, list: FindingList): void {
  checkKeys(s, path, STATEMENT_ELEMENTS, list)
  const sid = prop(s, 'Sid')?.value
  if (sid && sid.type !== 'string') list.add('INVALID_TYPE', sid, `${path}.Sid`, `Sid must be a string, not ${typeName(sid)}`)

  const effect = prop(s, 'Effect')
  if (!effect) list.add('MISSING_EFFECT', s, `${path}.Effect`, 'The statement has no Effect', 'Add "Effect": "Allow" or "Effect": "Deny"')
  else if (effect.value) {
    const e = effect.value
    if (e.type !== 'string') list.add('INVALID_TYPE', e, `${path}.Effect`, `Effect must be the string "Allow" or "Deny", not ${typeName(e)}`)
    else if (e.value !== 'Allow' && e.value !== 'Deny') {
      const near = closest(e.value as string, ['Allow', 'Deny'])
      list.add('INVALID_EFFECT', e, `${path}.Effect`, `Effect "${e.value}" is neither "Allow" nor "Deny" (the value is case-sensitive)`, near)
    }
  }

  checkPair(s, path, 'Action', 'NotAction', 'ACTION_AND_NOTACTION', list)
  checkPair(s, path, 'Principal', 'NotPrincipal', 'PRINCIPAL_AND_NOTPRINCIPAL', list)
  checkPair(s, path, 'Resource', 'NotResource', 'RESOURCE_AND_NOTRESOURCE', list)
  if (!prop(s, 'Action') && !prop(s, 'NotAction')) {
    list.add('MISSING_ACTION', s, `${path}.Action`, 'The statement has neither Action nor NotAction', 'Add "Action": ["service:Action", …]')
  }
  for (const element of ['Action', 'NotAction', 'Resource', 'NotResource']) {
    checkStringList(prop(s, element)?.value, `${path}.${element}`, element, list)
  }
  for (const element of ['Principal', 'NotPrincipal']) {
    const p = prop(s, element)?.value
    if (p) checkPrincipal(p, `${path}.${element}`, element, list)
  }
  const c = prop(s, 'Condition')?.value
  if (c) checkCondition(c, `${path}.Condition`, list)
}

function checkPrincipal(node: Node, path: string, element: string, list: FindingList): void {
  if (node.type === 'string') {
    if (node.value !== '*') list.add('INVALID_TYPE', node, path, `${element} must be "*" or an object such as {"AWS": "arn:aws:iam::111122223333:root"}, not the string "${node.value}"`, `{"AWS": "${node.value}"}`)
    return
  }
  if (node.type !== 'object') {
    list.add('INVALID_TYPE', node, path, `${element} must be "*" or an object such as {"AWS": […]}, not ${typeName(node)}`)
    return
  }
  const props = properties(node)
  if (props.length === 0) list.add('EMPTY_OBJECT', node, path, `${element} is an empty object and names nobody`, 'Name principals under "AWS", "Service", "Federated" or "CanonicalUser"')
  for (const p of props) checkStringList(p.value, `${path}.${p.key}`, `${element}.${p.key}`, list)
}

function checkCondition(node: Node, path: string, list: FindingList): void {
  if (node.type !== 'object') {
    list.add('INVALID_TYPE', node, path, `Condition must be an object of operators, not ${typeName(node)}`, '{"StringEquals": {"aws:PrincipalAccount": "111122223333"}}')
    return
  }
  const ops = properties(node)
  if (ops.length === 0) list.add('EMPTY_OBJECT', node, path, 'Condition is an empty object', 'Remove the empty Condition')
  for (const op of ops) {
    const opPath = `${path}.${op.key}`
    const block = op.value
    if (!block) continue
    if (block.type !== 'object') {
      list.add('INVALID_TYPE', block, opPath, `The ${op.key} block must be an object of condition keys to values, not ${typeName(block)}`)
      continue
    }
    const keys = properties(block)
    if (keys.length === 0) list.add('EMPTY_OBJECT', block, opPath, `The ${op.key} block is empty`, `Remove ${op.key} or add a condition key`)
    const seen = new Set<string>()
    for (const k of keys) {
      const keyPath = `${opPath}.${k.key}`
      if (seen.has(k.key)) list.add('DUPLICATE_KEY', k.keyNode, keyPath, `"${k.key}" appears more than once in ${op.key}; only the last one would count`, 'Merge the values into one array')
      seen.add(k.key)
      const v = k.value
      if (!v) continue
      const scalars = v.type === 'array' ? (v.children ?? []) : [v]
      if (v.type === 'array' && scalars.length === 0) list.add('EMPTY_ARRAY', v, keyPath, `The values of ${k.key} are an empty array, which never matches`, 'Give at least one value')
      for (const [i, n] of scalars.entries()) {
        if (n.type !== 'string' && n.type !== 'number' && n.type !== 'boolean') {
          list.add('INVALID_TYPE', n, v.type === 'array' ? `${keyPath}[${i}]` : keyPath, `A condition value must be a string, number or boolean, not ${typeName(n)}`)
        }
      }
    }
  }
}
