// The Dockerfile as the image tests read it: its stages, and for each runtime image (a compose
// `build.target`) the package it deploys, the build and `pnpm deploy` lines of its build stage, its
// WORKDIR, USER and CMD (inherited through `FROM <stage>` as Docker does).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './compose-helpers.js'

export interface Instruction { op: string; args: string }
export interface Stage { name: string; from: string; instructions: Instruction[] }

export interface Image {
  target: string
  /** The stage whose /deploy folder the image copies to /app. */
  buildStage: string
  /** The workspace package that stage deploys (`pnpm --filter <package> deploy …`). */
  package: string
  /** argv of the stage's `pnpm … run build` and `pnpm … deploy …` lines (after `pnpm`). */
  buildArgs: string[]
  deployArgs: string[]
  workdir?: string
  user?: string
  cmd?: string[]
}

/** Instructions with `\` continuations joined, comments and blank lines dropped, split into stages. */
export function readStages(text = readFileSync(join(root, 'Dockerfile'), 'utf8')): Map<string, Stage> {
  const stages = new Map<string, Stage>()
  let current: Stage | undefined
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    if (!line.trim() || line.trimStart().startsWith('#')) continue
    const [, op, args] = /^\s*(\w+)\s+(.*)$/.exec(line) ?? []
    if (!op) throw new Error(`Dockerfile: cannot read ${JSON.stringify(line)}`)
    if (op.toUpperCase() === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args.trim()) ?? []
      current = { name: name ?? `#${stages.size}`, from, instructions: [] }
      stages.set(current.name, current)
    } else if (current) {
      current.instructions.push({ op: op.toUpperCase(), args: args.trim() })
    }
  }
  return stages
}

/** A RUN line's words, with double quotes removed ("@kms-share/upload..." → @kms-share/upload...). */
const words = (args: string) => args.split(/\s+/).map((w) => w.replace(/^"(.*)"$/, '$1'))

/** The last value of `op` in a stage or the stages it is built FROM. */
function inherited(stages: Map<string, Stage>, name: string, op: string): string | undefined {
  for (let stage = stages.get(name); stage; stage = stages.get(stage.from)) {
    const found = stage.instructions.filter((i) => i.op === op).at(-1)
    if (found) return found.args
  }
  return undefined
}

export function readImage(target: string, stages = readStages()): Image {
  const stage = stages.get(target)
  if (!stage) throw new Error(`Dockerfile has no stage ${target}`)
  const copy = stage.instructions.find((i) => i.op === 'COPY' && /^--from=\S+ \/deploy \/app$/.test(i.args))
  if (!copy) throw new Error(`${target}: no COPY --from=<stage> /deploy /app`)
  const buildStage = /^--from=(\S+)/.exec(copy.args)![1]
  const runs = (stages.get(buildStage)?.instructions ?? []).filter((i) => i.op === 'RUN' && i.args.startsWith('pnpm ')).map((i) => words(i.args).slice(1))
  const deployArgs = runs.find((r) => r.includes('deploy'))
  const buildArgs = runs.find((r) => r.includes('build'))
  if (!deployArgs || !buildArgs) throw new Error(`${buildStage}: no pnpm build and deploy lines`)
  const pkg = deployArgs[deployArgs.indexOf('--filter') + 1]
  const cmd = inherited(stages, target, 'CMD')
  return {
    target, buildStage, package: pkg, buildArgs, deployArgs,
    workdir: inherited(stages, target, 'WORKDIR'),
    user: inherited(stages, target, 'USER'),
    cmd: cmd ? JSON.parse(cmd) as string[] : undefined,
  }
}
