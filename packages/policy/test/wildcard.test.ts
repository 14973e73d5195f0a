// Wildcards without backtracking (issue 22, row 8): `StringLike`, `ArnLike`, actions and resources
// answer in time linear in the value whatever the number of stars; the semantics are those of the
// regular expressions they replace (checked against them on random patterns); validatePolicy caps
// wildcards and value length with a finding. Operator and key names that are Object.prototype's
// own (`constructor`, `__proto__` …) are unknown names, not crashes.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
import t from 'tap'
import { evaluate } from '../src/evaluate.js'
import { normalizePolicy } from '../src/normalize.js'
import { validatePolicy } from '../src/validate.js'
import { expandAction } from '../src/catalog.js'
import { compileWildcard, MAX_PATTERN_LENGTH, MAX_PATTERN_WILDCARDS, wildcardMatcher, wildcardParts } from '../src/wildcard.js'
import { arnMatches } from '../src/match.js'
import type { EvaluationInput, RequestPrincipal } from '../src/types.js'

const ACCT = '111122223333'
const KEY = `arn:aws:kms:eu-west-1:${ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
const caller: RequestPrincipal = { arn: `arn:aws:sts::${ACCT}:assumed-role/uploader/app`, type: 'assumed-role', accountId: ACCT, roleArn: `arn:aws:iam::${ACCT}:role/uploader` }

function keyPolicyWith(condition: Record<string, Record<string, string | string[]>>, extra: Record<string, unknown> = {}) {
  return normalizePolicy({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'Starry', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: condition, ...extra },
    ],
  })
}

function input(document: ReturnType<typeof normalizePolicy>, context: Record<string, string>, resource = KEY, action = 'kms:Decrypt'): EvaluationInput {
  return {
    request: { principal: caller, action, resource, context },
    identityPolicies: [{ name: 'all', document: normalizePolicy({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }) }],
    resourcePolicy: { name: 'key policy', document },
    resourceAccount: ACCT,
    resourcePolicyRequired: true,
  }
}

/** CPU time, not wall time: on a shared machine the wall clock also counts time spent descheduled. */
function timed<T>(fn: () => T): { value: T; ms: number } {
  const start = process.cpuUsage()
  const value = fn()
  const used = process.cpuUsage(start)
  return { value, ms: (used.user + used.system) / 1_000 }
}

t.test("the issue's StringLike (13 stars, 30 characters) and worse answer in milliseconds", async (t) => {
  // The evaluator's own code warmed up first, so what is timed is the matching.
  evaluate(input(keyPolicyWith({ StringLike: { 'kms:EncryptionContext:purpose': 'warm*up' } }), { 'kms:EncryptionContext:purpose': 'warm' }))
  // Before: a regex `^a[\s\S]*a…b$`, 3.8 s for this one evaluation on this machine.
  const issue = timed(() => evaluate(input(keyPolicyWith({ StringLike: { 'kms:EncryptionContext:purpose': `${'a*'.repeat(13)}b` } }), { 'kms:EncryptionContext:purpose': 'a'.repeat(30) })))
  t.equal(issue.value.decision, 'Allowed', 'no match, so the Deny does not apply')
  t.ok(issue.ms < 50, `one evaluation in ${issue.ms.toFixed(2)} ms of CPU`)

  // At the cap, against a value 300 times longer, with `?` in every chunk (no indexOf shortcut).
  const pattern = `${'a?*'.repeat(MAX_PATTERN_WILDCARDS / 2)}b`
  const worse = timed(() => evaluate(input(keyPolicyWith({ StringLike: { 'kms:EncryptionContext:purpose': pattern } }), { 'kms:EncryptionContext:purpose': 'a'.repeat(10_000) })))
  t.equal(worse.value.decision, 'Allowed')
  t.ok(worse.ms < 50, `32 wildcards against 10,000 characters in ${worse.ms.toFixed(2)} ms`)

  // Far past the cap (evaluate still answers; validatePolicy refuses such a policy, below).
  const wild = timed(() => evaluate(input(keyPolicyWith({ StringNotLike: { 'kms:EncryptionContext:purpose': `${'*a'.repeat(500)}*b` } }), { 'kms:EncryptionContext:purpose': 'a'.repeat(5_000) })))
  t.equal(wild.value.decision, 'ExplicitlyDenied', 'StringNotLike: no match, so the Deny applies')
  t.ok(wild.ms < 200, `501 stars against 5,000 characters in ${wild.ms.toFixed(2)} ms`)

  const arn = timed(() => evaluate(input(keyPolicyWith({ ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCT}:role/${'a*'.repeat(20)}b` } }), { 'aws:PrincipalArn': `arn:aws:iam::${ACCT}:role/${'a'.repeat(2_000)}` })))
  t.equal(arn.value.decision, 'Allowed')
  t.ok(arn.ms < 50, `ArnLike with 20 stars against a 2,000-character role name in ${arn.ms.toFixed(2)} ms`)

  const resource = timed(() => evaluate(input(normalizePolicy({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'kms:*', Resource: '*' },
      { Effect: 'Deny', Principal: '*', Action: `kms:${'D*'.repeat(20)}x`, Resource: `arn:aws:kms:*:*:key/${'1*'.repeat(25)}z` },
    ],
  }), {}, `arn:aws:kms:eu-west-1:${ACCT}:key/${'1'.repeat(3_000)}`, `kms:${'D'.repeat(3_000)}`)))
  t.equal(resource.value.decision, 'Allowed')
  t.ok(resource.ms < 50, `actions and resources with 20–25 stars against 3,000 characters in ${resource.ms.toFixed(2)} ms`)
})

/** The regular expressions the matchers replace (match.ts before issue 22), as the reference semantics. */
function referenceGlob(pattern: string, ignoreCase: boolean): RegExp {
  const src = [...pattern].map((ch) => (ch === '*' ? '[\\s\\S]*' : ch === '?' ? '[\\s\\S]' : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('')
  return new RegExp(`^${src}$`, ignoreCase ? 'i' : '')
}
function referenceArn(pattern: string): RegExp {
  let src = '^'
  let part = 0
  for (const ch of pattern) {
    if (ch === '*') src += part < 5 ? '[^:]*' : '[\\s\\S]*'
    else if (ch === '?') src += part < 5 ? '[^:]' : '[\\s\\S]'
    else {
      src += (part === 2 && ch !== ':' ? ch.toLowerCase() : ch).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      if (ch === ':' && part < 5) part++
    }
  }
  return new RegExp(`${src}$`)
}

t.test('same answers as the regular expressions on random patterns and values', async (t) => {
  // A fixed-seed generator, so a failure can be replayed.
  let seed = 22
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed % n
  }
  const pick = (alphabet: string, max: number) => Array.from({ length: random(max + 1) }, () => alphabet[random(alphabet.length)]).join('')
  let globs = 0
  let arns = 0
  let matched = 0
  for (let i = 0; i < 4_000; i++) {
    const pattern = pick('ab*?A', 7)
    const value = pick('abAB', 8)
    const ignoreCase = i % 2 === 0
    const expected = referenceGlob(pattern, ignoreCase).test(value)
    if (compileWildcard(wildcardParts(pattern), ignoreCase).test(value) !== expected) {
      t.fail(`glob ${JSON.stringify(pattern)} vs ${JSON.stringify(value)}${ignoreCase ? ' (ignore case)' : ''}: expected ${expected}`)
      return
    }
    globs++
    if (expected) matched++
  }
  for (let i = 0; i < 4_000; i++) {
    const pattern = `arn:${pick('a*?:', 3)}:${pick('kK*?', 3)}:${pick('e*?:', 3)}:${pick('1*?', 3)}:${pick('k/*?:', 6)}`
    const value = `arn:${pick('a:', 3)}:${pick('k', 2)}:${pick('e:', 3)}:${pick('1', 2)}:${pick('k/:', 6)}`
    const expected = referenceArn(pattern).test(value)
    if (arnMatches(pattern, value, new Map()) !== expected) {
      t.fail(`ARN ${JSON.stringify(pattern)} vs ${JSON.stringify(value)}: expected ${expected}`)
      return
    }
    arns++
    if (expected) matched++
  }
  t.equal(globs + arns, 8_000, 'every case agrees')
  t.ok(matched > 300 && matched < 7_700, `both answers are exercised (${matched} matches)`)
})

t.test('wildcards as IAM documents them', async (t) => {
  t.ok(wildcardMatcher('kms:ReEncrypt*', true).test('kms:reencryptfrom'), 'actions ignore case')
  t.notOk(wildcardMatcher('kms:ReEncrypt?', true).test('kms:reencryptfrom'), '? is one character')
  t.ok(wildcardMatcher('a*b*c').test('abc') && wildcardMatcher('a*b*c').test('axxbyyc') && !wildcardMatcher('a*b*c').test('acb'))
  t.ok(wildcardMatcher('*').test('') && wildcardMatcher('**').test('x'), 'a star matches the empty string')
  t.notOk(wildcardMatcher('ab*ba').test('aba'), 'head and tail may not overlap')
  t.same(expandAction('kms:ReEncrypt*').sort(), ['kms:ReEncryptFrom', 'kms:ReEncryptTo'])
  // ${*} is a literal star: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-specialchars
  const literalStar = keyPolicyWith({ StringLike: { 'kms:EncryptionContext:purpose': 'a${*}b' } })
  t.equal(evaluate(input(literalStar, { 'kms:EncryptionContext:purpose': 'a*b' })).decision, 'ExplicitlyDenied', '${*} matches a star')
  t.equal(evaluate(input(literalStar, { 'kms:EncryptionContext:purpose': 'axb' })).decision, 'Allowed', '${*} is not a wildcard')
  const arnPart = `arn:aws:s3:::bucket/*`
  t.ok(arnMatches(arnPart, 'arn:aws:s3:::bucket/a:b/c', new Map()), 'in the resource part a star crosses colons')
  t.notOk(arnMatches('arn:aws:*:eu-west-1:111122223333:key/x', 'arn:aws:kms:extra:eu-west-1:111122223333:key/x', new Map()), 'before it, a star does not')
  t.ok(arnMatches('arn:aws:KMS:*:111122223333:key/*', KEY, new Map()), 'the service part ignores case')
})

t.test('validatePolicy caps wildcards and value length with a finding at the value', async (t) => {
  const policy = (condition: unknown, action: string | string[] = 'kms:Decrypt', resource = '*') => JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: action, Resource: resource, Condition: condition }],
  }, null, 2)
  const codes = (text: string) => validatePolicy(text, { service: 'kms', accountId: ACCT }).filter((f) => f.severity === 'ERROR').map((f) => `${f.code} ${f.path}`)
  const atCap = `${'a*'.repeat(MAX_PATTERN_WILDCARDS)}`
  t.same(codes(policy({ StringLike: { 'kms:EncryptionContext:purpose': atCap } })), [], `${MAX_PATTERN_WILDCARDS} wildcards are accepted`)
  t.same(codes(policy({ StringLike: { 'kms:EncryptionContext:purpose': `${atCap}?` } })), ['WILDCARD_PATTERN_TOO_COMPLEX Statement[0].Condition.StringLike.kms:EncryptionContext:purpose'])
  t.same(codes(policy({ ArnLike: { 'aws:PrincipalArn': [`arn:aws:iam::${ACCT}:role/x`, `arn:aws:iam::${ACCT}:role/${'*x'.repeat(40)}`] } })), ['WILDCARD_PATTERN_TOO_COMPLEX Statement[0].Condition.ArnLike.aws:PrincipalArn[1]'])
  t.same(codes(policy({ StringEquals: { 'kms:EncryptionContext:purpose': '*'.repeat(40) } })), [], 'StringEquals compares stars literally: no wildcard cap')
  t.same(codes(policy({ StringEquals: { 'kms:EncryptionContext:purpose': 'x'.repeat(MAX_PATTERN_LENGTH + 1) } })), ['POLICY_VALUE_TOO_LONG Statement[0].Condition.StringEquals.kms:EncryptionContext:purpose'])
  t.same(codes(policy(undefined, `kms:${'*'.repeat(33)}`)), ['WILDCARD_PATTERN_TOO_COMPLEX Statement[0].Action'])
  t.same(codes(policy(undefined, 'kms:Decrypt', `arn:aws:kms:*:${ACCT}:key/${'?'.repeat(40)}`)), ['WILDCARD_PATTERN_TOO_COMPLEX Statement[0].Resource'])
  const finding = validatePolicy(policy({ StringLike: { 'kms:EncryptionContext:purpose': `${atCap}?` } }), { service: 'kms' }).find((f) => f.code === 'WILDCARD_PATTERN_TOO_COMPLEX')!
  t.match(finding.message, /has 33 wildcards \(\* and \?\); kms-share accepts at most 32/)
  t.equal(finding.line, 13, 'reported at the value')
})

t.test("Object.prototype's names as operators, keys and principal types are unknown names, not crashes", async (t) => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'prototype', 'valueOf']) {
    // JSON.parse makes "__proto__" an own key, as a policy sent over the wire would.
    const raw = JSON.parse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${ACCT}:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"*","${name}":["x"]},"Action":"kms:*","Resource":"*","Condition":{"${name}":{"${name}":"x"}}}]}`)
    const document = normalizePolicy(raw)
    t.equal(Object.getPrototypeOf(document.Statement[1].Condition), null, `${name}: conditions have no prototype`)
    const result = evaluate(input(document, { [name]: 'x' }))
    t.equal(result.decision, 'Allowed', `${name}: an unknown operator makes the Deny not apply`)
    t.match(result.explanation.join('\n'), /unknown condition operator/)
    const findings = validatePolicy(JSON.stringify(raw), { service: 'kms' })
    t.ok(findings.some((f) => f.code === 'UNKNOWN_CONDITION_OPERATOR'), `${name}: reported as an unknown operator`)
    t.ok(findings.some((f) => f.code === 'UNKNOWN_PRINCIPAL_TYPE'), `${name}: reported as an unknown principal type`)
  }
})
