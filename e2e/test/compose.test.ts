// docker-compose.yml against the code: each service's command is its package's start script,
// every variable it sets exists in its config schema, the required ones are set, and the
// whole environment passes the service's own config validation; each service runs as its own
// lab instance (metadata endpoint only, no credentials, no lab volume).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import type { TObject } from 'typebox'
import { loadConfig } from '@kms-share/shared'
import { UploadConfigSchema } from '@kms-share/upload'
import { DownloadConfigSchema } from '@kms-share/download'

const root = fileURLToPath(new URL('../../', import.meta.url))
const composeText = readFileSync(join(root, 'docker-compose.yml'), 'utf8')
const compose = parse(composeText) as { services: Record<string, any>; volumes?: Record<string, unknown> }

const schemas: Record<string, TObject> = { upload: UploadConfigSchema, download: DownloadConfigSchema }
const packageDirs: Record<string, string> = { lab: 'packages/aws-lab', upload: 'services/upload', download: 'services/download' }
/** The lab instance each service runs as (packages/aws-lab/seed/default.yaml `instances`). */
const instanceOf: Record<string, { name: string; role: string }> = { upload: { name: 'uploader', role: 'kms-share-uploader' }, download: { name: 'downloader', role: 'kms-share-downloader' } }
const seed = parse(readFileSync(join(root, 'packages/aws-lab/seed/default.yaml'), 'utf8')) as { instances: Array<{ name: string; id: string; role: string }> }

function envOf(service: any): Record<string, string> {
  const env = service.environment ?? {}
  if (Array.isArray(env)) return Object.fromEntries(env.map((e: string) => e.split(/=(.*)/s).slice(0, 2)))
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v))]))
}

/** Compose's ${NAME:-default} with NAME unset, as a fresh checkout runs it. */
function interpolate(value: string): string {
  return value.replace(/\$\{\w+(?::?-([^}]*))?\}/g, (_match, fallback: string | undefined) => fallback ?? '')
}

/** The container path a volume entry mounts, keyed by volume name. */
function mounts(service: any): Record<string, string> {
  return Object.fromEntries((service.volumes ?? []).map((v: string) => {
    const [name, path] = v.split(':')
    return [name, path]
  }))
}

t.test('the stack has lab, upload and download, each with a healthcheck', async (t) => {
  // keyadmin's entry is checked against its own schema in compose-keyadmin.test.ts.
  t.same(Object.keys(compose.services).sort(), ['audit-worker', 'download', 'keyadmin', 'lab', 'redis', 'upload'])
  for (const [name, service] of Object.entries(compose.services)) {
    t.ok(service.healthcheck?.test, `${name} has a healthcheck`)
  }
  t.ok(compose.volumes && 'lab-data' in compose.volumes && 'download-cache' in compose.volumes, 'named volumes for lab data and cache')
})

t.test("each command is the package's start script, run in the package folder", async (t) => {
  for (const [name, dir] of Object.entries(packageDirs)) {
    const service = compose.services[name]
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'))
    t.equal(service.working_dir, posix.join('/app', dir), `${name} runs in /app/${dir}`)
    const command = Array.isArray(service.command) ? service.command.join(' ') : service.command
    t.equal(command, pkg.scripts.start, `${name}: command = "${pkg.scripts.start}"`)
  }
})

t.test('service environments match their config schemas', async (t) => {
  for (const [name, schema] of Object.entries(schemas)) {
    const env = envOf(compose.services[name])
    const properties = Object.keys(schema.properties)
    for (const variable of Object.keys(env)) t.ok(properties.includes(variable), `${name}: ${variable} is in its config schema`)
    const required = (schema.required ?? []).filter((p: string) => (schema.properties[p] as { default?: unknown }).default === undefined)
    t.ok(required.length > 0, `${name} has required variables`)
    for (const variable of required) t.ok(variable in env, `${name}: required ${variable} is set`)
    const config = loadConfig(schema, { env }) as Record<string, unknown>
    t.equal(config.HOST, '0.0.0.0', `${name} listens on all interfaces inside its container`)
    t.equal(config.AWS_ENDPOINT_URL, 'https://lab:4566', `${name} reaches the lab by its service name, over HTTPS`)
    t.equal(env.NODE_EXTRA_CA_CERTS, `${mounts(compose.services[name])['lab-ca']}/ca.pem`, `${name} trusts the lab's CA from the lab-ca volume`)
    t.ok(compose.services[name].volumes.includes(`lab-ca:${mounts(compose.services[name])['lab-ca']}:ro`), `${name} mounts the CA read-only`)
    for (const variable of ['AUTH_TOKENS', 'SESSION_SECRET', 'OIDC_ISSUER', 'OIDC_AUDIENCE']) t.ok(variable in env, `${name}: ${variable} can be set from the shell`)
  }
})

t.test("each service reaches its own instance's metadata and nothing of the lab's", async (t) => {
  const lab = compose.services.lab
  const labEnv = envOf(lab)
  t.equal(labEnv.LAB_HOST, '0.0.0.0', 'the lab listens on all interfaces inside compose')
  t.equal(labEnv.LAB_PORT, '4566')
  t.equal(mounts(lab)['lab-data'], labEnv.LAB_DATA_DIR, 'lab data on the lab-data volume')
  t.equal(labEnv.LAB_IMDS_HOST, 'lab', 'metadata endpoints are listed under the name the services resolve')
  const base = Number(labEnv.LAB_IMDS_PORT_BASE)
  t.ok(Number.isInteger(base) && base > 0, 'fixed metadata ports, so compose can name them')
  const published = (lab.ports ?? []).join(' ')
  for (const [name, instance] of Object.entries(instanceOf)) {
    const service = compose.services[name]
    const env = envOf(service)
    // The lab serves instance N of the seed (in order) on LAB_IMDS_PORT_BASE + N.
    const index = seed.instances.findIndex((i) => i.name === instance.name)
    t.ok(index >= 0, `the seed has the ${instance.name} instance`)
    t.equal(seed.instances[index].role, instance.role, `${instance.name}'s instance profile holds ${instance.role}`)
    t.equal(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, `http://lab:${base + index}/`, `${name} reads ${instance.name}'s metadata (${seed.instances[index].id})`)
    t.match(published, new RegExp(`${base}-(\\d+):`), 'the metadata ports are published for people')
    const forbidden = Object.keys(env).filter((k) => /^AWS_(PROFILE|DEFAULT_PROFILE|SHARED_CREDENTIALS_FILE|CONFIG_FILE|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|CONTAINER_.*)$/.test(k))
    t.same(forbidden, [], `${name} is given no credentials, profile or AWS files`)
    t.notOk(mounts(service)['lab-data'], `${name} does not mount the lab's data (state, key material, profiles file)`)
    t.same(service.depends_on?.lab, { condition: 'service_healthy' }, `${name} waits for a healthy lab`)
    t.equal(service.healthcheck.test.join(' ').includes(`:${env.PORT}/readyz`), true, `${name}'s healthcheck asks its /readyz`)
  }
  t.equal(mounts(compose.services.download)['download-cache'], envOf(compose.services.download).CACHE_DIR, 'cache on its volume')
  t.same(Object.keys(mounts(compose.services.upload)), ['lab-ca'], "upload mounts nothing but the lab's CA")
})

t.test('every service that talks to AWS runs as an instance of its own (services added later included)', async (t) => {
  const base = Number(envOf(compose.services.lab).LAB_IMDS_PORT_BASE)
  const endpoints = new Map<string, string>()
  for (const [name, service] of Object.entries(compose.services)) {
    if (name === 'lab') continue
    const env = envOf(service)
    if (!Object.keys(env).some((k) => k.startsWith('AWS_'))) continue
    const m = /^http:\/\/lab:(\d+)\/$/.exec(env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? '')
    t.ok(m, `${name} takes its credentials from an instance's metadata on the lab`)
    if (!m) continue
    const instance = seed.instances[Number(m[1]) - base]
    t.ok(instance, `${name}'s metadata port ${m[1]} is a seeded instance's`)
    t.notOk(endpoints.has(env.AWS_EC2_METADATA_SERVICE_ENDPOINT), `${name} shares no instance (${endpoints.get(env.AWS_EC2_METADATA_SERVICE_ENDPOINT) ?? 'none'} has it)`)
    endpoints.set(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, name)
    t.same(Object.keys(env).filter((k) => /^AWS_(PROFILE|DEFAULT_PROFILE|SHARED_CREDENTIALS_FILE|CONFIG_FILE|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)$/.test(k)), [], `${name} holds no other credentials`)
    t.notOk(mounts(service)['lab-data'], `${name} does not mount lab-data`)
  }
  t.ok(endpoints.size >= 2, 'upload and download at least')
})

t.test('docker-compose config -q accepts the file', async (t) => {
  const check = spawnSync('docker-compose', ['-f', join(root, 'docker-compose.yml'), 'config', '-q'], { encoding: 'utf8' })
  if (check.error) return t.pass('docker-compose is not installed here; CI runs it')
  t.equal(check.status, 0, check.stderr)
})
