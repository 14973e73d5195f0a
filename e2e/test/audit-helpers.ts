// Audit test helpers: a real redis-server on a free port in a testdir (append-only file on, so a
// restart keeps the queue and the verdicts) with the audit's ACL users (producer, worker, reader)
// and the default user off, the lab, the upload service with the audit producer (as the producer
// user), and the audit worker as the auditor role (as the worker user, with its signing key).
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import type { Lab } from '@kms-share/aws-lab'
import { eventually, freePort, labDeployment, labProfileEnv, startTestLab } from '@kms-share/aws-lab/testing'
import { loadAuditWorkerConfig, type AuditWorkerConfig } from '@kms-share/keyadmin/audit/config'
import { createAuditWorker, type AuditLogger, type AuditWorker } from '@kms-share/keyadmin/audit/worker'
import { generateAuditKeys } from '@kms-share/keyadmin/audit/signature'
import { buildApp as buildUploadApp, createAuditProducer, loadUploadConfig } from '@kms-share/upload'
import { DeleteBucketPolicyCommand, GetBucketPolicyCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3'
import { auditRedisAclFile, auditRedisUrl, createS3Client, type AuditRedisRole } from '@kms-share/shared'
import { scopedToken } from './helpers.js'

export { eventually, freePort, startTestLab }

export const BUCKET = 'kmsworkshop-111122223333'
export const REDIS_SERVER = '/usr/bin/redis-server'

export interface TestRedis {
  /** A test-only administrator (fixtures, and a forger with Redis itself in hand); no service gets it. */
  url: string
  /** Each audit user's URL, with its password. */
  urls: Record<AuditRedisRole, string>
  /** The worker's signing key and the public key readers check with. */
  keys: { signingKey: string; verifyKey: string }
  port: number
  /** SIGTERM and wait for the exit (the append-only file is flushed). */
  stop(): Promise<void>
  /** Starts again on the same port and folder. */
  start(): Promise<void>
}

export async function startRedis(t: Test): Promise<TestRedis> {
  // Not t.testdir(): a second call in the same test wipes the first (the lab's folder).
  const dir = mkdtempSync(join(tmpdir(), 'kms-audit-redis-'))
  const port = await freePort()
  const password = () => randomBytes(24).toString('base64url')
  const passwords = { producer: password(), worker: password(), reader: password() }
  const admin = password()
  writeFileSync(join(dir, 'users.acl'), `${auditRedisAclFile(passwords)}user test-admin on >${admin} ~* &* +@all\n`, { mode: 0o600 })
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--aclfile', join(dir, 'users.acl'), '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--protected-mode', 'yes'], { stdio: 'ignore' })
    await eventually(async () => {
      const probe = new Redis({ port, host: '127.0.0.1', username: 'test-admin', password: admin, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        await probe.connect()
        return (await probe.ping()) === 'PONG'
      } catch {
        return false
      } finally {
        probe.disconnect()
      }
    }, `redis-server on port ${port}`, 10_000)
  }
  const stop = async () => {
    const c = child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => c.kill('SIGKILL'), 10_000)
      c.once('exit', () => { clearTimeout(force); resolve() })
      c.kill('SIGTERM')
    })
  }
  await start()
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const at = `127.0.0.1:${port}`
  return {
    url: `redis://test-admin:${admin}@${at}`,
    urls: { producer: auditRedisUrl(at, 'producer', passwords.producer), worker: auditRedisUrl(at, 'worker', passwords.worker), reader: auditRedisUrl(at, 'reader', passwords.reader) },
    keys: generateAuditKeys(),
    port,
    stop,
    start,
  }
}

export function labEnv(lab: Lab, profile: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...labProfileEnv(lab, profile), BUCKET, LOG_LEVEL: 'silent', ...extra }
}

/** The upload service as the uploader, with the audit producer on `redis` as its producer user, listening on a free port; `put` sends an upload-scope token. */
export async function startUpload(t: Test, lab: Lab, redis: TestRedis, extra: Record<string, string> = {}) {
  const { AUTH_TOKENS, auth } = scopedToken('upload', ['upload'])
  const config = loadUploadConfig(labEnv(lab, 'uploader', {
    KMS_KEY_ID: labDeployment(lab).keyArn, PORT: '0', REDIS_URL: redis.urls.producer, AUTH_TOKENS,
    AUDIT_ATTEMPTS: '6', AUDIT_BACKOFF_MS: '300', AUDIT_ENQUEUE_TIMEOUT_MS: '500', ...extra,
  }))
  const audit = createAuditProducer(config)!
  const app = await buildUploadApp(config, { onUploaded: audit.onUploaded })
  app.addHook('onClose', async () => audit.producer.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  return {
    app,
    url,
    async put(key: string, body: string | Buffer): Promise<{ status: number; json: any }> {
      const r = await fetch(`${url}/files/${key.split('/').map(encodeURIComponent).join('/')}`, { method: 'PUT', headers: auth, body: typeof body === 'string' ? body : new Uint8Array(body) })
      return { status: r.status, json: await r.json() }
    },
  }
}

/** Log lines kept in memory, so a test can show what the worker said when it fails. */
export function memoryLog(): AuditLogger & { lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const at = (level: string) => (obj: object, msg?: string) => { lines.push({ level, msg, ...obj }) }
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') }
}

export function workerConfig(lab: Lab, redis: TestRedis, extra: Record<string, string> = {}): AuditWorkerConfig {
  return loadAuditWorkerConfig(labEnv(lab, 'auditor', {
    REDIS_URL: redis.urls.worker,
    AUDIT_SIGNING_KEY: redis.keys.signingKey,
    AUDIT_ATTEMPTS: '6',
    AUDIT_BACKOFF_MS: '300',
    AUDIT_EVENT_LATENESS_SECONDS: '10',
    AUDIT_CLOCK_SKEW_SECONDS: '5',
    AUDIT_READERS_POLL_SECONDS: '1',
    AUDIT_LOCK_MS: '2000',
    AUDIT_STALLED_INTERVAL_MS: '1000',
    ...extra,
  }))
}

export async function startWorker(t: Test, lab: Lab, redis: TestRedis, extra: Record<string, string> = {}): Promise<AuditWorker & { log: ReturnType<typeof memoryLog> }> {
  const log = memoryLog()
  const worker = await createAuditWorker(workerConfig(lab, redis, extra), { log, manual: true })
  t.teardown(() => worker.close())
  return Object.assign(worker, { log })
}

/**
 * The deployed bucket's policy refuses puts under any key but the share's. A test of what the audit finds when that
 * happened anyway (someone with the rights lifted the policy, wrote, and put it back) lifts it for its own length:
 * removed as the admin now, put back as it was at teardown.
 */
export async function withoutBucketPolicy(t: Pick<Test, 'teardown'>, lab: Lab): Promise<void> {
  const admin = createS3Client(labProfileEnv(lab, 'admin'))
  const { Policy } = await admin.send(new GetBucketPolicyCommand({ Bucket: BUCKET }))
  await admin.send(new DeleteBucketPolicyCommand({ Bucket: BUCKET }))
  t.teardown(async () => {
    await admin.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy }))
    admin.destroy()
  })
}
