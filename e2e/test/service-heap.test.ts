// The streaming services' young-generation cap and old-generation headroom (README "Benchmark"). On Node 24 (V8 13.6)
// the young generation may grow to 64 MiB a semi-space, so the short-lived 64 KiB Buffers of a body in transit are left
// to full mark-compacts of the whole heap instead of scavenges; and V8 starts marking the whole heap whenever the old
// generation's headroom is smaller than the young generation's capacity, which a ~30 MB live heap whose limit shrank
// (seen at 9 MB of headroom) reaches after every few MB. Both cost three times the CPU per GiB in upload and download
// and 50–70 MiB more RSS. Their start scripts (which the images, compose, pnpm start and the bench run) set both; this
// runs this Node with each start script's options on a stand-in for a body in transit and counts the collections.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './compose-helpers.js'

/** A live heap of ~30 MB (a service's modules and state), then 512 MiB of 64 KiB Buffers, 16 in flight at a time; prints the GC counts. */
const BODY_IN_TRANSIT = `
const { PerformanceObserver, constants: c } = require('node:perf_hooks')
const live = Array.from({ length: 300000 }, (_, i) => ({ i, s: 'k' + i, a: [i] }))
const counts = { minor: 0, major: 0 }
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (e.detail.kind === c.NODE_PERFORMANCE_GC_MAJOR) counts.major++
    else if (e.detail.kind === c.NODE_PERFORMANCE_GC_MINOR) counts.minor++
  }
}).observe({ entryTypes: ['gc'] })
const inFlight = []
let chunks = 0
function read() {
  for (let i = 0; i < 64; i++, chunks++) { inFlight.push(Buffer.allocUnsafe(65536)); if (inFlight.length > 16) inFlight.shift() }
  if (chunks < 8192) setImmediate(read)
  else setTimeout(() => console.log(JSON.stringify({ ...counts, live: live.length })), 50)
}
read()
`

/** The Node options of a package's start script: `node <options> dist/server.js`. */
function startOptions(dir: string): string[] {
  const start = (JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
  const m = /^node((?:\s+--\S+)*)\s+dist\/server\.js$/.exec(start)
  if (!m) throw new Error(`${dir}: start script ${JSON.stringify(start)} is not node <options> dist/server.js`)
  return m[1].split(/\s+/).filter(Boolean)
}

for (const dir of ['services/upload', 'services/download']) {
  t.test(`${dir}: as its start script runs it, the Buffers of a body in transit go by scavenges, not mark-compacts`, async (t) => {
    const options = startOptions(dir)
    // Headroom of at least the live heap (twice the live heap as the limit), so it stays above the 16 MiB young generation.
    t.ok(options.includes('--heap-growing-percent=100'), 'the old generation grows to twice the live heap')
    const out = execFileSync(process.execPath, [...options, '-e', BODY_IN_TRANSIT], { encoding: 'utf8', timeout: 60_000 })
    const { minor, major } = JSON.parse(out) as { minor: number; major: number }
    t.comment(`node ${options.join(' ')} (${process.version}): ${minor} scavenges, ${major} mark-compacts for 512 MiB`)
    // 512 MiB through a young generation of at most 16 MiB takes ~30 scavenges; a mark-compact or two is the live heap's own.
    t.ok(minor >= 8, `the Buffers are freed by scavenges (${minor}; none on Node 24 without the cap)`)
    t.ok(major <= 2, `at most the start-up mark-compacts (${major}; 4–6 on Node 24 without the cap)`)
  })
}
