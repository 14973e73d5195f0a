#!/usr/bin/env node
// `pnpm start`: the whole stack on one machine — the lab, then upload (as the uploader
// profile) and download (as the downloader profile) configured from the lab's files — with
// prefixed logs, the URLs printed when everything is ready, and Ctrl-C stopping all of it.
// Environment: LAB_DATA_DIR (.lab), CACHE_DIR (.cache), LAB_PORT (4566), UPLOAD_PORT (3001),
// DOWNLOAD_PORT (3002), HOST (127.0.0.1), LOG_LEVEL (info). Flags: --no-build.
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
// pnpm runs scripts at the root; INIT_CWD is where the user typed the command.
const invokedFrom = process.env.INIT_CWD || process.cwd()
const env = process.env
const host = env.HOST || '127.0.0.1'
const labPort = Number(env.LAB_PORT || 4566)
const uploadPort = Number(env.UPLOAD_PORT || 3001)
const downloadPort = Number(env.DOWNLOAD_PORT || 3002)
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
  const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@kms-share/aws-lab', '--filter=@kms-share/upload', '--filter=@kms-share/download', '--output-logs=errors-only'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) {
    log('build failed')
    process.exit(build.status ?? 1)
  }
}

/** The environment children start from: no inherited AWS identity, so each runs only as its profile. */
function baseEnv() {
  const clean = { ...env }
  for (const name of Object.keys(clean)) {
    if (name.startsWith('AWS_') || name === 'PORT' || name === 'HOST' || name === 'NODE_OPTIONS') delete clean[name]
  }
  return clean
}

const children = []
let stopping = false

function run(name, script, childEnv, onLine) {
  // Own process group: Ctrl-C reaches only this script, which sends each child one SIGTERM (a second signal would force-exit it).
  const child = spawn(process.execPath, [script], { cwd: dirname(dirname(script)), env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
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
process.on('exit', () => { for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM') })
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

async function waitForUrl(url, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs
  while (Date.now() < end && !stopping) {
    try {
      const r = await fetch(url)
      if (r.ok) return true
    } catch {}
    await new Promise((r) => setTimeout(r, 200))
  }
  return false
}

// 1. The lab; its banner says where the credentials and config files are.
const banner = {}
const labReady = new Promise((resolveBanner) => {
  run('lab', join(root, 'packages/aws-lab/dist/server.js'), { ...baseEnv(), LAB_HOST: host, LAB_PORT: String(labPort), LAB_DATA_DIR: labDataDir }, (line) => {
    let m
    if ((m = /^aws-lab listening on (\S+) \(account (\d+), region ([\w-]+)/.exec(line))) Object.assign(banner, { endpoint: m[1], accountId: m[2], region: m[3] })
    else if ((m = /^\s+credentials:\s+(.+)$/.exec(line))) banner.credentialsFile = m[1].trim()
    else if ((m = /^\s+config:\s+(.+)$/.exec(line))) banner.configFile = m[1].trim()
    if (banner.endpoint && banner.credentialsFile && banner.configFile) resolveBanner(banner)
  })
})
const lab = await Promise.race([labReady, new Promise((r) => setTimeout(() => r(null), 30_000))])
if (!lab) {
  log('the lab did not start within 30 s')
  await stop(1)
}

// 2. The services, each as its own identity, configured only through their environment.
const awsEnv = (profile) => ({
  AWS_PROFILE: profile,
  AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile,
  AWS_CONFIG_FILE: lab.configFile,
  AWS_REGION: lab.region,
  AWS_ENDPOINT_URL: lab.endpoint,
  BUCKET: bucket,
  HOST: host,
  LOG_LEVEL: logLevel,
})
const uploadUrl = `http://${host}:${uploadPort}`
const downloadUrl = `http://${host}:${downloadPort}`
run('upload', join(root, 'services/upload/dist/server.js'), {
  ...baseEnv(), ...awsEnv('uploader'), PORT: String(uploadPort), KMS_KEY_ID: kmsKeyId, DOWNLOAD_PUBLIC_URL: downloadUrl,
})
run('download', join(root, 'services/download/dist/server.js'), {
  ...baseEnv(), ...awsEnv('downloader'), PORT: String(downloadPort), CACHE_DIR: cacheDir, UPLOAD_PUBLIC_URL: uploadUrl,
})

const ready = await Promise.all([waitForUrl(`${uploadUrl}/readyz`), waitForUrl(`${downloadUrl}/readyz`)])
if (!ready.every(Boolean)) {
  log(`not ready: ${['upload', 'download'].filter((_, i) => !ready[i]).join(', ')}`)
  await stop(1)
}
log(`ready:
  upload    ${uploadUrl}/        (profile uploader, key ${kmsKeyId})
  download  ${downloadUrl}/      (profile downloader, cache ${cacheDir})
  lab       ${lab.endpoint}  (data ${labDataDir}; AWS_SHARED_CREDENTIALS_FILE=${lab.credentialsFile} AWS_CONFIG_FILE=${lab.configFile})
  try: curl -T SampleFile-KMS.txt ${uploadUrl}/files/SampleFile-KMS.txt && curl -O -J ${downloadUrl}/files/SampleFile-KMS.txt
Ctrl-C stops everything.`)
