// Redis and the audit worker in docker-compose.yml and scripts/start.mjs, checked against the code:
// Redis keeps an append-only file on a volume; the worker runs dist/worker.js as the auditor's
// instance with a config that validates; upload and keyadmin reach the same Redis.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { loadUploadConfig } from '@kms-share/upload'
import { loadConfig } from '@kms-share/keyadmin'
import { loadAuditWorkerConfig } from '@kms-share/keyadmin/audit/config'

const root = fileURLToPath(new URL('../../', import.meta.url))
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, any>; volumes: Record<string, unknown> }
const seed = parse(readFileSync(join(root, 'packages/aws-lab/seed/default.yaml'), 'utf8')) as { instances: Array<{ name: string; role: string }> }
const envOf = (service: { environment?: Record<string, unknown> }): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{\w+(?::?-([^}]*))?\}/g, (_m, d: string | undefined) => d ?? '')]))

t.test('redis keeps an append-only file on a named volume', async (t) => {
  const redis = compose.services.redis
  t.match(redis.image, /^redis:/)
  t.match(redis.command.join(' '), /--appendonly yes/)
  t.ok((redis.volumes as string[]).includes('redis-data:/data'))
  t.ok('redis-data' in compose.volumes)
  t.same(redis.healthcheck.test, ['CMD', 'redis-cli', 'ping'])
})

t.test('the audit worker runs dist/worker.js as the auditor instance, and its config validates', async (t) => {
  const worker = compose.services['audit-worker']
  t.equal(worker.working_dir, '/app/services/keyadmin')
  t.same(worker.command, ['node', 'dist/worker.js'])
  const env = envOf(worker)
  const config = loadAuditWorkerConfig(env)
  t.equal(config.REDIS_URL, 'redis://redis:6379')
  const base = Number(compose.services.lab.environment.LAB_IMDS_PORT_BASE)
  const index = seed.instances.findIndex((i) => i.name === 'auditor')
  t.equal(seed.instances[index].role, 'kms-share-auditor')
  t.equal(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, `http://lab:${base + index}/`)
  t.same(worker.depends_on, { lab: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } })
  t.match(worker.healthcheck.test.join(' '), new RegExp(config.AUDIT_HEARTBEAT_FILE!.replace(/[.]/g, '\\.')))
})

t.test('upload and keyadmin reach the same Redis; upload does not wait for it (uploads go on without it)', async (t) => {
  t.equal(loadUploadConfig(envOf(compose.services.upload)).REDIS_URL, 'redis://redis:6379')
  t.equal(loadConfig(envOf(compose.services.keyadmin)).REDIS_URL, 'redis://redis:6379')
  t.notOk(compose.services.upload.depends_on?.redis)
})

t.test('pnpm start starts redis-server when REDIS_URL is unset, and the worker as the auditor instance', async (t) => {
  const start = readFileSync(join(root, 'scripts/start.mjs'), 'utf8')
  t.match(start, /let redisUrl = env\.REDIS_URL/)
  t.match(start, /'--appendonly', 'yes'/)
  t.match(start, /no redis-server installed \(Debian: apt-get install redis-server\)/)
  t.match(start, /run\('audit-worker', join\(root, 'services\/keyadmin\/dist\/worker\.js'\), \{\n\s+\.\.\.baseEnv\(\), \.\.\.serviceEnv\('auditor'\), \.\.\.redisEnv/)
})
