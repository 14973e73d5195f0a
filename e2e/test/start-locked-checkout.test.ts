// `pnpm start` as root from a checkout the services' users cannot reach (CI's checkout may live
// under /root, mode 0700): start.mjs runs them from a copy of what they load, with Node itself
// linked where they can run it; the cache and Redis folders, also under the 0700 folder, reach
// their users as an open folder (the cache, /proc/self/fd/3) and a working directory (Redis).
// Here the checkout is bind-mounted under a 0700 folder in a mount namespace of the stack's own.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { eventually, freePort } from '@kms-share/aws-lab/testing'
import { followStart } from './start-helpers.js'

const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '')
const asRoot = process.getuid?.() === 0
const canUnshare = asRoot && spawnSync('unshare', ['--mount', 'true']).status === 0

t.test('a 0700 checkout: the services run from a copy, as their own users, end to end', { skip: (!asRoot && 'needs root (services run as other users only then)') || (!canUnshare && 'needs unshare --mount (a mount namespace) to place the checkout under a 0700 folder') }, async (t) => {
  const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@kms-share/e2e^...', '--output-logs=errors-only'], { cwd: root, encoding: 'utf8' })
  t.equal(build.status, 0, build.stderr)
  const locked = mkdtempSync(join(tmpdir(), 'kms-share-locked-'))
  t.teardown(() => rmSync(locked, { recursive: true, force: true }))
  chmodSync(locked, 0o700)
  const repo = join(locked, 'repo')
  mkdirSync(repo)
  // Node too, as .tools/node24 inside a checkout would be.
  mkdirSync(join(locked, 'bin'))
  const node = join(locked, 'bin', 'node')
  try {
    linkSync(process.execPath, node)
  } catch {
    copyFileSync(process.execPath, node)
  }
  const [labPort, uploadPort, downloadPort, keyadminPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LAB_DATA_DIR: join(locked, 'lab'),
    CACHE_DIR: join(locked, 'cache'),
    REDIS_DATA_DIR: join(locked, 'redis'),
    LAB_PORT: String(labPort),
    UPLOAD_PORT: String(uploadPort),
    DOWNLOAD_PORT: String(downloadPort),
    KEYADMIN_PORT: String(keyadminPort),
    LAB_IMDS_PORT_BASE: '0',
    LOG_LEVEL: 'warn',
  }
  delete env.INIT_CWD
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$2" && cd "$2" && exec "$3" "$2/scripts/start.mjs" --no-build', 'sh', root, repo, node], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stack = await followStart(t, child)
  if (!stack.ready) return
  t.match(stack.output, /\[start\] the services' users cannot read .*\/repo: running them from a copy of what they load \(\d+ files linked in \d+ ms\)/, 'says it runs them from a copy')

  // Every service runs as its own user, from the copy, with Node linked where it can run it.
  const services = spawnSync('ps', ['-o', 'pid=,uid=,args=', '-u', '64511,64512,64513,64514'], { encoding: 'utf8' }).stdout.trim().split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)!).filter((m) => m[3].includes(`${tmpdir()}/kms-share-run-`))
  t.equal(services.length, 4, 'upload, download, keyadmin and the worker run from the run folder')
  for (const [, pid, uid] of services) {
    t.not(Number(uid), 0)
    t.notOk(readlinkSync(`/proc/${pid}/exe`).startsWith(locked), 'its Node is outside the 0700 folder')
  }

  const tokens = JSON.parse(readFileSync(join(locked, 'lab', 'tokens.json'), 'utf8'))
  const text = 'The KMS workshop sample file.\n'
  const put = await fetch(`http://127.0.0.1:${uploadPort}/files/SampleFile-KMS.txt`, { method: 'PUT', body: text, headers: { 'content-type': 'text/plain', 'authorization': `Bearer ${tokens.upload.token}` } })
  t.equal(put.status, 201, 'upload works')
  t.equal((await put.json()).audit, 'queued', 'and queues its audit in Redis')
  const got = await fetch(`http://127.0.0.1:${downloadPort}/files/SampleFile-KMS.txt`, { headers: { authorization: `Bearer ${tokens.download.token}` } })
  t.equal(await got.text(), text, 'download works')
  const cached = join(locked, 'cache', 'localfile-SampleFile-KMS.txt')
  t.ok(existsSync(cached), 'the cache file is in CACHE_DIR under the 0700 folder')
  t.equal(statSync(cached).uid, 64_512, "owned by the download service's user")
  const verdict = await eventually(async () => {
    const r = await fetch(`http://127.0.0.1:${keyadminPort}/audit/objects/SampleFile-KMS.txt`, { headers: { authorization: `Bearer ${tokens.keyadmin.token}` } })
    return r.status === 200 ? r.json() as Promise<unknown> : undefined
  }, 'the verdict over HTTP', 30_000)
  t.match(verdict, { verdict: 'VERIFIED', signature: 'valid' }, 'the worker audited it, keyadmin checked its signature')
  t.ok(existsSync(join(locked, 'redis', 'appendonlydir')), 'Redis keeps its file in REDIS_DATA_DIR under the 0700 folder')

  child.kill('SIGINT')
  const code = await Promise.race([stack.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))])
  t.equal(code, 0, 'SIGINT stops everything cleanly')
  if (code !== 0) t.comment(stack.output.slice(-3000))
})
