// The READMEs' shell examples are tests: every ```sh / ```bash block of README.md and of each
// package's README runs as written — read from the Markdown, so the two cannot drift — against one
// stack started as `pnpm start` starts it, or is marked `<!-- not-run: <reason> -->` just before it.
// Each block runs on its own (`bash` with `set -euo pipefail`, from the repository root, with only
// what a reader has: PATH, a home, and the variables `pnpm start` read), in file order, README.md
// first, the services' last; so each block defines every variable it uses, and stops at its first error.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '@kms-share/aws-lab/testing'
import { followStart } from './start-helpers.js'
import { shellBlocks, type ShellBlock } from './readme-blocks.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
// Parts 1, 4 and 5 wait for fresh MFA codes and a VPC endpoint; the whole file takes a few minutes.
t.setTimeout(900_000)

/**
 * README.md, then every package's README: the order the examples run in, each against what the previous
 * left. The services' come last, so that keyadmin's MFA example rarely waits for a fresh code after part 5's.
 */
function readmes(): string[] {
  const inFolder = (dir: string) => readdirSync(join(root, dir)).sort().map((name) => `${dir}/${name}/README.md`)
  return ['README.md', ...inFolder('packages'), 'infra/README.md', 'e2e/README.md', 'bench/README.md', ...inFolder('services')].filter((file) => existsSync(join(root, file)))
}

const examples = readmes().map((file) => ({ file, blocks: shellBlocks(readFileSync(join(root, file), 'utf8')) }))
const where = (file: string, block: ShellBlock) => `${file}:${block.line}`

t.test('every shell example runs, or says why not', async (t) => {
  t.ok(examples.some(({ blocks }) => blocks.some((b) => b.notRun === undefined)), 'there are examples to run')
  for (const { file, blocks } of examples) {
    for (const block of blocks) {
      t.notOk(block.problem, `${where(file, block)}: ${block.problem ?? (block.notRun === undefined ? 'runs' : `not run: ${block.notRun}`)}`)
      // A reader compares what they get with what the block says comes back.
      if (block.notRun === undefined) t.match(block.code, /#[^\n]*→/, `${where(file, block)} says what to expect (# → …)`)
    }
  }
  // The marker is read from the tree, not by a pattern: a reason is needed, and the comment must sit right before the fence.
  t.match(shellBlocks('<!-- not-run: needs an AWS account -->\n```sh\naws s3 ls\n```\n'), [{ notRun: 'needs an AWS account' }])
  t.match(shellBlocks('<!-- not-run: -->\n```bash\nx\n```\n'), [{ problem: /without a reason/ }])
  t.match(shellBlocks('<!-- not-run: far away -->\n\ntext\n\n```sh\nx\n```\n'), [{ notRun: undefined }])
  t.match(shellBlocks('- a step:\n\n  ```sh\n  echo nested\n  ```\n'), [{ code: 'echo nested', line: 3 }])
  t.match(shellBlocks('```console\n$ pnpm start\n```\n'), [{ problem: /fence it as sh/ }])
  // A block stops at its first error, a failing pipe's included, and an undefined variable is one.
  for (const code of ['false\necho after', 'false | cat\necho after', 'echo "$NEVER_DEFINED"\necho after', 'curl -fsS http://127.0.0.1:1/\necho after']) {
    const result = await runBlock(code, { PATH: process.env.PATH })
    t.not(result.code, 0, `${JSON.stringify(code)} fails`)
    t.notMatch(result.stdout, 'after', 'and stops there')
  }
})

t.test('the container section names every variable docker-compose.yml reads', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Containers: `docker compose up`'), readme.indexOf('### On an EC2 instance'))
  const awsSection = readme.slice(readme.indexOf('### On an EC2 instance'), readme.indexOf('## Download service'))
  for (const [compose, text] of [['docker-compose.yml', section], ['docker-compose.aws.yml', awsSection]] as const) {
    const variables = new Set([...readFileSync(join(root, compose), 'utf8').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]))
    t.ok(variables.size > 0, `${compose} reads variables`)
    // Named in code quotes, alone or with a value (`PUBLISH_ADDRESS=127.0.0.1`).
    for (const name of variables) t.match(text, new RegExp(`\`${name}[\`=]`), `README names ${name}, which ${compose} reads`)
  }
})

t.test('the runnable examples, in order, against one pnpm start', async (t) => {
  const begun = Date.now()
  const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@kms-share/e2e^...', '--output-logs=errors-only'], { cwd: root, encoding: 'utf8' })
  t.equal(build.status, 0, build.stderr)
  const dir = t.testdir()
  const stackEnv = {
    LAB_DATA_DIR: join(dir, 'lab'),
    LAB_PORT: String(await freePort()),
    UPLOAD_PORT: String(await freePort()),
    DOWNLOAD_PORT: String(await freePort()),
    KEYADMIN_PORT: String(await freePort()),
  }
  const env: NodeJS.ProcessEnv = { ...process.env, ...stackEnv, CACHE_DIR: join(dir, 'cache'), REDIS_DATA_DIR: join(dir, 'redis'), LOG_LEVEL: 'warn' }
  delete env.INIT_CWD
  const child = spawn(process.execPath, [join(root, 'scripts/start.mjs'), '--no-build'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stack = await followStart(t, child)
  if (!stack.ready) return
  t.comment(`built and started in ${((Date.now() - begun) / 1000).toFixed(1)} s`)

  // What a reader's shell holds: PATH, a home, a language, and what they gave pnpm start (its defaults otherwise).
  const home = join(dir, 'home')
  const tmp = join(dir, 'tmp')
  mkdirSync(home)
  mkdirSync(tmp)
  const readerEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: tmp, LANG: 'C.UTF-8', ...stackEnv }
  const checkout = () => ({
    untracked: spawnSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: root, encoding: 'utf8' }).stdout,
    top: readdirSync(root).sort().join('\n'),
  })
  const before = checkout()

  for (const { file, blocks } of examples) {
    const runnable = blocks.filter((b) => b.notRun === undefined && !b.problem)
    if (runnable.length === 0) continue
    await t.test(file, async (t) => {
      for (const block of runnable) {
        const started = Date.now()
        const result = await runBlock(block.code, readerEnv)
        const seconds = ((Date.now() - started) / 1000).toFixed(1)
        if (!t.equal(result.code, 0, `${where(file, block)} runs (${seconds} s)`)) {
          t.comment(`${where(file, block)} exited ${result.code}:\n${block.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`)
          return // later blocks may build on this one's effects: one failure, not a cascade
        }
      }
    })
  }

  const after = checkout()
  t.equal(after.untracked, before.untracked, 'the examples leave no new file in the checkout')
  t.equal(after.top, before.top, 'nor in the repository root (ignored files included)')
  child.kill('SIGINT')
  await stack.exited
  t.comment(`the whole run: ${((Date.now() - begun) / 1000).toFixed(1)} s`)
})

function runBlock(code: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -euo pipefail\n${code}`], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000, killSignal: 'SIGKILL' })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('close', (exit) => resolve({ code: exit, stdout, stderr }))
  })
}
