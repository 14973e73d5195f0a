// parsePolicy: every syntax error with its line and column, grammar findings, and the recovered document.
// Grammar: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
import t from 'tap'
import { parsePolicy } from '../src/parse.js'
import type { Finding } from '../src/types.js'

const brief = (f: Finding): string => `${f.line}:${f.column} ${f.code}`
const codes = (text: string): string[] => parsePolicy(text).findings.map((f) => f.code)
const doc = (statement: object | object[], extra: object = {}): string =>
  JSON.stringify({ Version: '2012-10-17', ...extra, Statement: statement }, null, 2)
const allow = { Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }

t.test('a good policy: no findings, normalised document', async (t) => {
  const r = parsePolicy(doc({ Sid: 'One', ...allow, Principal: { AWS: 'arn:aws:iam::111122223333:root' } }))
  t.same(r.findings, [])
  t.same(r.document, {
    Version: '2012-10-17',
    Statement: [{ Sid: 'One', Effect: 'Allow', Action: ['kms:Decrypt'], Resource: ['*'], Principal: { AWS: ['arn:aws:iam::111122223333:root'] } }],
  })
})

t.test('several syntax errors are all reported, each with line and column', async (t) => {
  const text = [
    '{',
    '  "Version": "2012-10-17"',        // 2: missing comma after this line
    '  "Statement": [',
    '    {',
    '      "Effect": "Allow",',
    '      "Action": ["kms:Decrypt",],', // 6: trailing comma at column 31
    '      "Resource" "*"',            // 7: missing colon
    '    }',
    '  ]',
    '}',
  ].join('\n')
  const r = parsePolicy(text)
  const syntax = r.findings.filter((f) => f.code.startsWith('JSON_'))
  t.same(syntax.map(brief), ['3:3 JSON_SYNTAX_ERROR', '6:31 JSON_TRAILING_COMMA', '7:18 JSON_SYNTAX_ERROR'])
  t.match(syntax[0].message, /comma/)
  t.equal(r.document, undefined, 'no document when errors other than trailing commas exist')
})

t.test('a trailing comma is an error, but the document is still recovered and checked', async (t) => {
  const text = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",}],\n}'
  const r = parsePolicy(text)
  t.same(r.findings.map(brief), ['3:77 JSON_TRAILING_COMMA', '3:80 JSON_TRAILING_COMMA'])
  t.same(r.findings.map((f) => f.path), ['Statement[0]', ''], 'each placed in the object it trails')
  t.ok(r.document)
  t.same(r.document?.Statement[0].Action, ['kms:Decrypt'])
  // The stray comma does not hide grammar mistakes next to it.
  const both = parsePolicy('{"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "kms:Decrypt", "Resource": "*",}]}')
  t.same(both.findings.map((f) => f.code), ['INVALID_EFFECT', 'JSON_TRAILING_COMMA'])
})

t.test('comments, empty text and non-objects', async (t) => {
  t.same(codes('{"Version": "2012-10-17", // no\n"Statement": []}'), ['JSON_SYNTAX_ERROR', 'MISSING_STATEMENT'])
  t.same(codes(''), ['JSON_SYNTAX_ERROR'])
  t.same(codes('[]'), ['NOT_AN_OBJECT'])
  t.throws(() => parsePolicy(42 as unknown as string), { code: 'POL_INVALID_INPUT', statusCode: 400 })
})

t.test('Version', async (t) => {
  t.same(codes(JSON.stringify({ Statement: [allow] })), ['MISSING_VERSION'])
  t.same(codes(doc([allow], { Version: '2008-10-17' })), ['OUTDATED_VERSION'])
  const bad = parsePolicy(doc([allow], { Version: '2012-10-18' }))
  t.same(bad.findings.map((f) => [f.code, f.severity, f.line, f.suggestion]), [['INVALID_VERSION', 'ERROR', 2, '2012-10-17']])
  t.same(codes(doc([allow], { Version: 2012 })), ['INVALID_TYPE'])
})

t.test('Statement and Effect', async (t) => {
  t.same(codes('{"Version": "2012-10-17"}'), ['MISSING_STATEMENT'])
  t.same(codes(doc([])), ['MISSING_STATEMENT'])
  t.same(codes(doc('nope' as unknown as object)), ['INVALID_TYPE'])
  t.same(codes(doc([allow, 7 as unknown as object])), ['INVALID_TYPE'])
  t.same(codes(doc({ Action: 'kms:Decrypt', Resource: '*' })), ['MISSING_EFFECT'])
  const invalid = parsePolicy(doc({ ...allow, Effect: 'allow' })).findings
  t.same(invalid.map((f) => [f.code, f.suggestion, f.path]), [['INVALID_EFFECT', 'Allow', 'Statement.Effect']])
  t.same(codes(doc({ ...allow, Effect: true })), ['INVALID_TYPE'])
  const single = parsePolicy(doc(allow))
  t.same(single.document?.Statement.length, 1, 'a single statement object is accepted')
})

t.test('Action/NotAction, Principal/NotPrincipal, Resource/NotResource', async (t) => {
  t.same(codes(doc({ ...allow, NotAction: 'kms:Encrypt' })), ['ACTION_AND_NOTACTION'])
  t.same(codes(doc({ Effect: 'Allow', Resource: '*' })), ['MISSING_ACTION'])
  const both = parsePolicy(doc({ ...allow, Principal: '*', NotPrincipal: { AWS: '*' } }))
  t.same(both.findings.map((f) => [f.code, f.path]), [['PRINCIPAL_AND_NOTPRINCIPAL', 'Statement.NotPrincipal']])
  t.equal(both.document, undefined, 'normalizePolicy refuses it too')
  t.same(codes(doc({ ...allow, NotResource: 'arn:aws:s3:::b' })), ['RESOURCE_AND_NOTRESOURCE'])
})

t.test('unknown elements, with did-you-mean', async (t) => {
  const r = parsePolicy(doc({ Effect: 'Allow', Actions: 'kms:Decrypt', Action: 'kms:Decrypt', Resource: '*' }, { Statment: [] }))
  t.same(r.findings.map((f) => [f.code, f.path, f.suggestion]), [
    ['UNKNOWN_ELEMENT', 'Statment', 'Statement'],
    ['UNKNOWN_ELEMENT', 'Statement.Actions', 'Action'],
  ])
  t.same(codes(doc({ ...allow, condition: {} })).sort(), ['UNKNOWN_ELEMENT'])
})

t.test('duplicate Sids and duplicate keys', async (t) => {
  const r = parsePolicy(doc([{ Sid: 'Same', ...allow }, { Sid: 'Same', ...allow }]))
  t.same(r.findings.map((f) => [f.code, f.path]), [['DUPLICATE_SID', 'Statement[1].Sid']])
  t.match(r.findings[0].message, /Statement\[0\]/)
  const dupKey = parsePolicy('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Action": "kms:Encrypt", "Resource": "*"}]}')
  t.same(dupKey.findings.map(brief), ['1:86 DUPLICATE_KEY'])
})

// Access Analyzer rates empty arrays and objects as suggestions (EMPTY_ARRAY_ACTION, EMPTY_OBJECT_CONDITION …):
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html
t.test('wrong value types and empty arrays', async (t) => {
  t.equal(parsePolicy(doc({ ...allow, Action: [] })).findings[0].severity, 'SUGGESTION')
  t.same(codes(doc({ ...allow, Action: 5 })), ['INVALID_TYPE'])
  t.same(codes(doc({ ...allow, Action: ['kms:Decrypt', 5] })), ['INVALID_TYPE'])
  t.same(codes(doc({ ...allow, Action: [] })), ['EMPTY_ARRAY'])
  t.same(codes(doc({ ...allow, Resource: [] })), ['EMPTY_ARRAY'])
  t.same(codes(doc({ ...allow, Sid: 1 })), ['INVALID_TYPE'])
  t.same(codes(doc({ ...allow, Principal: 'arn:aws:iam::111122223333:root' })), ['INVALID_TYPE'])
  t.same(codes(doc({ ...allow, Principal: {} })), ['EMPTY_OBJECT'])
  t.same(codes(doc({ ...allow, Principal: { AWS: [] } })), ['EMPTY_ARRAY'])
  t.same(codes(doc({ ...allow, Condition: [] })), ['INVALID_TYPE'])
  t.same(codes(doc({ ...allow, Condition: {} })), ['EMPTY_OBJECT'])
  t.same(codes(doc({ ...allow, Condition: { Bool: 'true' } })), ['INVALID_TYPE'])
  t.same(codes(doc({ ...allow, Condition: { Bool: { 'aws:SecureTransport': [] } } })), ['EMPTY_ARRAY'])
  t.same(codes(doc({ ...allow, Condition: { Bool: { 'aws:SecureTransport': { a: 1 } } } })), ['INVALID_TYPE'])
  // Numbers and booleans are fine as condition values; they become strings.
  const r = parsePolicy(doc({ ...allow, Condition: { NumericLessThan: { 'aws:MultiFactorAuthAge': 300 }, Bool: { 'aws:SecureTransport': true } } }))
  t.same(r.findings, [])
  t.same(r.document?.Statement[0].Condition, { NumericLessThan: { 'aws:MultiFactorAuthAge': ['300'] }, Bool: { 'aws:SecureTransport': ['true'] } })
})
