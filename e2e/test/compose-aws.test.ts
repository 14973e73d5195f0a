// docker-compose.aws.yml: a service's container on an EC2 instance against AWS itself. The same images as
// docker-compose.yml; no lab, no endpoint variable, no metadata endpoint (the SDK asks the host's
// 169.254.169.254 through the container's default bridge network), no profile or keys; each service's
// settings from the env file the compute stack's boot script writes; and with such a file the service's
// own config validation passes.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import type { TObject } from 'typebox'
import { loadConfig } from '@kms-share/shared'
import { UploadConfigSchema } from '@kms-share/upload'
import { DownloadConfigSchema } from '@kms-share/download'
import { loadConfig as loadKeyadminConfig } from '@kms-share/keyadmin'
import { loadAuditWorkerConfig } from '@kms-share/keyadmin/audit/config'
import { compose, envOf, interpolate, root } from './compose-helpers.js'

// merge: the file's services share one x-hardening block through YAML merge keys (<<), as compose reads them.
const aws = parse(readFileSync(join(root, 'docker-compose.aws.yml'), 'utf8'), { merge: true }) as { services: Record<string, any> }
const duty: Record<string, string> = { 'upload': 'upload', 'download': 'download', 'keyadmin': 'keyadmin', 'audit-worker': 'audit' }

const { privateKey, publicKey } = generateKeyPairSync('ed25519')
const auditKeys = { sign: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), verify: publicKey.export({ type: 'spki', format: 'pem' }).toString() }

/** What the boot script's env file holds for a service (src/user-data.ts in infra): plain settings, secrets, Redis. */
const bootEnv: Record<string, Record<string, string>> = {
  upload: { AWS_REGION: 'eu-west-1', BUCKET: 'kmsworkshop-123456789012', KMS_KEY_ID: 'arn:aws:kms:eu-west-1:123456789012:key/0b5ef7d1-6c2b-4f7e-9f40-6a3c1d2e4f50', AUTH_TOKENS: `ci:upload:${'a'.repeat(64)}`, SESSION_SECRET: 's'.repeat(48), REDIS_URL: 'rediss://:p@master.kms-share.abc.euw1.cache.amazonaws.com:6379', DOWNLOAD_PUBLIC_URL: 'https://download.share.example.com' },
  download: { AWS_REGION: 'eu-west-1', BUCKET: 'kmsworkshop-123456789012', AUTH_TOKENS: `ci:download:${'b'.repeat(64)}`, SESSION_SECRET: 's'.repeat(48), UPLOAD_PUBLIC_URL: 'https://upload.share.example.com' },
  keyadmin: { AWS_REGION: 'eu-west-1', BUCKET: 'kmsworkshop-123456789012', AUTH_TOKENS: `ops:keys:read+audit:read:${'c'.repeat(64)}`, SESSION_SECRET: 's'.repeat(48), REDIS_URL: 'rediss://:p@master.kms-share.abc.euw1.cache.amazonaws.com:6379', AUDIT_VERIFY_KEY: auditKeys.verify },
  audit: { AWS_REGION: 'eu-west-1', BUCKET: 'kmsworkshop-123456789012', REDIS_URL: 'rediss://:p@master.kms-share.abc.euw1.cache.amazonaws.com:6379', AUDIT_SIGNING_KEY: auditKeys.sign },
}

t.test('the four services, each from the image docker-compose.yml builds for it, and nothing of the lab', async (t) => {
  t.same(Object.keys(aws.services).sort(), Object.keys(duty).sort(), 'upload, download, keyadmin and the audit worker; no lab, no Redis (ElastiCache)')
  for (const [name, service] of Object.entries(aws.services)) {
    t.same(service.build, compose.services[name].build, `${name}: the same Dockerfile target as in docker-compose.yml`)
    t.same(service.command, compose.services[name].command, `${name}: the same command`)
    t.equal(interpolate(service.image), `kms-share/${duty[name]}:latest`, `${name}: kms-share/${duty[name]} (the stack's ECR repository name)`)
    t.equal(service.user, 'node', `${name} runs as node`)
    t.same(service.cap_drop, ['ALL'], `${name}: no capabilities`)
    t.notOk(service.depends_on, `${name} depends on nothing on the instance`)
    t.notOk(service.network_mode ?? service.networks, `${name}: the default bridge network (IMDS through the host, hop limit 2)`)
    t.notOk(service.secrets, `${name}: no compose secrets (the boot script's env file, root-only, holds them)`)
  }
})

t.test('no lab, no endpoint, no credentials: the SDK finds AWS and the instance role by itself', async (t) => {
  for (const [name, service] of Object.entries(aws.services)) {
    const env = envOf(service)
    t.same(Object.keys(env).filter((k) => k.startsWith('AWS_') || k === 'NODE_EXTRA_CA_CERTS'), [], `${name} sets no AWS_* variable and trusts no lab CA`)
    t.notMatch(JSON.stringify(service), /lab|4566|45\d\d\//, `${name} names nothing of the lab`)
    t.equal(interpolate(service.env_file), `/etc/kms-share/${duty[name]}.env`, `${name}: the boot script's env file`)
    for (const volume of service.volumes ?? []) t.notMatch(volume, /credentials|\.aws|lab/, `${name} mounts no credentials`)
  }
  t.same(aws.services.download.volumes, ['/var/cache/kms-share:/cache'], "download's cache on the instance's disk")
})

t.test('with the env file the boot script writes, each service validates its configuration', async (t) => {
  const schemas: Record<string, (env: Record<string, string>) => Record<string, unknown>> = {
    'upload': (env) => loadConfig(UploadConfigSchema as TObject, { env }),
    'download': (env) => loadConfig(DownloadConfigSchema as TObject, { env }),
    'keyadmin': (env) => loadKeyadminConfig(env),
    'audit-worker': (env) => loadAuditWorkerConfig(env),
  }
  for (const [name, service] of Object.entries(aws.services)) {
    // Compose: `environment` wins over `env_file`.
    const config = schemas[name]({ ...bootEnv[duty[name]], ...envOf(service) })
    t.notOk(config.AWS_ENDPOINT_URL, `${name}: AWS's own endpoints`)
    if (name !== 'audit-worker') {
      t.equal(config.HOST, '0.0.0.0', `${name} listens for the load balancer`)
      const port = String(config.PORT)
      t.ok((service.ports as string[]).every((p) => interpolate(p) === `0.0.0.0:${port}:${port}`), `${name} publishes its port ${port} (the security group admits the load balancer alone)`)
    }
  }
})

t.test('docker-compose config -q accepts the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kms-share-compose-aws-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const name of Object.values(duty)) writeFileSync(join(dir, `${name}.env`), 'AWS_REGION=eu-west-1\n')
  const check = spawnSync('docker-compose', ['-f', join(root, 'docker-compose.aws.yml'), 'config', '-q'], { encoding: 'utf8', env: { ...process.env, KMS_SHARE_ENV_DIR: dir } })
  if (check.error) return t.pass('docker-compose is not installed here; CI runs it')
  t.equal(check.status, 0, check.stderr)
})
