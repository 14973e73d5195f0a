#!/usr/bin/env node
// `pnpm start`: the whole stack on one machine — the lab, then each service as its own
// simulated EC2 instance (upload as the uploader's, download as the downloader's), taking its
// role's credentials from that instance's metadata and nothing else — with prefixed logs, the
// URLs printed when everything is ready, and Ctrl-C stopping all of it.
// Environment: LAB_DATA_DIR (.lab), CACHE_DIR (.cache), LAB_PORT (4566), UPLOAD_PORT (3001),
// DOWNLOAD_PORT (3002), KEYADMIN_PORT (3003), HOST (127.0.0.1), LOG_LEVEL (info), REDIS_URL (unset: a private
// redis-server on a free port, data in REDIS_DATA_DIR, .redis), and the lab's LAB_* settings
// (LAB_IMDS_PORT_BASE, LAB_IMDS_CREDENTIALS_TTL_SECONDS, LAB_CLOUDTRAIL_DELAY_SECONDS …; LAB_TLS=1 by default:
// the services reach the lab over HTTPS and trust its CA, so SSE-KMS over plain HTTP is refused as in AWS). Flags: --no-build.
import './ensure-node.mjs'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createInterface } from 'node:readline'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
// pnpm runs scripts at the root; INIT_CWD is where the user typed the command.
const invokedFrom = process.env.INIT_CWD || process.cwd()
const env = process.env
const host = env.HOST || '127.0.0.1'
const labPort = Number(env.LAB_PORT || 4566)
const uploadPort = Number(env.UPLOAD_PORT || 3001)
const downloadPort = Number(env.DOWNLOAD_PORT || 3002)
const keyadminPort = Number(env.KEYADMIN_PORT || 3003)
const labDataDir = resolve(invokedFrom, env.LAB_DATA_DIR || '.lab')
const cacheDir = resolve(invokedFrom, env.CACHE_DIR || '.cache')
const bucket = env.BUCKET || 'kmsworkshop-111122223333'
const kmsKeyId = env.KMS_KEY_ID || 'alias/ImportedCMK'
const logLevel = env.LOG_LEVEL || 'info'

function log(line) {
  process.stdout.write(`[start] ${line}\n`)
}

if (!process.argv.includes('--no-build')) {
  log('building the lab and the services (turbo)…')
  const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@kms-share/aws-lab', '--filter=@kms-share/upload', '--filter=@kms-share/download', '--filter=@kms-share/keyadmin', '--output-logs=errors-only'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) {
    log('build failed')
    process.exit(build.status ?? 1)
  }
}

/** The environment children start from: no inherited AWS identity or lab settings, so a service knows nothing but its instance. */
function baseEnv() {
  const clean = { ...env }
  for (const name of Object.keys(clean)) {
    if (name.startsWith('AWS_') || name.startsWith('LAB_') || name === 'PORT' || name === 'HOST' || name === 'NODE_OPTIONS') delete clean[name]
  }
  return clean
}

/** The lab's own settings (LAB_IMDS_PORT_BASE, LAB_IMDS_CREDENTIALS_TTL_SECONDS, LAB_CLOUDTRAIL_DELAY_SECONDS …) pass through to it alone. */
function labSettings() {
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('LAB_')))
}

// Each instance gets an empty home of its own, so no ~/.aws of the person running this reaches a service.
const instanceHomes = []
let instances = {}

/**
 * The environment of a process running as the lab instance `name` (uploader, downloader,
 * keyadmin, auditor, workshop): its metadata endpoint, the region and the lab's endpoint —
 * no keys, no profiles, no credentials or config file. The SDK's default chain finds the
 * instance's role through IMDSv2, as on EC2.
 */
function instanceEnv(name) {
  const instance = instances[name]
  if (!instance) throw new Error(`the lab has no instance named ${name} (it has: ${Object.keys(instances).join(', ')})`)
  const home = mkdtempSync(join(tmpdir(), `kms-share-${name}-`))
  instanceHomes.push(home)
  // With the lab on HTTPS, each instance trusts its CA from a copy in its own home (the certificate is public; the lab's folder is not).
  const caFile = join(labDataDir, 'tls', 'ca.pem')
  const trust = lab.endpoint.startsWith('https:') && existsSync(caFile) ? { NODE_EXTRA_CA_CERTS: copyInto(home, caFile) } : {}
  return {
    HOME: home,
    ...trust,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.metadataEndpoint,
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
  }
}

function copyInto(dir, file) {
  const target = join(dir, basename(file))
  copyFileSync(file, target)
  return target
}

const children = []
let stopping = false

/** As the lab's start script runs it: a larger first old-generation limit halves the CPU of its S3 PUT (packages/aws-lab README). */
const LAB_NODE_ARGS = ['--initial-old-space-size=64']

function run(name, script, childEnv, onLine, nodeArgs = []) {
  // Own process group: Ctrl-C reaches only this script, which sends each child one SIGTERM (a second signal would force-exit it).
  const child = spawn(process.execPath, [...nodeArgs, script], { cwd: dirname(dirname(script)), env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  children.push({ name, child })
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      onLine?.(line)
      process.stdout.write(`[${name}] ${line}\n`)
    })
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal ?? code}); stopping the rest`)
      void stop(1)
    }
  })
  return child
}

async function stop(exitCode = 0) {
  if (stopping) return
  stopping = true
  log('stopping…')
  const exits = children
    .filter(({ child }) => child.exitCode === null && child.signalCode === null)
    .map(({ child }) => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM') }))
  // Services first get their grace period (in-flight uploads finish or are aborted); then force.
  const timer = setTimeout(() => { for (const { child } of children) child.kill('SIGKILL') }, 20_000)
  await Promise.all(exits)
  clearTimeout(timer)
  process.exit(exitCode)
}
// Children are in their own process groups: never leave them behind, whatever ends this script.
process.on('exit', () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  for (const home of instanceHomes) rmSync(home, { recursive: true, force: true })
})
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

async function waitForUrl(url, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs
  while (Date.now() < end && !stopping) {
    try {
      const r = await fetch(url)
      if (r.ok) return true
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  return false
}

// ---- people sign in through the lab's OpenID Provider (issue 24): the clients, their secrets, each service's OIDC settings
const LAB_API_RESOURCE = 'urn:kms-share:api'
const servicePorts = { upload: uploadPort, download: downloadPort, keyadmin: keyadminPort }

/** The clients the lab's provider registers: the three services (code flow, back-channel logout) and one for scripts (client credentials). */
function writeOidcClients() {
  const clients = Object.entries(servicePorts).map(([name, port]) => {
    const url = `http://${host}:${port}`
    return {
      client_id: name,
      client_name: `kms-share ${name}`,
      redirect_uris: [`${url}/auth/callback`],
      post_logout_redirect_uris: [`${url}/auth/signed-out`],
      backchannel_logout_uri: `${url}/auth/backchannel-logout`,
    }
  })
  clients.push({ client_id: 'scripts', client_name: 'kms-share scripts', grant_types: ['client_credentials'], scope: 'upload download cache:admin keys:read audit:read' })
  mkdirSync(labDataDir, { recursive: true, mode: 0o700 })
  const file = join(labDataDir, 'oidc-clients.json')
  writeFileSync(file, JSON.stringify(clients, null, 2) + '\n', { mode: 0o600 })
  return file
}

/** A service's OIDC settings: the issuer, its client id, and its secret in a 0600 file in its own home (the lab made the secret). */
function oidcEnv(service, childEnv) {
  if (!lab.issuer) return {}
  const secrets = JSON.parse(readFileSync(join(labDataDir, 'oidc', 'client-secrets.json'), 'utf8'))
  const secretFile = join(childEnv.HOME, 'oidc-client-secret')
  writeFileSync(secretFile, secrets[service], { mode: 0o600 })
  return {
    OIDC_ISSUER: lab.issuer,
    OIDC_CLIENT_ID: service,
    OIDC_CLIENT_SECRET_FILE: secretFile,
    OIDC_AUDIENCE: LAB_API_RESOURCE,
    OIDC_STEP_UP_ACR_VALUES: 'urn:kms-share:acr:mfa',
  }
}

// 1. The lab; its banner says where it listens and where the files for people (and the CLI) are.
const banner = {}
const labReady = new Promise((resolveBanner) => {
  run('lab', join(root, 'packages/aws-lab/dist/server.js'), { ...baseEnv(), LAB_TLS: '1', LAB_OIDC_CLIENTS_FILE: writeOidcClients(), ...labSettings(), LAB_HOST: host, LAB_PORT: String(labPort), LAB_DATA_DIR: labDataDir }, (line) => {
    let m
    if ((m = /^aws-lab listening on (\S+) \(account (\d+), region ([\w-]+)/.exec(line))) Object.assign(banner, { endpoint: m[1], accountId: m[2], region: m[3] })
    else if ((m = /^\s+OIDC issuer:\s+(\S+)$/.exec(line))) banner.issuer = m[1]
    else if ((m = /^\s+people:\s+(.+)$/.exec(line))) banner.people = m[1].trim()
    else if ((m = /^\s+passwords and TOTP seeds:\s+(.+)$/.exec(line))) banner.peopleFile = m[1].trim()
    else if ((m = /^\s+credentials:\s+(.+)$/.exec(line))) banner.credentialsFile = m[1].trim()
    else if ((m = /^\s+config:\s+(.+)$/.exec(line))) banner.configFile = m[1].trim()
    else if (line === 'try:') banner.complete = true
    if (banner.endpoint && banner.credentialsFile && banner.configFile && banner.complete) resolveBanner(banner)
  }, LAB_NODE_ARGS)
})
const lab = await Promise.race([labReady, new Promise((r) => setTimeout(() => r(null), 30_000))])
if (!lab) {
  log('the lab did not start within 30 s')
  await stop(1)
}
// Where each instance's metadata lives.
try {
  const answer = await fetch(`${lab.endpoint.replace(/^https:/, 'http:')}/_lab/endpoints`, { signal: AbortSignal.timeout(5_000) })
  instances = (await answer.json()).instances ?? {}
} catch (err) {
  log(`could not read the lab's instances: ${err.message}`)
  await stop(1)
}

// 1b. Redis for the audit queue: REDIS_URL, or a private redis-server with an append-only file (verdicts survive restarts).
const redisDataDir = resolve(invokedFrom, env.REDIS_DATA_DIR || '.redis')
async function freePort() {
  const { createServer } = await import('node:net')
  return new Promise((resolvePort, reject) => {
    const server = createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolvePort(port)) })
  })
}
async function redisAnswers(port) {
  const { connect } = await import('node:net')
  return new Promise((resolveAnswer) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
    socket.setTimeout(1_000, () => { socket.destroy(); resolveAnswer(false) })
    socket.once('data', (data) => { socket.destroy(); resolveAnswer(data.toString().startsWith('+PONG')) })
    socket.once('error', () => resolveAnswer(false))
  })
}
let redisUrl = env.REDIS_URL
if (!redisUrl) {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const redisServer = existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : which.stdout.trim()
  if (!redisServer) {
    log('no redis-server installed (Debian: apt-get install redis-server), and REDIS_URL is unset: starting without the audit queue and worker')
  } else {
    const redisPort = await freePort()
    mkdirSync(redisDataDir, { recursive: true, mode: 0o700 })
    const child = spawn(redisServer, ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDataDir, '--appendonly', 'yes', '--save', '', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    children.push({ name: 'redis', child })
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => process.stdout.write(`[redis] ${line}\n`))
    child.on('exit', (code, signal) => {
      if (!stopping) {
        log(`redis exited (${signal ?? code}); stopping the rest`)
        void stop(1)
      }
    })
    const end = Date.now() + 10_000
    while (!(await redisAnswers(redisPort)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100))
    redisUrl = `redis://127.0.0.1:${redisPort}`
  }
}
const redisEnv = redisUrl ? { REDIS_URL: redisUrl } : {}

// 2. The services, each as its own instance, configured only through their environment.
const serviceEnv = (instance) => ({
  ...instanceEnv(instance),
  BUCKET: bucket,
  HOST: host,
  LOG_LEVEL: logLevel,
})
// Development tokens: plaintext only in $LAB_DATA_DIR/tokens.json (0600); each service gets its token's SHA-256 hash.
const { formatTokenEntry, generateToken, hashToken } = await import(join(root, 'packages/shared/dist/auth.js'))
const tokensFile = join(labDataDir, 'tokens.json')
const devTokens = (() => {
  try {
    return existsSync(tokensFile) ? JSON.parse(readFileSync(tokensFile, 'utf8')) : {}
  } catch {
    return {}
  }
})()
/** AUTH_TOKENS and SESSION_SECRET for a service, reusing its token from earlier runs while its scopes stay the same. */
function authEnv(service, scopes) {
  let entry = devTokens[service]
  if (!entry || typeof entry.token !== 'string' || JSON.stringify(entry.scopes) !== JSON.stringify(scopes)) {
    entry = { name: `dev-${service}`, scopes, token: generateToken(), sessionSecret: generateToken() }
  }
  devTokens[service] = entry
  mkdirSync(labDataDir, { recursive: true })
  writeFileSync(`${tokensFile}.tmp`, JSON.stringify(devTokens, null, 2) + '\n', { mode: 0o600 })
  chmodSync(`${tokensFile}.tmp`, 0o600)
  renameSync(`${tokensFile}.tmp`, tokensFile)
  return { AUTH_TOKENS: formatTokenEntry(entry.name, entry.scopes, hashToken(entry.token)), SESSION_SECRET: entry.sessionSecret, AUTH_DISABLED: '' }
}

const uploadUrl = `http://${host}:${uploadPort}`
const downloadUrl = `http://${host}:${downloadPort}`
const keyadminUrl = `http://${host}:${keyadminPort}`
// Every page's header links the three services as the browser reaches them.
const publicUrls = { UPLOAD_PUBLIC_URL: uploadUrl, DOWNLOAD_PUBLIC_URL: downloadUrl, KEYADMIN_PUBLIC_URL: keyadminUrl }
const withOidc = (service, childEnv) => ({ ...childEnv, ...oidcEnv(service, childEnv) })
run('upload', join(root, 'services/upload/dist/server.js'), withOidc('upload', {
  ...baseEnv(), ...serviceEnv('uploader'), PORT: String(uploadPort), KMS_KEY_ID: kmsKeyId, ...publicUrls, ...authEnv('upload', ['upload']), ...redisEnv,
}))
run('download', join(root, 'services/download/dist/server.js'), withOidc('download', {
  ...baseEnv(), ...serviceEnv('downloader'), PORT: String(downloadPort), CACHE_DIR: cacheDir, ...publicUrls, ...authEnv('download', ['download', 'cache:admin']),
}))
run('keyadmin', join(root, 'services/keyadmin/dist/server.js'), withOidc('keyadmin', {
  ...baseEnv(), ...serviceEnv('keyadmin'), PORT: String(keyadminPort), ...publicUrls, ...authEnv('keyadmin', ['keys:read', 'keys:admin', 'audit:read']), ...redisEnv,
}))
// The audit worker, as the auditor's instance; each CloudTrail reading goes back only as far as the lab's delay needs.
if (redisUrl) {
  run('audit-worker', join(root, 'services/keyadmin/dist/worker.js'), {
    ...baseEnv(), ...serviceEnv('auditor'), ...redisEnv,
    AUDIT_EVENT_LATENESS_SECONDS: String(Number(env.LAB_CLOUDTRAIL_DELAY_SECONDS || 0) + 30),
    AUDIT_READERS_POLL_SECONDS: '5',
  })
}

/** One sign-in URL, the people and where their passwords are (never a token in a URL). */
function signInLines() {
  if (!lab.issuer) return `  sign in   ${uploadUrl}/auth/login (paste a token from the file below)`
  return `  sign in   ${uploadUrl}/   (once, at the lab's OpenID Provider ${lab.issuer}; download and keyadmin then open without asking again)
  people    ${lab.people}
            passwords and TOTP seeds (authenticator apps read the otpauth:// URIs): ${lab.peopleFile} (0600)
  scripts   client credentials: client "scripts", its secret in ${join(labDataDir, 'oidc', 'client-secrets.json')}; token endpoint ${lab.issuer}/token (resource ${LAB_API_RESOURCE})`
}

const ready = await Promise.all([waitForUrl(`${uploadUrl}/readyz`), waitForUrl(`${downloadUrl}/readyz`), waitForUrl(`${keyadminUrl}/readyz`)])
if (!ready.every(Boolean)) {
  log(`not ready: ${['upload', 'download', 'keyadmin'].filter((_, i) => !ready[i]).join(', ')}`)
  await stop(1)
}
log(`ready:
  upload    ${uploadUrl}/        (instance ${instances.uploader.instanceId}, role ${instances.uploader.role}, key ${kmsKeyId})
  download  ${downloadUrl}/      (instance ${instances.downloader.instanceId}, role ${instances.downloader.role}, cache ${cacheDir})
  keyadmin  ${keyadminUrl}/      (instance ${instances.keyadmin.instanceId}, role ${instances.keyadmin.role})
  audit     ${redisUrl ? `worker as instance ${instances.auditor?.instanceId}, role ${instances.auditor?.role}; redis ${redisUrl}${env.REDIS_URL ? '' : ` (data ${redisDataDir})`}; results at ${keyadminUrl}/audit, dashboard ${keyadminUrl}/audit/queues/` : 'off (no Redis)'}
  lab       ${lab.endpoint}  (data ${labDataDir}; profiles for people and the CLI in ${lab.credentialsFile} and ${lab.configFile})
${signInLines()}
  tokens    ${tokensFile} (0600; for scripts; the services hold only SHA-256 hashes)
  try: UPLOAD_TOKEN=$(node -p "require('${tokensFile}').upload.token") DOWNLOAD_TOKEN=$(node -p "require('${tokensFile}').download.token")
       curl -H "Authorization: Bearer $UPLOAD_TOKEN" -T SampleFile-KMS.txt ${uploadUrl}/files/SampleFile-KMS.txt && curl -H "Authorization: Bearer $DOWNLOAD_TOKEN" -O -J ${downloadUrl}/files/SampleFile-KMS.txt
       KEYADMIN_TOKEN=$(node -p "require('${tokensFile}').keyadmin.token"); curl -H "Authorization: Bearer $KEYADMIN_TOKEN" ${keyadminUrl}/keys/alias%2FImportedCMK/access
Ctrl-C stops everything.`)
