#!/usr/bin/env node
// `pnpm dev`: the stack of `pnpm start`, rebuilt and restarted whenever a source file changes.
// Node's own watch mode restarts start.mjs (which stops every child cleanly on SIGTERM, then
// rebuilds through turbo — only what changed — and starts the stack again). Only sources are
// watched, never dist/, so a build does not trigger another restart. The lab's data folder is
// kept across restarts, as with `pnpm start`.
import './ensure-node.mjs'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const watched = ['packages', 'services']
  .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
  .flatMap((pkg) => ['src', 'page', 'seed'].map((dir) => join(pkg, dir)))
  .filter((dir) => existsSync(dir))

const child = spawn(process.execPath, [
  ...watched.map((dir) => `--watch-path=${dir}`),
  '--watch-preserve-output',
  join(root, 'scripts/start.mjs'),
  ...process.argv.slice(2),
], { stdio: 'inherit', env: process.env })
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 0))
