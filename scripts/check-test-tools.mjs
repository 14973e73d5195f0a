#!/usr/bin/env node
// Runs before `pnpm test`: the suite drives real system tools, so name each missing one and
// how to install it, in one line, before any test starts (instead of failing deep inside one).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** What the tests need, where they look for it, and why. */
const tools = [
  { name: 'redis-server', probe: () => onPath('redis-server'), apt: 'redis-server', brew: 'redis', why: 'the audit queue (BullMQ) tests start their own Redis' },
  { name: 'AWS CLI v2 (/usr/bin/aws)', probe: () => awsCliV2('/usr/bin/aws'), apt: 'awscli', brew: 'awscli', why: 'the lab fidelity tests drive the real CLI' },
  { name: 'jq', probe: () => onPath('jq'), apt: 'jq', brew: 'jq', why: "the READMEs' shell examples, which e2e/test/readme-examples.test.ts runs" },
  { name: 'curl', probe: () => onPath('curl'), apt: 'curl', brew: 'curl', why: "the READMEs' shell examples" },
  { name: 'chromium (/usr/bin/chromium)', probe: () => existsSync('/usr/bin/chromium'), apt: 'chromium', brew: '--cask chromium', why: 'the browser tests' },
]

function onPath(command) {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' })
  return found.status === 0
}

function awsCliV2(path) {
  if (!existsSync(path)) return false
  const version = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000 })
  return /aws-cli\/2\./.test(`${version.stdout}${version.stderr}`)
}

const missing = tools.filter((tool) => !tool.probe())
if (missing.length > 0) {
  const names = missing.map((tool) => `${tool.name} (${tool.why})`).join('; ')
  const apt = missing.map((tool) => tool.apt).join(' ')
  const brew = missing.map((tool) => tool.brew).join(' ')
  process.stderr.write(`pnpm test: missing ${names} — install with: sudo apt-get install -y ${apt} (Debian/Ubuntu) or brew install ${brew} (macOS), or run scripts/test-all.sh as root, which installs them\n`)
  process.exit(1)
}
