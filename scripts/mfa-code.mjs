#!/usr/bin/env node
// userA's current MFA code (the lab's virtual device, $LAB_DATA_DIR/mfa/userA.otpauth) for
// keyadmin's X-MFA-Code. Each code works once (as in AWS), so when this script already gave out
// the current 30-second window's code it waits for the next one instead of repeating it.
// Usage: node scripts/mfa-code.mjs        (LAB_DATA_DIR: the lab's data folder, default .lab)
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
// otpauth is keyadmin's dependency (it checks the same codes); the root has no dependencies of its own.
const { URI } = createRequire(join(root, 'services/keyadmin/package.json'))('otpauth')
const dataDir = resolve(process.env.INIT_CWD || process.cwd(), process.env.LAB_DATA_DIR || '.lab')
const uriFile = join(dataDir, 'mfa', 'userA.otpauth')
if (!existsSync(uriFile)) {
  process.stderr.write(`mfa-code: no ${uriFile} — start the stack first (pnpm start), or set LAB_DATA_DIR to its data folder\n`)
  process.exit(1)
}
const totp = URI.parse(readFileSync(uriFile, 'utf8').trim())
const lastFile = join(dataDir, 'mfa', 'userA.last-window')
const windowOf = (ms) => Math.floor(ms / 1000 / totp.period)
const last = existsSync(lastFile) ? Number(readFileSync(lastFile, 'utf8')) : -1
if (windowOf(Date.now()) <= last) {
  const nextStart = (last + 1) * totp.period * 1000
  await new Promise((r) => setTimeout(r, nextStart - Date.now() + 50))
}
const now = Date.now()
writeFileSync(lastFile, String(windowOf(now)), { mode: 0o600 })
process.stdout.write(`${totp.generate({ timestamp: now })}\n`)
