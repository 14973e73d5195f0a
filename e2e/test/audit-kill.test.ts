// The worker process killed (SIGKILL) in the middle of its jobs: their locks expire, another
// worker's stalled-job check puts them back, and each object still ends with exactly one verdict.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Redis } from 'ioredis'
import { AUDIT_RESULTS_PREFIX } from '@kms-share/shared'
import { BUCKET, eventually, labEnv, startRedis, startTestLab, startUpload, startWorker } from './audit-helpers.js'

// keyadmin's folder (its main is dist/app.js): the child runs dist/worker.js there, as compose does.
const keyadminDir = fileURLToPath(new URL('..', import.meta.resolve('@kms-share/keyadmin')))

t.test('a killed worker loses no job and doubles no verdict', async (t) => {
  const lab = await startTestLab(t)
  const redis = await startRedis(t)
  const upload = await startUpload(t, lab, redis)
  const keys = Array.from({ length: 20 }, (_, i) => `killed/object-${i}.txt`)
  for (const key of keys) t.equal((await upload.put(key, key)).json.audit, 'queued')

  // Hold the LookupEvents slot, so the first worker's jobs all wait inside their processing.
  const control = new Redis(redis.url)
  t.teardown(() => control.disconnect())
  await control.set(`${AUDIT_RESULTS_PREFIX}:lookup-slot`, 'held by the test', 'PX', 60_000)

  // As a deployment gives them: the Redis URL (it holds a password) and the signing key in files, not in the environment.
  // Not t.testdir(): a second call in the same test empties the first (the lab's folder).
  const secrets = mkdtempSync(join(tmpdir(), 'kms-audit-worker-'))
  t.teardown(() => rmSync(secrets, { recursive: true, force: true }))
  writeFileSync(join(secrets, 'redis-url'), redis.urls.worker, { mode: 0o600 })
  writeFileSync(join(secrets, 'audit-signing-key.pem'), redis.keys.signingKey, { mode: 0o600 })
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_'))),
    ...labEnv(lab, 'auditor', { REDIS_URL_FILE: join(secrets, 'redis-url'), AUDIT_SIGNING_KEY_FILE: join(secrets, 'audit-signing-key.pem'), AUDIT_LOCK_MS: '2000', AUDIT_STALLED_INTERVAL_MS: '1000', AUDIT_SWEEP_INTERVAL: '0', LOG_LEVEL: 'info' }),
  }
  const child = spawn(process.execPath, ['dist/worker.js'], { cwd: keyadminDir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  const { queue } = await startWorker(t, lab, redis, { AUDIT_CONCURRENCY: '1' }).then(async (w) => {
    // Only the child works until it is killed: this one waits.
    await w.worker.pause(true)
    return w
  })
  const active = await eventually(async () => {
    const n = await queue.getActiveCount()
    return n === keys.length ? n : undefined
  }, `the child worker to hold all jobs (${output.slice(-500)})`, 30_000)
  t.equal(active, keys.length, 'all 20 jobs are in the middle of processing')
  child.kill('SIGKILL')
  await exited
  t.match(output, /audit worker started/)

  await control.del(`${AUDIT_RESULTS_PREFIX}:lookup-slot`)
  const second = await startWorker(t, lab, redis)
  const records = await eventually(async () => {
    const found = await Promise.all(keys.map((key) => second.store.getVerdict(BUCKET, key)))
    return found.every(Boolean) ? found : undefined
  }, '20 verdicts', 60_000)
  t.same(records.map((r) => r!.verdict), keys.map(() => 'VERIFIED'))
  t.ok(second.log.lines.some((l) => /stalled/.test(String(l.msg))), 'the jobs came back through the stalled-job check')
  const summary = await second.store.summary()
  t.equal(summary.total, keys.length, 'one verdict per object')
  t.equal(await queue.getFailedCount(), 0)
  t.equal(await queue.getCompletedCount(), keys.length)
})
