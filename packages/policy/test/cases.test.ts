// Runs every evaluation case in test/cases/*.json (each taken from an AWS documentation page, cited in "source").
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { evaluate } from '../src/evaluate.js'
import { normalizePolicy } from '../src/normalize.js'
import type { EvaluationInput, NamedPolicy, RequestPrincipal } from '../src/types.js'

const here = dirname(fileURLToPath(import.meta.url))
const casesDir = join(here, 'cases')
const fixturesDir = join(here, 'fixtures', 'seed-policies')

interface PolicySpec {
  name: string
  /** An inline policy document (raw AWS JSON, normalised by the runner). */
  document?: unknown
  /** Or a workshop fixture, with textual replacements applied first (placeholders → 111122223333). */
  fixture?: string
  replace?: Record<string, string>
}

interface Case {
  name: string
  source: string
  principal: string | RequestPrincipal
  action: string
  resource: string
  context?: Record<string, string | string[]>
  identityPolicies?: PolicySpec[]
  resourcePolicy?: PolicySpec
  resourceAccount?: string
  resourcePolicyRequired?: boolean
  permissionsBoundary?: PolicySpec
  sessionPolicies?: PolicySpec[]
  expect: {
    decision: 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied'
    deniedBy?: string
    /** Sids (or `policy#index` when a statement has no Sid) of the deciding statements, in any order. */
    deciding?: string[]
    explanationIncludes?: string[]
  }
}

interface CaseFile {
  defaults?: Partial<Case>
  cases: Case[]
}

/** Builds the request principal from an ARN the way the lab resolves callers. */
function principalFrom(p: string | RequestPrincipal): RequestPrincipal {
  if (typeof p !== 'string') return p
  if (p === 'anonymous') return { arn: '*', type: 'anonymous', accountId: '' }
  if (p.startsWith('service:')) return { arn: p.slice(8), type: 'service', accountId: '', service: p.slice(8) }
  const m = /^arn:aws:(iam|sts)::(\d{12}):(.*)$/.exec(p)
  if (!m) throw new Error(`cannot read principal ${p}`)
  const [, , account, rest] = m
  if (rest === 'root') return { arn: p, type: 'root', accountId: account }
  if (rest.startsWith('user/')) return { arn: p, type: 'user', accountId: account }
  const session = /^assumed-role\/([^/]+)\/(.+)$/.exec(rest)
  if (session) return { arn: p, type: 'assumed-role', accountId: account, roleArn: `arn:aws:iam::${account}:role/${session[1]}` }
  throw new Error(`cannot read principal ${p}`)
}

function policyFrom(spec: PolicySpec): NamedPolicy {
  let raw: unknown = spec.document
  if (spec.fixture) {
    let text = readFileSync(join(fixturesDir, spec.fixture), 'utf8')
    for (const [from, to] of Object.entries(spec.replace ?? {})) text = text.split(from).join(to)
    raw = JSON.parse(text)
  }
  return { name: spec.name, document: normalizePolicy(raw) }
}

function inputFrom(c: Case): EvaluationInput {
  return {
    request: { principal: principalFrom(c.principal), action: c.action, resource: c.resource, context: c.context ?? {} },
    identityPolicies: (c.identityPolicies ?? []).map(policyFrom),
    resourcePolicy: c.resourcePolicy && policyFrom(c.resourcePolicy),
    resourceAccount: c.resourceAccount,
    resourcePolicyRequired: c.resourcePolicyRequired,
    permissionsBoundary: c.permissionsBoundary && policyFrom(c.permissionsBoundary),
    sessionPolicies: c.sessionPolicies?.map(policyFrom),
  }
}

const files = readdirSync(casesDir).filter((f) => f.endsWith('.json')).sort()
t.ok(files.length >= 10, 'the corpus has its case files')
let total = 0
for (const file of files) {
  const data = JSON.parse(readFileSync(join(casesDir, file), 'utf8')) as CaseFile
  t.test(file, async (t) => {
    t.ok(data.cases.length > 0, 'file has cases')
    for (const raw of data.cases) {
      total++
      const c: Case = { ...data.defaults, ...raw }
      t.test(c.name, async (t) => {
        t.match(c.source, /^https:\/\/docs\.aws\.amazon\.com\//, 'cites an AWS documentation page')
        const result = evaluate(inputFrom(c))
        t.equal(result.decision, c.expect.decision, 'decision')
        if (c.expect.deniedBy !== undefined) t.equal(result.deniedBy, c.expect.deniedBy, 'deniedBy')
        if (result.decision === 'Allowed') t.equal(result.deniedBy, undefined, 'no deniedBy when allowed')
        if (c.expect.deciding) {
          const got = result.decidingStatements.map((s) => s.sid ?? `${s.policy}#${s.statementIndex}`).sort()
          t.same(got, [...c.expect.deciding].sort(), 'deciding statements')
        }
        const text = result.explanation.join('\n')
        t.match(text, new RegExp(`Decision: ${c.expect.decision}`), 'explanation states the decision')
        for (const part of c.expect.explanationIncludes ?? []) t.ok(text.includes(part), `explanation mentions ${part}`)
      })
    }
  })
}
t.teardown(() => {
  t.comment(`${total} evaluation cases`)
})
