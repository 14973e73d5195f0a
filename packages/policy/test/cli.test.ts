// validate-policy: findings per file, exit codes, JSON output.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runCli, type CliIo } from '../src/cli.js'

const seed = (name: string): string => fileURLToPath(new URL(`./fixtures/seed-policies/${name}`, import.meta.url))

function run(argv: string[], files: Record<string, string> = {}): { code: number; out: string; err: string } {
  let out = ''
  let err = ''
  const io: CliIo = {
    stdout: (s) => { out += s },
    stderr: (s) => { err += s },
    readFile: (p) => files[p] ?? readFileSync(p, 'utf8'),
  }
  return { code: runCli(argv, io), out, err }
}

t.test('prints each finding as file:line:column and fails on errors', async (t) => {
  const file = seed('mfa-sensitive-operations.json')
  const r = run(['--service', 'kms', '--kind', 'resource', file])
  t.equal(r.code, 1)
  const lines = r.out.trim().split('\n')
  t.equal(lines.length, 4)
  t.match(lines[2], `${file}:18:58 ERROR JSON_TRAILING_COMMA`)
  t.match(lines[3], `${file}:28:28 ERROR MALFORMED_CONDITION_KEY`)
})

t.test('a clean policy prints nothing and exits 0; warnings alone do not fail', async (t) => {
  const clean = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }] })
  t.same(run(['clean.json'], { 'clean.json': clean }), { code: 0, out: '', err: '' })
  const other = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::444455556666:root' }, Action: 'kms:Decrypt', Resource: '*' }] })
  const r = run(['--account-id', '111122223333', 'other.json'], { 'other.json': other })
  t.equal(r.code, 0)
  t.match(r.out, /WARNING CROSS_ACCOUNT_PRINCIPAL/)
})

t.test('--json gives the findings per file', async (t) => {
  const r = run(['--json', seed('default-key-policy.json'), seed('vpce-only-data-operations.json')])
  t.equal(r.code, 1)
  const parsed = JSON.parse(r.out)
  t.same(parsed[seed('default-key-policy.json')].map((f: { code: string; line: number }) => `${f.line} ${f.code}`), ['8 MALFORMED_ACCOUNT_ID'])
  t.equal(parsed[seed('vpce-only-data-operations.json')].length, 4)
})

t.test('usage errors exit 2; unreadable files fail', async (t) => {
  t.equal(run([]).code, 2)
  t.equal(run(['--kind', 'bucket', 'x.json']).code, 2)
  t.equal(run(['--bogus', 'x.json']).code, 2)
  const missing = run(['/nonexistent/policy.json'])
  t.equal(missing.code, 1)
  t.match(missing.err, /ENOENT/)
  t.equal(run(['--help']).code, 0)
})
