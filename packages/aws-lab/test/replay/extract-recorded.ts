// Refreshes recorded.json — the answers AWS gave, as LocalStack's snapshot files record them — for
// the tests requests.yaml replays. Run with a clone of localstack/localstack (its git directory):
//   pnpm exec tsx test/replay/extract-recorded.ts /path/to/localstack/.git
// Only the recorded data is taken (the snapshots' `recorded-content`), never LocalStack's code.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import type { Recorded, ReplayCase } from './replay.js'

const here = dirname(fileURLToPath(import.meta.url))
const gitDir = process.argv[2]
if (!gitDir) throw new Error('usage: extract-recorded.ts <localstack git directory>')
const git = (...args: string[]) => execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })

const corpus = parse(readFileSync(join(here, 'requests.yaml'), 'utf8')) as { cases: Record<string, ReplayCase>; unreplayed: Record<string, string> }
const commit = git('rev-parse', 'HEAD').trim()
const snapshots = new Map<string, Record<string, { 'recorded-date': string; 'recorded-content': Record<string, unknown> }>>()
const tests: Record<string, Recorded> = {}
for (const test of [...Object.values(corpus.cases).map((c) => c.test), ...Object.keys(corpus.unreplayed)]) {
  const file = `${test.split('::')[0].replace(/\.py$/, '')}.snapshot.json`
  if (!snapshots.has(file)) snapshots.set(file, JSON.parse(git('show', `HEAD:${file}`)))
  const entry = snapshots.get(file)![test]
  if (!entry) throw new Error(`${file} has no recording of ${test}`)
  tests[test] = { file, recordedDate: entry['recorded-date'], content: entry['recorded-content'] }
}
const out = { source: { repository: 'https://github.com/localstack/localstack', commit }, tests }
writeFileSync(join(here, 'recorded.json'), `${JSON.stringify(out, null, 2)}\n`)
console.log(`recorded.json: ${Object.keys(tests).length} tests from localstack/localstack@${commit.slice(0, 12)}`)
