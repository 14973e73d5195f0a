// The build `pnpm start` runs, told one step at a time: turbo prints each task's block when the
// task ends (--log-order=grouped), so each block is a step done; its time is from when the last
// package it needs finished (or the build began) to its end — what the step itself took.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

/** Each workspace package's name and the workspace packages it depends on. */
export function workspaceGraph(root) {
  const dirs = ['packages', 'services'].flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
  const graph = new Map()
  for (const dir of [...dirs, join(root, 'infra'), join(root, 'e2e'), join(root, 'bench')]) {
    const file = join(dir, 'package.json')
    if (!existsSync(file)) continue
    const pkg = JSON.parse(readFileSync(file, 'utf8'))
    const deps = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }).filter(([, v]) => String(v).startsWith('workspace:')).map(([n]) => n)
    graph.set(pkg.name, deps)
  }
  return graph
}

const TASK_LINE = /^(@[\w-]+\/[\w-]+|[\w-]+):build: (.*)$/

/**
 * Builds `packages` (and what they need) through turbo, calling `step({ name, seconds, cached })` as each
 * package's build ends. Resolves `{ ok: true, seconds, steps, cached }`, or `{ ok: false, failed, output }`
 * with the failing package and its own output (the compiler's errors), nothing of turbo's frame.
 */
export function buildSteps(root, packages, step) {
  const graph = workspaceGraph(root)
  const started = Date.now()
  const doneAt = new Map()
  const cachedSteps = new Set()
  const blocks = new Map()
  let failed
  const child = spawn('pnpm', ['exec', 'turbo', 'run', 'build', ...packages.map((p) => `--filter=${p}`), '--output-logs=full', '--log-order=grouped', '--log-prefix=task', '--ui=stream'], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
  })
  const other = []
  const FAILED = /ELIFECYCLE|ERR_PNPM|Command failed|exited \(\d+\)/
  // A block is whole when the next line is not its own: only then is it known whether the step failed.
  let pending
  const settle = () => {
    if (!pending) return
    const { name, seconds, cached } = pending
    pending = undefined
    if (blocks.get(name).some((l) => FAILED.test(l))) failed ??= name
    else step({ name, seconds, cached })
  }
  const onLine = (line) => {
    const m = TASK_LINE.exec(line)
    if (!m || m[1] !== pending?.name) settle()
    if (!m) { other.push(line); return }
    const [, name, text] = m
    if (!blocks.has(name)) blocks.set(name, [])
    blocks.get(name).push(text)
    if (doneAt.has(name)) return
    const now = Date.now()
    doneAt.set(name, now)
    const cached = /^cache hit/.test(text)
    if (cached) cachedSteps.add(name)
    const since = Math.max(started, ...(graph.get(name) ?? []).map((dep) => doneAt.get(dep) ?? started))
    pending = { name, seconds: (now - since) / 1000, cached }
  }
  createInterface({ input: child.stdout }).on('line', onLine)
  createInterface({ input: child.stderr }).on('line', onLine)
  return new Promise((resolve) => {
    child.on('error', (err) => resolve({ ok: false, failed: 'turbo', output: [err.message] }))
    child.on('exit', (code) => {
      settle()
      const seconds = (Date.now() - started) / 1000
      if (code === 0) return resolve({ ok: true, seconds, steps: doneAt.size, cached: cachedSteps.size })
      const name = failed ?? 'turbo'
      const output = (blocks.get(name) ?? other).filter((l) => !/^cache (miss|bypass|hit)/.test(l))
      resolve({ ok: false, failed: name, output })
    })
  })
}
