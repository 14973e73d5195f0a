#!/usr/bin/env node
// `pnpm start`: the whole stack on one machine — the lab, then each service as its own
// simulated EC2 instance (upload as the uploader's, download as the downloader's …), taking its
// role's credentials from that instance's metadata and nothing else — with prefixed logs, one
// sign-in URL (the lab's OpenID Provider) and the people printed when everything is ready, and
// Ctrl-C stopping all of it.
// Run as root on Linux, each service (and the private redis-server) runs as a user of its own and
// the lab serves an instance's metadata to that user alone (scripts/lib/isolation.mjs); secrets
// reach each service as files only its user can read, never through its environment, which is
// built from an allowlist (its config schema's variables).
// Environment: LAB_DATA_DIR (.lab), CACHE_DIR (.cache), LAB_PORT (4566), UPLOAD_PORT (3001),
// DOWNLOAD_PORT (3002), KEYADMIN_PORT (3003), HOST (127.0.0.1), LOG_LEVEL (info), REDIS_URL (unset: a private
// redis-server on a free port with the audit's ACL users, data in REDIS_DATA_DIR, .redis), KMS_SHARE_UID_BASE
// (64510: the services run as 64511–64515), KEYADMIN_MFA (1: sensitive key operations need userA's MFA code; 0: off),
// and the lab's LAB_* settings (LAB_IMDS_PORT_BASE, LAB_IMDS_CREDENTIALS_TTL_SECONDS, LAB_CLOUDTRAIL_DELAY_SECONDS …;
// LAB_TLS=1 by default: the services reach the lab over HTTPS and trust its CA, so SSE-KMS over plain HTTP is refused
// as in AWS; LAB_OIDC=1 by default: people sign in at the lab's OpenID Provider). Flags: --no-build.
import './ensure-node.mjs'
import { spawn, spawnSync } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSteps } from './lib/build-steps.mjs'
import { copyRuntime } from './lib/code-copy.mjs'
import { closeSync, giveTree, isolationPlan, makeRunDir, openFolder, ownDir, profileSection, reachable, secretFile } from './lib/isolation.mjs'

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
const logLevel = env.LOG_LEVEL || 'info'
const mfaOn = !/^(0|false|no|off)$/i.test(env.KEYADMIN_MFA ?? '1')

function log(line) {
  process.stdout.write(`[start] ${line}\n`)
}

// On failure: stop, then the one line that says what to do, last, where the eye lands.
function fail(what, todo, exitCode = 1) {
  log(`${what} — ${todo}`)
  process.exit(exitCode)
}

if (!process.argv.includes('--no-build')) {
  const targets = ['@kms-share/aws-lab', '@kms-share/infra', '@kms-share/upload', '@kms-share/download', '@kms-share/keyadmin']
  log('building the lab, the templates it deploys and the services, one line a step (turbo keeps what has not changed)…')
  const steps = []
  const build = await buildSteps(root, targets, (step) => {
    steps.push(step)
    log(`  built ${step.name.padEnd(20)} ${step.seconds.toFixed(1).padStart(6)} s${step.cached ? '  (unchanged, from the cache)' : ''}`)
  })
  if (!build.ok) {
    for (const line of build.output) process.stdout.write(`[build] ${line}\n`)
    fail(`the build failed in ${build.failed} (its errors above)`, `fix them and run pnpm start again; \`pnpm --filter ${build.failed} build\` repeats that step alone`)
  }
  log(`built in ${build.seconds.toFixed(1)} s (${build.steps} steps, ${build.cached} unchanged)`)
}

// Who runs what: one user per service when this runs as root on Linux; otherwise say, in one line, what that means.
let plan
try {
  plan = isolationPlan(env)
} catch (err) {
  log(err.message)
  process.exit(2)
}
const userOf = (name) => plan.users?.[name]
log(plan.mode === 'users'
  ? `isolation: each service runs as a user of its own (${Object.entries(plan.users).map(([n, u]) => `${n} ${u.uid}`).join(', ')}); the lab serves each instance's metadata to its user alone`
  : `isolation: off — ${plan.reason} (README "Isolation")`)

// This run's homes and secret files, one 0700 folder per service, owned by its user; removed at exit.
const runDir = makeRunDir()

/** What every child may inherit from this process: where programs are, language and time zone. */
function baseEnv() {
  return Object.fromEntries(['PATH', 'LANG', 'LC_ALL', 'TZ'].filter((name) => env[name]).map((name) => [name, env[name]]))
}

/** The variables of a service's config schema the person set, minus what start.mjs decides itself (identity, secrets, addresses). */
const DECIDED_HERE = /^(AWS_|NODE_EXTRA_CA_CERTS$|AUTH_TOKENS$|AUTH_DISABLED$|SESSION_SECRET$|REDIS_URL$|AUDIT_SIGNING_KEY$|AUDIT_VERIFY_KEY$|KEYADMIN_MFA_|OIDC_(ISSUER|CLIENT_ID|AUDIENCE|JWKS_URL|STEP_UP_ACR_VALUES)$|HOST$|PORT$|BUCKET$|LOG_LEVEL$|CACHE_DIR$|KMS_KEY_ID$|.*_FILE$)/
const schemaOf = async (module, name) => (await import(join(root, module)))[name]
const [uploadSchema, downloadSchema, keyadminSchema, workerSchema] = await Promise.all([
  schemaOf('services/upload/dist/config.js', 'UploadConfigSchema'),
  schemaOf('services/download/dist/config.js', 'DownloadConfigSchema'),
  schemaOf('services/keyadmin/dist/config.js', 'KeyadminConfigSchema'),
  schemaOf('services/keyadmin/dist/audit/config.js', 'AuditWorkerConfigSchema'),
])
function settingsFor(schema) {
  return Object.fromEntries(Object.keys(schema.properties).filter((name) => !DECIDED_HERE.test(name) && env[name] !== undefined).map((name) => [name, env[name]]))
}

// The code the services run: the checkout itself when their users can read it, else a copy they can (a checkout under /root, 0700).
let codeRoot = root
let nodePath = process.execPath
if (plan.mode === 'users') {
  const probeUser = userOf('upload')
  const entry = join(root, 'services/upload/dist/server.js')
  if (!reachable(probeUser, nodePath, [])) {
    // Node itself is out of reach (e.g. .tools/node24 inside the checkout): a link (or copy) in the run folder.
    const binDir = join(runDir, 'bin')
    mkdirSync(binDir, { mode: 0o755 })
    nodePath = join(binDir, 'node')
    try {
      linkSync(process.execPath, nodePath)
    } catch {
      copyFileSync(process.execPath, nodePath)
    }
  }
  if (!reachable(probeUser, nodePath, [entry, join(root, 'packages/shared/dist/index.js')])) {
    const started = Date.now()
    codeRoot = join(runDir, 'app')
    const { files } = copyRuntime(root, ['services/upload', 'services/download', 'services/keyadmin'], codeRoot)
    log(`the services' users cannot read ${root}: running them from a copy of what they load (${files} files linked in ${Date.now() - started} ms)`)
  }
}
const codeOf = (script) => join(codeRoot, relative(root, script))

/** A service's folder in the run folder: its home (HOME) and `secrets/`, both its user's alone. */
function serviceFolder(name) {
  const user = userOf(name)
  const home = ownDir(join(runDir, name), user)
  const secrets = ownDir(join(home, 'secrets'), user)
  return { user, home, secrets, secret: (file, content) => secretFile(join(secrets, file), content, user) }
}

const children = []
let stopping = false

/**
 * The Node options of a package's start script (`node <options> dist/server.js`), so each process runs here as its
 * package, image and compose run it: the lab's larger first old-generation limit, the services' young-generation cap (README "Benchmark").
 */
function startScriptNodeArgs(script) {
  const start = JSON.parse(readFileSync(join(dirname(dirname(script)), 'package.json'), 'utf8')).scripts?.start ?? ''
  return (/^node((?:\s+--\S+)*)\s+dist\/[\w-]+\.js$/.exec(start)?.[1] ?? '').split(/\s+/).filter(Boolean)
}

function run(name, command, args, { env: childEnv, cwd, user, extraFds = [], onLine }) {
  // Own process group: Ctrl-C reaches only this script, which sends each child one SIGTERM (a second signal would force-exit it).
  const child = spawn(command, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe', ...extraFds], detached: true, ...(user ? { uid: user.uid, gid: user.gid } : {}) })
  children.push({ name, child })
  const recent = []
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      recent.push(line)
      if (recent.length > 50) recent.shift()
      if (onLine?.(line) === false) return
      process.stdout.write(`[${name}] ${line}\n`)
    })
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal ?? code}); stopping the rest`)
      void stop(1, whatToDo(name, recent))
    }
  })
  return child
}

/** A service's script from the code its user can read; the lab's (`asLab`) from the checkout, as whoever runs this. */
function runNode(name, script, options) {
  const path = options.asLab ? script : codeOf(script)
  return run(name, options.asLab ? process.execPath : nodePath, [...startScriptNodeArgs(script), path], { cwd: dirname(dirname(path)), ...options })
}

/** The variable that sets each process's port, for the hint when the port is taken. */
const PORT_VARIABLES = { lab: 'LAB_PORT (and LAB_IMDS_PORT_BASE for the metadata ports)', upload: 'UPLOAD_PORT', download: 'DOWNLOAD_PORT', keyadmin: 'KEYADMIN_PORT' }

/** What to do when `name` stopped on its own, from what it printed last. */
function whatToDo(name, lines) {
  const text = lines.join('\n')
  const port = /EADDRINUSE[^\n]*?:(\d+)/.exec(text)?.[1]
  if (port) return `port ${port} is taken: stop what listens there (\`ss -ltnp 'sport = :${port}'\`) or set ${PORT_VARIABLES[name] ?? 'its port variable'} to a free port, then run pnpm start again`
  if (/EACCES|EPERM/.test(text)) return `${name} was refused a file or port (its [${name}] lines above say which): fix the permission or set a different folder/port, then run pnpm start again`
  return `read the last [${name}] lines above: they say what it could not do; fix that and run pnpm start again`
}

async function stop(exitCode = 0, hint) {
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
  if (hint) log(`stopped — ${hint}`)
  process.exit(exitCode)
}
// Children are in their own process groups: never leave them behind, whatever ends this script.
process.on('exit', () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  rmSync(runDir, { recursive: true, force: true })
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
  ownDir(labDataDir)
  return secretFile(join(labDataDir, 'oidc-clients.json'), JSON.stringify(clients, null, 2) + '\n')
}

/** A service's OIDC settings: the issuer, its client id, and its secret (the lab made it) in the service's own secrets folder. */
function oidcEnv(service, folder) {
  if (!lab.issuer) return {}
  const secrets = JSON.parse(readFileSync(join(labDataDir, 'oidc', 'client-secrets.json'), 'utf8'))
  return {
    OIDC_ISSUER: lab.issuer,
    OIDC_CLIENT_ID: service,
    OIDC_CLIENT_SECRET_FILE: folder.secret('oidc-client-secret', secrets[service]),
    OIDC_AUDIENCE: LAB_API_RESOURCE,
    OIDC_STEP_UP_ACR_VALUES: 'urn:kms-share:acr:mfa',
  }
}

// 1. The lab, as whoever runs this (its data folder is 0700: state, keys, tokens and MFA seeds are that user's alone).
// Its metadata goes to each instance's user alone; instances no service runs as (the workshop's) stay the lab user's.
const imdsOwners = plan.mode === 'users'
  ? { LAB_IMDS_OWNERS: `uploader=${userOf('upload').uid},downloader=${userOf('download').uid},keyadmin=${userOf('keyadmin').uid},auditor=${userOf('audit-worker').uid}` }
  : plan.ownerCheck ? { LAB_IMDS_OWNERS: `*=${plan.uid}` } : {}
const labSettings = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('LAB_') && name !== 'LAB_IMDS_OWNERS'))
const banner = {}
const labReady = new Promise((resolveBanner) => {
  runNode('lab', join(root, 'packages/aws-lab/dist/server.js'), {
    asLab: true,
    env: { ...baseEnv(), HOME: env.HOME ?? runDir, LAB_TLS: '1', LAB_OIDC_CLIENTS_FILE: writeOidcClients(), ...labSettings, ...imdsOwners, LAB_HOST: host, LAB_PORT: String(labPort), LAB_DATA_DIR: labDataDir },
    onLine(line) {
      let m
      if ((m = /^aws-lab listening on (\S+) \(account (\d+), region ([\w-]+)/.exec(line))) Object.assign(banner, { endpoint: m[1], accountId: m[2], region: m[3] })
      else if ((m = /^\s+OIDC issuer:\s+(\S+)$/.exec(line))) banner.issuer = m[1]
      else if ((m = /^\s+people:\s+(.+)$/.exec(line))) banner.people = m[1].trim()
      else if ((m = /^\s+passwords and TOTP seeds:\s+(.+)$/.exec(line))) banner.peopleFile = m[1].trim()
      else if ((m = /^\s+credentials:\s+(.+)$/.exec(line))) banner.credentialsFile = m[1].trim()
      else if ((m = /^\s+config:\s+(.+)$/.exec(line))) banner.configFile = m[1].trim()
      else if (line === 'try:') banner.complete = true
      if (banner.endpoint && banner.credentialsFile && banner.configFile && banner.complete) resolveBanner(banner)
    },
  })
})
const lab = await Promise.race([labReady, new Promise((r) => setTimeout(() => r(null), 30_000))])
if (!lab) {
  log('the lab did not start within 30 s')
  await stop(1, 'read the [lab] lines above for why; `pnpm lab` starts the lab alone to try again')
}
// Where each instance's metadata lives, and what the lab's deployed stacks made (the bucket, the key's ARN).
let instances = {}
let stacks = {}
try {
  const answer = await fetch(`${lab.endpoint.replace(/^https:/, 'http:')}/_lab/endpoints`, { signal: AbortSignal.timeout(5_000) })
  ;({ instances = {}, stacks = {} } = await answer.json())
} catch (err) {
  log(`could not read the lab's instances: ${err.message}`)
  await stop(1, 'read the [lab] lines above for why; `pnpm lab` starts the lab alone to try again')
}

// The bucket and key the data stack made or took (ExistingKeyArn: the workshop's alias/ImportedCMK): its outputs.
// The bucket policy refuses puts naming the key any other way than by this ARN.
const bucket = env.BUCKET || stacks.KmsShareData?.BucketName
const kmsKeyId = env.KMS_KEY_ID || stacks.KmsShareData?.KeyArn
if (!bucket || !kmsKeyId) await stop(1, `the lab deployed no KmsShareData stack (it has: ${Object.keys(stacks).join(', ') || 'none'}); read the [lab] lines above, or start over with LAB_DATA_DIR=${labDataDir} pnpm lab --reset`)

/**
 * The environment of a process running as the lab instance `instanceName`: its metadata
 * endpoint, the region and the lab's endpoint — no keys, no profiles, no credentials or config
 * file. The SDK's default chain finds the instance's role through IMDSv2, as on EC2.
 */
function instanceEnv(instanceName, folder) {
  const instance = instances[instanceName]
  if (!instance) throw new Error(`the lab has no instance named ${instanceName} (it has: ${Object.keys(instances).join(', ')})`)
  // With the lab on HTTPS, each instance trusts its CA from a copy in its own home (the certificate is public; the lab's folder is not).
  const caFile = join(labDataDir, 'tls', 'ca.pem')
  const trust = lab.endpoint.startsWith('https:') && existsSync(caFile) ? { NODE_EXTRA_CA_CERTS: copyOwned(caFile, folder) } : {}
  return {
    ...baseEnv(),
    HOME: folder.home,
    ...trust,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.metadataEndpoint,
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
  }
}

function copyOwned(file, folder) {
  return secretFile(join(folder.home, basename(file)), readFileSync(file), folder.user)
}

// 1b. Redis for the audit queue: REDIS_URL, or a private redis-server with an append-only file (verdicts survive
// restarts) and the audit's ACL users, each with a password made for this run: the upload service may only add
// jobs, the worker alone writes verdicts and readers, keyadmin reads; the default user is off.
const shared = await import(join(root, 'packages/shared/dist/index.js'))
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
    // Any answer (NOAUTH: the default user is off) means it listens.
    socket.once('data', (data) => { socket.destroy(); resolveAnswer(/^[+-]/.test(data.toString())) })
    socket.once('error', () => resolveAnswer(false))
  })
}
// Redis logs its start and stop at its warning level; those lines tell a user nothing, so they are left out.
const REDIS_CHATTER = /Redis is starting|Redis version=|Configuration loaded|Server initialized|Received SIGTERM|User requested shutdown|Redis is now ready to exit|Calling fsync/
/** A redis-server line: chatter dropped, the overcommit notice said once in words a user can act on; the rest shown. */
function redisLine(line) {
  if (REDIS_CHATTER.test(line)) return false
  if (/Memory overcommit must be enabled/.test(line)) {
    log('redis: this machine has vm.overcommit_memory=0, so a fork of Redis could be refused under memory pressure; harmless here: the audit queue is small and only its append-only-file rewrite forks (`sysctl vm.overcommit_memory=1` as root silences it)')
    return false
  }
  return true
}
/** Each audit user's Redis URL, or REDIS_URL for all when it is given (then the ACL is that Redis's business). */
let redisUrls
let redisShown
if (env.REDIS_URL) {
  redisUrls = { producer: env.REDIS_URL, worker: env.REDIS_URL, reader: env.REDIS_URL }
  redisShown = 'REDIS_URL (yours: every service uses it as given; README "Audit" lists the ACL users it should have)'
} else {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const redisServer = existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : which.stdout.trim()
  if (!redisServer) {
    log('no redis-server installed (Debian: apt-get install redis-server), and REDIS_URL is unset: starting without the audit queue and worker')
  } else {
    const redisPort = await freePort()
    const folder = serviceFolder('redis')
    const passwords = { producer: randomBytes(24).toString('base64url'), worker: randomBytes(24).toString('base64url'), reader: randomBytes(24).toString('base64url') }
    const aclFile = folder.secret('users.acl', shared.auditRedisAclFile(passwords))
    giveTree(redisDataDir, folder.user)
    // It starts in its data folder (reached before it drops to its user) and keeps its files there: `--dir .`.
    run('redis', redisServer, ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', '.', '--aclfile', aclFile, '--appendonly', 'yes', '--save', '', '--protected-mode', 'yes', '--loglevel', 'warning'], {
      env: { ...baseEnv(), HOME: folder.home }, cwd: redisDataDir, user: folder.user, onLine: redisLine,
    })
    const end = Date.now() + 10_000
    while (!(await redisAnswers(redisPort)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100))
    const at = `127.0.0.1:${redisPort}`
    redisUrls = Object.fromEntries(Object.entries(passwords).map(([role, password]) => [role, shared.auditRedisUrl(at, role, password)]))
    redisShown = `redis://${at} (data ${redisDataDir}; ACL users ${Object.values(shared.AUDIT_REDIS_USERS).join(', ')})`
  }
}

// The worker's Ed25519 key pair, kept with the lab's data (verdicts stay verifiable across restarts): the private
// key goes to the worker alone, the public one to keyadmin.
function auditKeys() {
  const dir = join(labDataDir, 'audit-keys')
  const signing = join(dir, 'signing-key.pem')
  const verify = join(dir, 'verify-key.pem')
  if (!existsSync(signing) || !existsSync(verify)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    secretFile(verify, publicKey.export({ type: 'spki', format: 'pem' }))
    secretFile(signing, privateKey.export({ type: 'pkcs8', format: 'pem' }))
  }
  return { signingKey: readFileSync(signing, 'utf8'), verifyKey: readFileSync(verify, 'utf8') }
}

// 2. The services, each as its own instance, configured only through their environment and their secret files.
const serviceEnv = (instanceName, folder, schema) => ({
  ...settingsFor(schema),
  ...instanceEnv(instanceName, folder),
  BUCKET: bucket,
  HOST: host,
  LOG_LEVEL: logLevel,
})
// Development tokens: plaintext only in $LAB_DATA_DIR/tokens.json (0600); each service gets its token's SHA-256 hash, in a file.
const tokensFile = join(labDataDir, 'tokens.json')
const devTokens = (() => {
  try {
    return existsSync(tokensFile) ? JSON.parse(readFileSync(tokensFile, 'utf8')) : {}
  } catch {
    return {}
  }
})()
/** AUTH_TOKENS and SESSION_SECRET for a service, as files in its secrets folder; its token is kept from earlier runs while its scopes stay the same. */
function authFiles(service, scopes, folder) {
  let entry = devTokens[service]
  if (!entry || typeof entry.token !== 'string' || JSON.stringify(entry.scopes) !== JSON.stringify(scopes)) {
    entry = { name: `dev-${service}`, scopes, token: shared.generateToken(service), sessionSecret: shared.generateToken() }
  }
  devTokens[service] = entry
  mkdirSync(labDataDir, { recursive: true, mode: 0o700 })
  secretFile(`${tokensFile}.tmp`, JSON.stringify(devTokens, null, 2) + '\n')
  renameSync(`${tokensFile}.tmp`, tokensFile)
  return {
    AUTH_TOKENS_FILE: folder.secret('auth-tokens', shared.formatTokenEntry(entry.name, entry.scopes, shared.hashToken(entry.token))),
    SESSION_SECRET_FILE: folder.secret('session-secret', entry.sessionSecret),
  }
}
const redisFile = (folder, role) => (redisUrls ? { REDIS_URL_FILE: folder.secret('redis-url', redisUrls[role]) } : {})

const uploadUrl = `http://${host}:${uploadPort}`
const downloadUrl = `http://${host}:${downloadPort}`
const keyadminUrl = `http://${host}:${keyadminPort}`
// Every page's header links the three services as the browser reaches them.
const publicUrls = { UPLOAD_PUBLIC_URL: uploadUrl, DOWNLOAD_PUBLIC_URL: downloadUrl, KEYADMIN_PUBLIC_URL: keyadminUrl }

const upload = serviceFolder('upload')
runNode('upload', join(root, 'services/upload/dist/server.js'), {
  user: upload.user,
  env: {
    ...serviceEnv('uploader', upload, uploadSchema), PORT: String(uploadPort), KMS_KEY_ID: kmsKeyId, ...publicUrls, ...authFiles('upload', ['upload'], upload), ...redisFile(upload, 'producer'),
    ...oidcEnv('upload', upload),
  },
})

// The cache folder is the download user's; it gets the folder open (fd 3), reached as /proc/self/fd/3 whatever the folders above allow.
const download = serviceFolder('download')
giveTree(cacheDir, download.user)
const cacheFd = download.user ? openFolder(cacheDir) : undefined
runNode('download', join(root, 'services/download/dist/server.js'), {
  user: download.user,
  extraFds: cacheFd === undefined ? [] : [cacheFd],
  env: {
    ...serviceEnv('downloader', download, downloadSchema), PORT: String(downloadPort), CACHE_DIR: cacheFd === undefined ? cacheDir : '/proc/self/fd/3', ...publicUrls, ...authFiles('download', ['download', 'cache:admin'], download),
    ...oidcEnv('download', download),
  },
})
if (cacheFd !== undefined) closeSync(cacheFd)

// keyadmin: sensitive key operations as userA with an MFA code (STS GetSessionToken), from a credentials file holding userA's profile alone.
const keyadmin = serviceFolder('keyadmin')
const audit = redisUrls ? auditKeys() : undefined
const mfaProfile = mfaOn ? profileSection(readFileSync(lab.credentialsFile, 'utf8'), 'userA') : undefined
if (mfaOn && !mfaProfile) log(`no userA profile in ${lab.credentialsFile}: keyadmin runs without MFA`)
runNode('keyadmin', join(root, 'services/keyadmin/dist/server.js'), {
  user: keyadmin.user,
  env: {
    ...serviceEnv('keyadmin', keyadmin, keyadminSchema), PORT: String(keyadminPort), ...publicUrls, ...authFiles('keyadmin', ['keys:read', 'keys:admin', 'audit:read'], keyadmin), ...redisFile(keyadmin, 'reader'),
    ...(audit ? { AUDIT_VERIFY_KEY_FILE: keyadmin.secret('audit-verify-key.pem', audit.verifyKey) } : {}),
    ...(mfaProfile ? { KEYADMIN_MFA_PROFILE: 'userA', KEYADMIN_MFA_SERIAL: `arn:aws:iam::${lab.accountId}:mfa/userA`, KEYADMIN_MFA_CREDENTIALS_FILE: keyadmin.secret('mfa-credentials', mfaProfile) } : {}),
    ...oidcEnv('keyadmin', keyadmin),
  },
})
// The audit worker, as the auditor's instance; each CloudTrail reading goes back only as far as the lab's delay needs.
if (redisUrls) {
  const worker = serviceFolder('audit-worker')
  runNode('audit-worker', join(root, 'services/keyadmin/dist/worker.js'), {
    user: worker.user,
    env: {
      AUDIT_EVENT_LATENESS_SECONDS: String(Number(env.LAB_CLOUDTRAIL_DELAY_SECONDS || 0) + 30),
      AUDIT_READERS_POLL_SECONDS: '5',
      ...serviceEnv('auditor', worker, workerSchema), ...redisFile(worker, 'worker'),
      AUDIT_SIGNING_KEY_FILE: worker.secret('audit-signing-key.pem', audit.signingKey),
    },
  })
}

/** The ready banner's rows as columns: label, value, and a detail column that starts at the same place on every row that has one. */
function table(rows) {
  const labelWidth = Math.max(...rows.map(([label]) => label.length)) + 1
  const valueWidth = Math.max(...rows.filter((row) => row[2] !== undefined).map(([, value]) => value.length)) + 2
  return rows.map(([label, value, detail]) => {
    const head = `  ${label.padEnd(labelWidth)}`
    if (detail !== undefined) return `${head}${value.padEnd(valueWidth)}${detail}`
    return head + value.split('\n').join(`\n${' '.repeat(head.length)}`)
  }).join('\n')
}

/** One sign-in URL, the people and where their passwords are (never a token in a URL). */
function signInRows() {
  if (!lab.issuer) return [['sign in', `${uploadUrl}/auth/login`, '(paste a token from the file below)']]
  return [
    ['sign in', `${uploadUrl}/`, `(once, at the lab's OpenID Provider ${lab.issuer}; download and keyadmin then open without asking again)`],
    ['people', `${lab.people}\npasswords and TOTP seeds (authenticator apps read the otpauth:// URIs): ${lab.peopleFile} (0600)`],
    ['scripts', `client credentials: client "scripts", its secret in ${join(labDataDir, 'oidc', 'client-secrets.json')}; token endpoint ${lab.issuer}/token (resource ${LAB_API_RESOURCE})`],
  ]
}

const ready = await Promise.all([waitForUrl(`${uploadUrl}/readyz`), waitForUrl(`${downloadUrl}/readyz`), waitForUrl(`${keyadminUrl}/readyz`)])
if (!ready.every(Boolean)) {
  const late = ['upload', 'download', 'keyadmin'].filter((_, i) => !ready[i])
  log(`not ready within 60 s: ${late.join(', ')}`)
  await stop(1, `read the last [${late[0]}] lines above (its /readyz names the check that fails), fix that and run pnpm start again`)
}
const tokenOf = (service) => `$(node -p "require('${tokensFile}').${service}.token")`
log(`ready:
${table([
  ['upload', `${uploadUrl}/`, `(instance ${instances.uploader.instanceId}, role ${instances.uploader.role}, key ${kmsKeyId})`],
  ['download', `${downloadUrl}/`, `(instance ${instances.downloader.instanceId}, role ${instances.downloader.role}, cache ${cacheDir})`],
  ['keyadmin', `${keyadminUrl}/`, `(instance ${instances.keyadmin.instanceId}, role ${instances.keyadmin.role}${mfaProfile ? `; sensitive operations need userA's MFA code, its otpauth URI in ${join(labDataDir, 'mfa', 'userA.otpauth')}` : ''})`],
  ['audit', redisUrls ? `worker as instance ${instances.auditor?.instanceId}, role ${instances.auditor?.role}, signing verdicts; redis ${redisShown}; results at ${keyadminUrl}/audit, dashboard ${keyadminUrl}/audit/queues/` : 'off (no Redis)'],
  ['lab', lab.endpoint, `(data ${labDataDir}; profiles for people and the CLI in ${lab.credentialsFile} and ${lab.configFile})`],
  ['isolation', plan.mode === 'users' ? 'one user per service; each instance\'s metadata served to its user alone' : `off — ${plan.reason.split(':')[0]} (every service runs as you)`],
  ...signInRows(),
  ['tokens', `${tokensFile} (0600, yours alone; the services hold only SHA-256 hashes)`],
  ['try', [
    `UPLOAD_TOKEN=${tokenOf('upload')} DOWNLOAD_TOKEN=${tokenOf('download')}`,
    `curl -H "Authorization: Bearer $UPLOAD_TOKEN" -T SampleFile-KMS.txt ${uploadUrl}/files/SampleFile-KMS.txt && curl -H "Authorization: Bearer $DOWNLOAD_TOKEN" -O -J ${downloadUrl}/files/SampleFile-KMS.txt`,
    `KEYADMIN_TOKEN=${tokenOf('keyadmin')}; curl -H "Authorization: Bearer $KEYADMIN_TOKEN" ${keyadminUrl}/keys/alias%2FImportedCMK/access`,
    `curl -H "Authorization: Bearer $KEYADMIN_TOKEN" ${keyadminUrl}/audit/objects/SampleFile-KMS.txt`,
  ].join('\n')],
])}
Ctrl-C stops everything.`)
