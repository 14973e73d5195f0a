// `pnpm bench:audit`: 1,000 uploads through the upload service with the audit producer, audited by
// the worker as its own process (`node dist/worker.js`, the auditor profile) on a private
// redis-server with the audit's ACL users (the upload as the producer, the worker signing verdicts);
// prints verdicts per second, the upload→verdict delay (p50/p99) and how many
// LookupEvents calls it took. The lab and the upload service share this process. Not a test.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { SEED_WITHOUT_STACKS, startLab } from '@kms-share/aws-lab'
import { freePort } from '@kms-share/aws-lab/testing'
import { AuditStore, quantile } from '@kms-share/keyadmin/audit/store'
import { auditVerifier, generateAuditKeys } from '@kms-share/keyadmin/audit/signature'
import { auditRedisAclFile, auditRedisUrl, formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp, createAuditProducer, loadUploadConfig } from '@kms-share/upload'

const OBJECTS = Number(process.env.BENCH_OBJECTS || 1000)
const PARALLEL = Number(process.env.BENCH_PARALLEL || 16)
const BUCKET = 'kmsworkshop-111122223333'
// keyadmin's folder (its main is dist/app.js), where the worker runs as in compose.
const KEYADMIN_DIR = fileURLToPath(new URL('..', import.meta.resolve('@kms-share/keyadmin')))
const work = mkdtempSync(join(tmpdir(), 'kms-share-bench-audit-'))
const children: ChildProcess[] = []

const fmt = (n: number | null, digits = 1) => (n === null ? 'n/a' : n.toFixed(digits))

try {
  // As before the lab deployed infra's stacks (plain HTTP, a plain bucket), so the figures stay comparable.
  const lab = await startLab({ dataDir: join(work, 'lab'), port: 0, quiet: true, seedFile: SEED_WITHOUT_STACKS })
  const redisPort = await freePort()
  const passwords = { producer: randomBytes(24).toString('base64url'), worker: randomBytes(24).toString('base64url'), reader: randomBytes(24).toString('base64url') }
  writeFileSync(join(work, 'users.acl'), auditRedisAclFile(passwords), { mode: 0o600 })
  const keys = generateAuditKeys()
  writeFileSync(join(work, 'audit-signing-key.pem'), keys.signingKey, { mode: 0o600 })
  const redisServer = spawn('/usr/bin/redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', work, '--aclfile', join(work, 'users.acl'), '--appendonly', 'yes', '--save', ''], { stdio: 'ignore' })
  children.push(redisServer)
  const at = `127.0.0.1:${redisPort}`
  const redisUrl = `redis://${at}`
  const redis = new Redis(auditRedisUrl(at, 'reader', passwords.reader), { maxRetriesPerRequest: null })
  // The server may take a moment to listen: ioredis retries; the first errors are expected.
  redis.on('error', () => {})
  await redis.ping()
  const store = new AuditStore(redis, auditVerifier(keys.verifyKey))

  const aws = (profile: string) => ({
    AWS_PROFILE: profile, AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile, AWS_CONFIG_FILE: lab.configFile,
    AWS_REGION: lab.region, AWS_ENDPOINT_URL: lab.endpoint, BUCKET, LOG_LEVEL: 'warn',
  })
  const worker = spawn(process.execPath, ['dist/worker.js'], {
    cwd: KEYADMIN_DIR,
    env: { PATH: process.env.PATH, HOME: work, ...aws('auditor'), REDIS_URL: auditRedisUrl(at, 'worker', passwords.worker), AUDIT_SIGNING_KEY_FILE: join(work, 'audit-signing-key.pem'), AUDIT_SWEEP_INTERVAL: '0', AUDIT_EVENT_LATENESS_SECONDS: '5' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  children.push(worker)

  // Uploads carry an upload-scope token, as production's callers do.
  const token = generateToken('upload')
  const uploadConfig = loadUploadConfig({ ...aws('uploader'), KMS_KEY_ID: 'alias/ImportedCMK', PORT: '0', REDIS_URL: auditRedisUrl(at, 'producer', passwords.producer), AUTH_TOKENS: formatTokenEntry('bench', ['upload'], hashToken(token)) })
  const audit = createAuditProducer(uploadConfig)!
  const upload = await buildApp(uploadConfig, { onUploaded: audit.onUploaded })
  await upload.listen({ host: '127.0.0.1', port: 0 })
  const uploadUrl = `http://127.0.0.1:${(upload.server.address() as { port: number }).port}`
  console.log(`lab ${lab.endpoint} · upload ${uploadUrl} · redis ${redisUrl} · worker pid ${worker.pid} · ${OBJECTS} objects, ${PARALLEL} uploads at a time`)

  const started = Date.now()
  let next = 0
  let queued = 0
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < OBJECTS) {
      const i = next++
      const r = await fetch(`${uploadUrl}/files/bench/object-${String(i).padStart(5, '0')}.txt`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: `object ${i}\n` })
      const body = (await r.json()) as { audit?: string }
      if (r.status !== 201) throw new Error(`upload ${i}: HTTP ${r.status}`)
      if (body.audit === 'queued') queued++
    }
  }))
  const uploadsDone = Date.now()
  console.log(`uploads: ${OBJECTS} in ${fmt((uploadsDone - started) / 1000, 2)} s (${fmt(OBJECTS / ((uploadsDone - started) / 1000))} /s), audit queued for ${queued}`)

  let summary = await store.summary()
  const deadline = Date.now() + 10 * 60_000
  while (summary.total < OBJECTS && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200))
    summary = await store.summary()
  }
  const page = await store.list({ limit: OBJECTS })
  const signed = page.items.flatMap((r) => (r.signature === 'valid' ? [r] : []))
  if (signed.length !== page.items.length) throw new Error(`${page.items.length - signed.length} verdicts failed their signature check`)
  const verdictTimes = signed.map((r) => Date.parse(r.verdictAt))
  const delays = signed.map((r) => (Date.parse(r.verdictAt) - Date.parse(r.uploadedAt)) / 1000)
  const lastVerdict = Math.max(...verdictTimes)
  const firstVerdict = Math.min(...verdictTimes)
  const stats = await store.stats()
  console.log(`verdicts: ${summary.total} (${Object.entries(summary.byVerdict).map(([k, v]) => `${k} ${v}`).join(', ')})`)
  console.log(`verdicts/s: ${fmt(summary.total / ((lastVerdict - started) / 1000))} from the first upload to the last verdict; ${fmt(summary.total / Math.max(0.001, (lastVerdict - firstVerdict) / 1000))} between the first and last verdict`)
  console.log(`upload→verdict delay: p50 ${fmt(quantile(delays, 0.5), 2)} s, p99 ${fmt(quantile(delays, 0.99), 2)} s, max ${fmt(Math.max(...delays), 2)} s`)
  console.log(`LookupEvents: ${stats.lookup_calls ?? 0} calls (${fmt((stats.lookup_calls ?? 0) / ((lastVerdict - started) / 1000), 2)} /s, limit 2 /s), ${stats.lookup_throttles ?? 0} throttled; ${fmt(summary.total / Math.max(1, stats.lookup_calls ?? 0))} verdicts per call`)

  await upload.close()
  await audit.producer.close()
  worker.kill('SIGTERM')
  await new Promise((r) => worker.once('exit', r))
  redis.disconnect()
  await lab.close()
} catch (err) {
  console.error('bench failed:', err)
  process.exitCode = 1
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 300))
  rmSync(work, { recursive: true, force: true })
}
