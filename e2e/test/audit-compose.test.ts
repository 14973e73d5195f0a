// Redis and the audit worker in docker-compose.yml and scripts/start.mjs, checked against the code:
// Redis keeps an append-only file on a volume; the worker runs dist/worker.js as the auditor's
// instance with a config that validates; upload and keyadmin reach the same Redis.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadUploadConfig } from '@kms-share/upload'
import { loadConfig } from '@kms-share/keyadmin'
import { loadAuditWorkerConfig } from '@kms-share/keyadmin/audit/config'
import { compose, composeSecrets, deployedLab, envOf, root } from './compose-helpers.js'
import { readImage } from './dockerfile-helpers.js'

const { instances, withOutputs } = await deployedLab(t)
const { withSecrets } = composeSecrets(t)

t.test('redis keeps an append-only file on a named volume, with the audit\'s ACL users', async (t) => {
  const redis = compose.services.redis
  t.match(redis.image, /^redis:/)
  t.match(redis.command.join(' '), /--appendonly yes/)
  t.match(redis.command.join(' '), /--aclfile \/run\/secrets\/redis_acl/)
  t.same(redis.secrets, ['redis_acl'])
  t.ok((redis.volumes as string[]).includes('redis-data:/data'))
  t.ok('redis-data' in compose.volumes)
  t.same(redis.healthcheck.test.slice(0, 5), ['CMD', 'redis-cli', '--user', 'healthcheck', '--pass'], 'the healthcheck user (PING only): the default user is off')
})

t.test('the audit worker runs dist/worker.js as the auditor instance, and its config validates', async (t) => {
  const worker = compose.services['audit-worker']
  t.equal(readImage(worker.build.target).package, '@kms-share/keyadmin', 'its image deploys keyadmin\'s package')
  t.same(worker.command, ['node', 'dist/worker.js'])
  const env = envOf(worker)
  const config = loadAuditWorkerConfig(withSecrets(env))
  t.match(config.REDIS_URL, /^redis:\/\/kms-audit-worker:[^@]+@redis:6379$/)
  t.match(config.AUDIT_SIGNING_KEY, /BEGIN PRIVATE KEY/)
  const base = Number(compose.services.lab.environment.LAB_IMDS_PORT_BASE)
  const index = instances.findIndex((i) => i.name === 'auditor')
  t.equal(instances[index]?.role, 'kms-share-auditor')
  t.equal(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, `http://lab-imds-audit:${base + index}/`)
  t.same(worker.depends_on, { lab: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } })
  t.match(worker.healthcheck.test.join(' '), new RegExp(config.AUDIT_HEARTBEAT_FILE!.replace(/[.]/g, '\\.')))
})

t.test('upload and keyadmin reach the same Redis, each as its own user; upload does not wait for it (uploads go on without it)', async (t) => {
  t.match(loadUploadConfig(withOutputs(withSecrets(envOf(compose.services.upload)))).REDIS_URL, /^redis:\/\/kms-audit-producer:[^@]+@redis:6379$/)
  t.match(loadConfig(withSecrets(envOf(compose.services.keyadmin))).REDIS_URL, /^redis:\/\/kms-audit-reader:[^@]+@redis:6379$/)
  t.notOk(compose.services.upload.depends_on?.redis)
})

t.test('pnpm start starts redis-server when REDIS_URL is unset, and the worker as the auditor instance', async (t) => {
  const start = readFileSync(join(root, 'scripts/start.mjs'), 'utf8')
  t.match(start, /if \(env\.REDIS_URL\) \{/)
  t.match(start, /'--appendonly', 'yes'/)
  t.match(start, /no redis-server installed \(Debian: apt-get install redis-server\)/)
  t.match(start, /runNode\('audit-worker', join\(root, 'services\/keyadmin\/dist\/worker\.js'\), \{\n\s+user: worker\.user,/)
  t.match(start, /\.\.\.serviceEnv\('auditor', worker, workerSchema\), \.\.\.redisFile\(worker, 'worker'\),\n\s+AUDIT_SIGNING_KEY_FILE: worker\.secret\('audit-signing-key\.pem', audit\.signingKey\)/)
})
