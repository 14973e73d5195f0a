// The error catalogue: every code unique, every code documented in README.md with the right severity.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES, FINDING_CODES, PolicyInputError, PolicyInvalidError, policyInvalidError } from '../src/errors.js'
import type { Finding } from '../src/types.js'

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')
/** Rows of the README tables: `| \`CODE\` | second column | …`. */
const rows = new Map([...readme.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1], m[2].trim()]))

t.test('codes are unique across thrown errors and findings', async (t) => {
  const all = [...ERROR_CODES, ...Object.keys(FINDING_CODES)]
  t.equal(new Set(all).size, all.length)
  t.ok(ERROR_CODES.every((c) => c.startsWith('POL_')), 'thrown errors carry the POL_ prefix')
  t.notOk(Object.keys(FINDING_CODES).some((c) => c.startsWith('POL_')), 'finding codes are not thrown-error codes')
})

t.test('every code is documented in README.md, and every documented code exists', async (t) => {
  for (const [code, info] of Object.entries(FINDING_CODES)) t.equal(rows.get(code), info.severity, `${code} documented as ${info.severity}`)
  for (const code of ERROR_CODES) t.ok(rows.has(code), `${code} documented`)
  const known = new Set<string>([...ERROR_CODES, ...Object.keys(FINDING_CODES)])
  for (const code of rows.keys()) t.ok(known.has(code), `README's ${code} exists`)
})

t.test('thrown errors have their codes and statuses', async (t) => {
  const input = new PolicyInputError('number')
  t.equal(input.code, 'POL_INVALID_INPUT')
  t.equal(input.statusCode, 400)
  t.ok(input instanceof TypeError)
  t.match(input.message, /got number/)
  const finding: Finding = { severity: 'ERROR', code: 'UNKNOWN_ACTION', message: 'kms has no action "Decrpyt"', path: 'Statement[0].Action', line: 9, column: 17 }
  const warning: Finding = { ...finding, severity: 'WARNING', code: 'CROSS_ACCOUNT_PRINCIPAL' }
  const invalid = policyInvalidError([warning, finding])
  t.ok(invalid instanceof PolicyInvalidError)
  t.equal(invalid.code, 'POL_INVALID_POLICY')
  t.equal(invalid.statusCode, 400)
  t.match(invalid.message, /1 error\(s\); first: UNKNOWN_ACTION at line 9, column 17/)
  t.same(invalid.findings, [warning, finding])
})
