// docker-compose.yml against the code: each service's command is its package's start script,
// every variable it sets exists in its config schema (NAME_FILE for a secret NAME), the required
// ones are set, and the whole environment — with the secrets scripts/compose-secrets.mjs writes —
// passes the service's own config validation; each service runs as its own lab instance (metadata
// endpoint only, no credentials, no lab volume), on a network it shares only with the lab (and
// Redis), whose metadata the lab serves on that network alone; nothing is published beyond
// 127.0.0.1, no metadata port at all; secrets are compose secrets; no container runs as root.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join, posix } from 'node:path'
import type { TObject } from 'typebox'
import { loadConfig } from '@kms-share/shared'
import { UploadConfigSchema } from '@kms-share/upload'
import { DownloadConfigSchema } from '@kms-share/download'
import { compose, composeSecrets, deployedLab, envOf, root } from './compose-helpers.js'
import { readImage } from './dockerfile-helpers.js'

const { dir: secretsDir, withSecrets } = composeSecrets(t)

const schemas: Record<string, TObject> = { upload: UploadConfigSchema, download: DownloadConfigSchema }
const packageDirs: Record<string, string> = { lab: 'packages/aws-lab', upload: 'services/upload', download: 'services/download' }
/** The lab instance each service runs as (the compute stack's instances, by their Name tags). */
const instanceOf: Record<string, { name: string; role: string }> = { upload: { name: 'uploader', role: 'kms-share-uploader' }, download: { name: 'downloader', role: 'kms-share-downloader' } }
const deployed = await deployedLab(t)
const { instances, withOutputs } = deployed

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

t.test("each service is its package's own image, running the package's start script", async (t) => {
  for (const [name, dir] of Object.entries(packageDirs)) {
    const service = compose.services[name]
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'))
    const image = readImage(service.build.target)
    t.equal(image.package, pkg.name, `${name}: Dockerfile target ${service.build.target} deploys ${pkg.name} alone`)
    t.equal(service.image, `kms-share/${service.build.target}:local`, `${name}: an image of its own`)
    t.equal(service.working_dir ?? image.workdir, '/app', `${name} runs in the deploy folder`)
    const command = Array.isArray(service.command) ? service.command.join(' ') : service.command
    t.equal(command, pkg.scripts.start, `${name}: command = "${pkg.scripts.start}"`)
    t.same(service.command, image.cmd, `${name}: the image's own CMD (what runs it without compose)`)
  }
  const images = Object.values(compose.services).filter((s) => s.build).map((s) => s.image as string)
  t.equal(new Set(images).size, images.length, 'no two services share an image')
})

t.test('service environments match their config schemas', async (t) => {
  for (const [name, schema] of Object.entries(schemas)) {
    const env = envOf(compose.services[name])
    const properties = Object.keys(schema.properties)
    for (const variable of Object.keys(env)) t.ok(properties.includes(variable) || properties.includes(variable.replace(/_FILE$/, '')), `${name}: ${variable} is in its config schema`)
    const required = (schema.required ?? []).filter((p: string) => (schema.properties[p] as { default?: unknown }).default === undefined)
    t.ok(required.length > 0, `${name} has required variables`)
    for (const variable of required) t.ok(variable in env || `${variable}_FILE` in env, `${name}: required ${variable} is set`)
    const config = loadConfig(schema, { env: withOutputs(withSecrets(env)) }) as Record<string, unknown>
    t.equal(config.HOST, '0.0.0.0', `${name} listens on all interfaces inside its container`)
    t.equal(config.AWS_ENDPOINT_URL, 'https://lab:4566', `${name} reaches the lab by its service name, over HTTPS`)
    t.equal(env.NODE_EXTRA_CA_CERTS, `${mounts(compose.services[name])['lab-ca']}/ca.pem`, `${name} trusts the lab's CA from the lab-ca volume`)
    t.ok(compose.services[name].volumes.includes(`lab-ca:${mounts(compose.services[name])['lab-ca']}:ro`), `${name} mounts the CA read-only`)
    for (const variable of ['OIDC_ISSUER', 'OIDC_AUDIENCE']) t.ok(variable in env, `${name}: ${variable} can be set from the shell`)
    t.match(config.AUTH_TOKENS, /^compose-\w+:[\w:+]+:[0-9a-f]{64}$/, `${name}: token hashes from its secret`)
    t.ok(String(config.SESSION_SECRET).length >= 32, `${name}: a session secret from its secret`)
  }
  // The bucket policy refuses a put naming the key other than by its ARN, which exists only once the lab has deployed:
  // upload reads it from the file the lab exports (LAB_STACK_OUTPUTS_EXPORT), on a volume holding only the outputs.
  const upload = loadConfig(UploadConfigSchema, { env: withOutputs(withSecrets(envOf(compose.services.upload))) }) as Record<string, unknown>
  t.equal(upload.KMS_KEY_ID, deployed.keyArn, "upload's key is the data stack's KeyArn output")
  t.equal(envOf(compose.services.lab).LAB_STACK_OUTPUTS_EXPORT, mounts(compose.services.lab)['stack-outputs'], 'the lab writes the outputs onto the stack-outputs volume')
  t.ok(compose.services.upload.volumes.includes(`stack-outputs:${mounts(compose.services.upload)['stack-outputs']}:ro`), 'upload mounts the outputs read-only')
})

t.test('secrets are compose secrets, each mounted only where it is used; no secret in any environment', async (t) => {
  const used = new Map<string, string[]>()
  for (const [name, service] of Object.entries(compose.services)) {
    const env = envOf(service)
    t.same(Object.keys(env).filter((k) => /^(AUTH_TOKENS|SESSION_SECRET|REDIS_URL|AUDIT_SIGNING_KEY|AUDIT_VERIFY_KEY|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN)$/.test(k)), [], `${name}: no secret as a variable`)
    const mounted: string[] = service.secrets ?? []
    // Not secrets: the MFA profile's file (a volume of keyadmin's own), the heartbeat, the lab's client list, the stacks' outputs.
    for (const [k, v] of Object.entries(env).filter(([k]) => k.endsWith('_FILE') && !['KEYADMIN_MFA_CREDENTIALS_FILE', 'AUDIT_HEARTBEAT_FILE', 'LAB_OIDC_CLIENTS_FILE', 'KMS_KEY_ID_FILE'].includes(k))) {
      const m = /^\/run\/secrets\/(\w+)$/.exec(v)
      t.ok(m && mounted.includes(m[1]), `${name}: ${k} is one of its own compose secrets`)
    }
    for (const secret of mounted) used.set(secret, [...(used.get(secret) ?? []), name])
  }
  for (const [secret, { file }] of Object.entries(compose.secrets!)) {
    t.match(file, /^\.\/\.secrets\//, `${secret} comes from .secrets/ (scripts/compose-secrets.mjs)`)
    t.ok(existsSync(join(secretsDir, posix.basename(file))), `compose-secrets.mjs writes ${posix.basename(file)}`)
    // An OIDC client's secret is known to the provider (the lab) and that one client; every other secret to one container.
    const client = /^(\w+)_oidc_client_secret$/.exec(secret)?.[1]
    t.same(used.get(secret)?.sort(), client ? ['lab', client].sort() : used.get(secret)?.slice(0, 1), `${secret} is mounted by ${client ? `the lab and ${client}` : 'one container'} (${used.get(secret)?.join(', ')})`)
  }
  t.same(used.get('audit_signing_key'), ['audit-worker'], 'the signing key is the worker\'s alone')
  t.match(readFileSync(join(secretsDir, 'redis.acl'), 'utf8'), /^user default off/, 'Redis: the default user is off')
  t.notOk(readFileSync(join(secretsDir, 'redis.acl'), 'utf8').includes(JSON.parse(readFileSync(join(secretsDir, 'redis-passwords.json'), 'utf8')).producer), 'Redis: the ACL file holds hashes only')
})

t.test('no container runs as root', async (t) => {
  for (const [name, service] of Object.entries(compose.services)) {
    t.ok(service.user && !/^(root|0)(:|$)/.test(String(service.user)), `${name} runs as ${service.user}`)
  }
  for (const [name, service] of Object.entries(compose.services).filter(([, s]) => s.build)) t.equal(readImage(service.build.target).user, 'node', `${name}'s image itself runs as node`)
})

t.test("each service reaches its own instance's metadata and nothing of the lab's", async (t) => {
  const lab = compose.services.lab
  const labEnv = envOf(lab)
  t.equal(labEnv.LAB_HOST, '0.0.0.0', 'the lab listens on all interfaces inside compose')
  t.equal(labEnv.LAB_PORT, '4566')
  t.equal(mounts(lab)['lab-data'], labEnv.LAB_DATA_DIR, 'lab data on the lab-data volume')
  const base = Number(labEnv.LAB_IMDS_PORT_BASE)
  t.ok(Number.isInteger(base) && base > 0, 'fixed metadata ports, so compose can name them')
  const published: string[] = lab.ports ?? []
  t.same(published, ['127.0.0.1:4566:4566'], "the lab's API alone is published, on 127.0.0.1; no metadata port")
  const binds = Object.fromEntries(labEnv.LAB_IMDS_BIND.split(',').map((e) => e.split('=')))
  t.equal(binds['*'], '127.0.0.1', "the workshop's metadata (and any other) stays inside the lab's container")
  const labNetworks = lab.networks as Record<string, { aliases?: string[] }>
  for (const [name, instance] of Object.entries(instanceOf)) {
    const service = compose.services[name]
    const env = envOf(service)
    // The lab serves its instance N (the seed's, then the deployed ones as launched) on LAB_IMDS_PORT_BASE + N.
    const index = instances.findIndex((i) => i.name === instance.name)
    t.ok(index >= 0, `the lab has the ${instance.name} instance`)
    t.equal(instances[index].role, instance.role, `${instance.name}'s instance profile holds ${instance.role}`)
    const bind = binds[instance.name]
    t.equal(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, `http://${bind}:${base + index}/`, `${name} reads ${instance.name}'s metadata where the lab binds it`)
    // Its one network is shared with the lab (and Redis), and the bind name is the lab's alias there alone.
    t.equal(service.networks.length, 1, `${name} is on one network`)
    const network = service.networks[0]
    t.same(Object.keys(labNetworks).filter((n) => labNetworks[n]?.aliases?.includes(bind)), [network], `${bind} names the lab on ${network} alone`)
    const members = Object.entries(compose.services).filter(([, s]) => (Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {})).includes(network)).map(([n]) => n).sort()
    t.same(members.filter((n) => n !== 'redis'), ['lab', name].sort(), `${network} is shared with the lab${members.includes('redis') ? ' and Redis' : ''} only`)
    t.ok((service.ports ?? []).every((p: string) => p.startsWith('127.0.0.1:')), `${name} is published on 127.0.0.1 only`)
    const forbidden = Object.keys(env).filter((k) => /^AWS_(PROFILE|DEFAULT_PROFILE|SHARED_CREDENTIALS_FILE|CONFIG_FILE|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|CONTAINER_.*)$/.test(k))
    t.same(forbidden, [], `${name} is given no credentials, profile or AWS files`)
    t.notOk(mounts(service)['lab-data'], `${name} does not mount the lab's data (state, key material, profiles file)`)
    t.same(service.depends_on?.lab, { condition: 'service_healthy' }, `${name} waits for a healthy lab`)
    t.equal(service.healthcheck.test.join(' ').includes(`:${env.PORT}/readyz`), true, `${name}'s healthcheck asks its /readyz`)
  }
  t.equal(mounts(compose.services.download)['download-cache'], envOf(compose.services.download).CACHE_DIR, 'cache on its volume')
  t.same(Object.keys(mounts(compose.services.upload)), ['lab-ca', 'stack-outputs'], "upload mounts nothing but the lab's CA and the stacks' outputs")
  t.same(Object.keys(compose.networks ?? {}).sort(), ['audit-net', 'download-net', 'keyadmin-net', 'upload-net'], 'one network per service')
})

t.test("each service that signs people in reaches the lab's OpenID Provider on its own network, with its own client secret", async (t) => {
  const lab = compose.services.lab
  const labEnv = envOf(lab)
  const issuer = new URL(labEnv.LAB_OIDC_ISSUER)
  t.equal(issuer.hostname, 'lab.localhost', 'one issuer name for browsers (*.localhost is this machine) and services')
  t.ok(labEnv.LAB_TLS_HOSTNAMES.split(',').includes(issuer.hostname), "the lab's certificate names it")
  const clients = JSON.parse(readFileSync(join(root, packageDirs.lab, labEnv.LAB_OIDC_CLIENTS_FILE.replace(/^\/app\//, '')), 'utf8')) as Array<{ client_id: string; client_secret_file: string }>
  const labNetworks = lab.networks as Record<string, { aliases?: string[] }>
  for (const name of ['upload', 'download', 'keyadmin']) {
    const service = compose.services[name]
    const env = envOf(service)
    t.equal(env.OIDC_ISSUER, issuer.href.replace(/\/$/, ''), `${name}: the lab's issuer by default`)
    const [network] = service.networks
    t.ok(labNetworks[network]?.aliases?.includes(issuer.hostname), `${issuer.hostname} names the lab on ${network}`)
    const client = clients.find((c) => c.client_id === env.OIDC_CLIENT_ID)
    t.ok(client, `${name}: client ${env.OIDC_CLIENT_ID} is registered at the lab`)
    t.equal(client?.client_secret_file, env.OIDC_CLIENT_SECRET_FILE, `${name}: the lab and ${name} read the same secret file`)
    const secret = /^\/run\/secrets\/(\w+)$/.exec(env.OIDC_CLIENT_SECRET_FILE)?.[1] ?? ''
    t.ok(service.secrets.includes(secret) && lab.secrets.includes(secret), `${name}: ${secret} is mounted by the lab and ${name}`)
  }
})

t.test('every service that talks to AWS runs as an instance of its own (services added later included)', async (t) => {
  const base = Number(envOf(compose.services.lab).LAB_IMDS_PORT_BASE)
  const endpoints = new Map<string, string>()
  for (const [name, service] of Object.entries(compose.services)) {
    if (name === 'lab') continue
    const env = envOf(service)
    if (!Object.keys(env).some((k) => k.startsWith('AWS_'))) continue
    const m = /^http:\/\/lab-imds-[\w-]+:(\d+)\/$/.exec(env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? '')
    t.ok(m, `${name} takes its credentials from an instance's metadata on the lab`)
    if (!m) continue
    const instance = instances[Number(m[1]) - base]
    t.ok(instance, `${name}'s metadata port ${m[1]} is one of the lab's instances'`)
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
