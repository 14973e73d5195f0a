// Imported first by the root scripts (`pnpm start`, `pnpm dev`): on a Node older than package.json's
// `engines.node`, say so in one line, then run the same script under Node 24 LTS — the machine's own
// when it has it, else the npm registry's binary package unpacked once under .tools/
// (scripts/node-runtime.sh) — so the README's commands work on a Debian machine whose Node is 20.
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const LTS_MAJOR = 24

/** The lowest [major, minor] that package.json's engines.node (">=X.Y[.Z]") allows. */
export function minimumNode(enginesNode) {
  const m = /^>=\s*(\d+)(?:\.(\d+))?/.exec(enginesNode ?? '')
  if (!m) throw new Error(`package.json engines.node should read ">=MAJOR.MINOR", got ${JSON.stringify(enginesNode)}`)
  return [Number(m[1]), Number(m[2] ?? 0)]
}

export function isSupported(version, [major, minor]) {
  const [have, haveMinor] = version.replace(/^v/, '').split('.').map(Number)
  return have > major || (have === major && haveMinor >= minor)
}

const engines = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines?.node
const minimum = minimumNode(engines)
if (!isSupported(process.version, minimum) && !process.env.KMS_SHARE_NODE_REEXEC) {
  process.stdout.write(`Node ${process.version} is older than kms-share supports (${engines}): running on Node ${LTS_MAJOR} LTS instead (scripts/node-runtime.sh)\n`)
  let bin
  try {
    bin = execFileSync('bash', [join(root, 'scripts/node-runtime.sh'), String(LTS_MAJOR)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  } catch {
    process.stdout.write(`could not get Node ${LTS_MAJOR}: install Node ${LTS_MAJOR} LTS (https://nodejs.org) and run the command again\n`)
    process.exit(1)
  }
  // Same process group, so Ctrl-C in a terminal reaches the child directly; a signal sent to this process
  // alone (a supervisor, a test) is passed on. start.mjs stops once however many signals arrive.
  const child = spawn(join(bin, 'node'), [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, KMS_SHARE_NODE_REEXEC: '1', PATH: `${bin}:${process.env.PATH ?? ''}` },
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal))
  const [code, signal] = await new Promise((r) => child.once('exit', (c, s) => r([c, s])))
  process.exit(signal ? 1 : code ?? 1)
}
