// The real entry points (a service's dist/server.js, the audit worker's dist/worker.js, the lab's
// dist/server.js) as child processes of a test: their output as it grows, whether they still run, and
// a wait that ends early, with that output, when the process exits.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { eventually } from '@kms-share/aws-lab/testing'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface ServiceProcess {
  child: ChildProcess
  output(): string
  alive(): boolean
}

export interface RunOptions {
  /** A module node loads first (`--import`), e.g. a fixture that plants a fault. */
  preload?: string
  /** How teardown stops it (default SIGTERM, a graceful stop). */
  stopSignal?: NodeJS.Signals
}

/** Runs an entry point (relative to the repository) with exactly `env` (and PATH); stopped at teardown. */
export function runService(t: { teardown(fn: () => unknown): void }, script: string, env: Record<string, string>, options: RunOptions = {}): ServiceProcess {
  let output = ''
  const args = [...(options.preload ? ['--import', options.preload] : []), join(ROOT, script)]
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.on('data', (b: Buffer) => { output += b.toString() })
  child.stderr.on('data', (b: Buffer) => { output += b.toString() })
  t.teardown(() => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill(options.stopSignal ?? 'SIGTERM')
  }))
  return { child, output: () => output, alive: () => child.exitCode === null && child.signalCode === null }
}

/** Polls `probe` until it gives a value (a probe that throws is "not yet"); a process that exits ends the wait with its output. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, service?: ServiceProcess, ms = 30_000): Promise<T> {
  return eventually(async () => {
    if (service && !service.alive()) throw new Error(`${what}: the process exited\n${service.output()}`)
    return probe().catch(() => undefined)
  }, what, ms).catch((err: Error) => { throw new Error(`${err.message}\n${service?.output() ?? ''}`) })
}
