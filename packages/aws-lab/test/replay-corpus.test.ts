// The replay corpus: answers AWS gave to KMS, STS, EC2 and S3 (SSE-KMS) requests, as LocalStack's
// snapshot files record them (test/replay/recorded.json, each with its snapshot file and test named),
// replayed against one lab with the AWS SDK v3 (test/replay/requests.yaml). Status, error code,
// message and shape must match after ids, ARNs and dates are normalised as the snapshots' transformers
// do; the pairs that still differ are listed with their reason, and the lab README says N of M.
// https://github.com/localstack/localstack/tree/main/tests/aws/services
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { startTestLab } from './helpers/lab.js'
import { type PairResult, type Recorded, type ReplayCase, replayCase } from './replay/replay.js'

const here = dirname(fileURLToPath(import.meta.url))
const corpus = parse(readFileSync(join(here, 'replay/requests.yaml'), 'utf8')) as {
  cases: Record<string, ReplayCase>
  unreplayed: Record<string, string>
  differences: Record<string, string> | null
}
const recorded = JSON.parse(readFileSync(join(here, 'replay/recorded.json'), 'utf8')) as { tests: Record<string, Recorded> }
const differences = corpus.differences ?? {}
const SECONDARY_REGION = 'us-west-2'

const lab = await startTestLab(t, { vpcEndpointPendingMs: 0 })
const target = { endpoint: lab.endpoint, region: lab.region, accountId: lab.accountId, secondaryRegion: SECONDARY_REGION, clientConfig: (profile: string, overrides?: Record<string, unknown>) => lab.clientConfig(profile, overrides) }

const results: PairResult[] = []
// A few cases at a time: each is a handful of calls, and the lab takes them side by side.
const queue = Object.entries(corpus.cases)
await Promise.all(Array.from({ length: 4 }, async () => {
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [id, c] = next
    results.push(...await replayCase(id, c, recorded.tests[c.test], target))
  }
}))
for (const [test, reason] of Object.entries(corpus.unreplayed)) {
  const short = `${test.split('/').slice(3, 4)[0]}/${test.split('::').pop()}`
  for (const key of Object.keys(recorded.tests[test].content)) results.push({ id: `${short}#${key}`, differences: [`not replayed: ${reason}`] })
}
results.sort((a, b) => a.id.localeCompare(b.id))
for (const r of results) if (r.differences.length && !r.differences[0].startsWith('not replayed')) t.comment(`differs: ${r.id}\n  ${r.differences.join('\n  ')}`)

t.test('every recorded answer the lab should give, it gives', async (t) => {
  for (const r of results.filter((r) => !Object.hasOwn(differences, r.id) && !r.differences[0]?.startsWith('not replayed'))) {
    t.same(r.differences, [], r.id)
  }
})

t.test('the listed differences still differ (delete a line here when its pair matches)', async (t) => {
  const ids = new Set(results.map((r) => r.id))
  for (const [id, reason] of Object.entries(differences)) {
    t.ok(ids.has(id), `${id} is a pair of the corpus`)
    t.not(results.find((r) => r.id === id)?.differences.length ?? 0, 0, `${id} still differs (${reason})`)
  }
})

t.test('the lab README states N of M and names every pair that differs', async (t) => {
  const readme = readFileSync(join(here, '../README.md'), 'utf8')
  const matched = results.filter((r) => r.differences.length === 0).length
  t.match(readme, `${matched} of ${results.length} recorded answers`, `README: ${matched} of ${results.length}`)
  for (const id of Object.keys(differences)) t.match(readme, id, `README names ${id}`)
  for (const test of Object.keys(corpus.unreplayed)) t.match(readme, test.split('::').pop()!.replace(/\[.*$/, ''), `README names ${test}`)
})
