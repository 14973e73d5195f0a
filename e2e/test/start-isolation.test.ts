// `pnpm start` runs each service as its own lab instance: a service's environment and the files
// it can be pointed at give it no credentials but its own role's, delivered through its
// instance's metadata (IMDSv2), which rotate while the service keeps working; its calls appear
// in CloudTrail as assumed-role/<role>/<instance id>. Run as root (as CI runs), each service is a
// user of its own, and a process of the upload service's user with exactly its environment gets
// nothing else: not another instance's metadata, not the lab's files (profiles, tokens, CA key,
// MFA seeds, STS state, the OpenID Provider's people and keys), not another process's environment,
// not another service's secrets (its OIDC client secret among them).
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AWS_CLI, freePort } from '@kms-share/aws-lab/testing'
import { followStart } from './start-helpers.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** A running process's environment, as any process of the same user can read it. */
function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8')
  return Object.fromEntries(raw.split('\0').filter(Boolean).map((kv) => kv.split(/=(.*)/s).slice(0, 2) as [string, string]))
}

function childPids(pid: number): Array<{ pid: number; args: string }> {
  const ps = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
  return ps.stdout.split('\n').filter(Boolean).map((line) => {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line)!
    return { pid: Number(m[1]), args: m[2] }
  })
}

/** The real uid a process runs as. */
function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])
}

/** AWS CLI v2 with exactly `env` (plus PATH), as `uid`: what the service itself could do with what it holds. */
function cli(env: Record<string, string>, args: string[], uid?: number) {
  // Debian's AWS CLI predates AWS_ENDPOINT_URL, so the endpoint goes on the command line.
  const endpoint = env.AWS_ENDPOINT_URL ? ['--endpoint-url', env.AWS_ENDPOINT_URL] : []
  // The service trusts the lab's CA through NODE_EXTRA_CA_CERTS; the CLI reads the same file as AWS_CA_BUNDLE.
  const trust = env.NODE_EXTRA_CA_CERTS ? { AWS_CA_BUNDLE: env.NODE_EXTRA_CA_CERTS } : {}
  const as = uid !== undefined && uid !== process.getuid?.() ? { uid, gid: uid, cwd: '/' } : {}
  return spawnSync(AWS_CLI, [...args, ...endpoint, '--output', 'json'], { env: { ...env, ...trust, PATH: '/usr/bin:/bin', AWS_PAGER: '' }, encoding: 'utf8', timeout: 60_000, ...as })
}

/** Every file under `dir` (as root sees them). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]))
}

/**
 * What a process of the upload service's user, with exactly its environment, gets when it tries
 * each way in: files, folders, other processes' environments, every instance's metadata, Redis.
 * Builtins only, so it runs wherever the service's own Node runs.
 */
const PROBE = String.raw`
import { readFileSync, readdirSync } from 'node:fs'
import { connect } from 'node:net'
const targets = JSON.parse(process.argv[1])
const out = { files: {}, dirs: {}, environ: {}, metadata: {}, cmdlines: '', redis: {} }
for (const f of targets.files) { try { readFileSync(f); out.files[f] = 'READ' } catch (e) { out.files[f] = e.code } }
for (const d of targets.dirs) { try { readdirSync(d); out.dirs[d] = 'LISTED' } catch (e) { out.dirs[d] = e.code } }
for (const pid of targets.pids) { try { readFileSync('/proc/' + pid + '/environ'); out.environ[pid] = 'READ' } catch (e) { out.environ[pid] = e.code } }
for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) { try { out.cmdlines += readFileSync('/proc/' + pid + '/cmdline', 'utf8') + '\n' } catch {} }
for (const [name, endpoint] of Object.entries(targets.metadata)) {
  const put = await fetch(endpoint + 'latest/api/token', { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } }).catch((e) => ({ status: e.cause?.code ?? 'ERROR' }))
  let result = put.status
  if (put.status === 200) {
    const h = { 'x-aws-ec2-metadata-token': await put.text() }
    const role = (await (await fetch(endpoint + 'latest/meta-data/iam/security-credentials/', { headers: h })).text()).trim()
    const creds = await (await fetch(endpoint + 'latest/meta-data/iam/security-credentials/' + role, { headers: h })).json()
    result = creds.AccessKeyId ? 'CREDENTIALS ' + role : 'NO CREDENTIALS'
  }
  out.metadata[name] = result
}
// Redis in RESP by hand: as nobody, then as the upload service's own user (its URL is in its file).
const resp = (...args) => '*' + args.length + '\r\n' + args.map((a) => '$' + Buffer.byteLength(a) + '\r\n' + a + '\r\n').join('')
async function redis(port, commands) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(commands.map((c) => resp(...c)).join('')))
    let text = ''
    socket.on('data', (d) => { text += d; if (text.split('\r\n').filter((l) => /^[+-]/.test(l)).length >= commands.length) { socket.destroy(); resolve(text) } })
    socket.on('error', (e) => resolve(e.code))
    setTimeout(() => { socket.destroy(); resolve(text) }, 3000)
  })
}
if (targets.redis) {
  out.redis.anonymous = await redis(targets.redis.port, [['GET', targets.redis.verdictKey]])
  const url = new URL(readFileSync(process.env.REDIS_URL_FILE, 'utf8').trim())
  out.redis.asUpload = await redis(targets.redis.port, [['AUTH', decodeURIComponent(url.username), decodeURIComponent(url.password)], ['SET', targets.redis.verdictKey, '{"verdict":"VERIFIED"}'], ['DEL', targets.redis.readersKey], ['GET', targets.redis.verdictKey]])
}
process.stdout.write(JSON.stringify(out))
`

t.test('each service holds only its own instance role, rotated through IMDSv2; CloudTrail names the instance', { skip: !existsSync(AWS_CLI) && `AWS CLI v2 is not installed at ${AWS_CLI}` }, async (t) => {
  const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@kms-share/e2e^...', '--output-logs=errors-only'], { cwd: root, encoding: 'utf8' })
  t.equal(build.status, 0, build.stderr)

  const dir = t.testdir()
  const labDir = join(dir, 'lab')
  // The person running `pnpm start` has credentials of their own in ~/.aws: no service may pick them up.
  const personHome = join(dir, 'person')
  mkdirSync(join(personHome, '.aws'), { recursive: true })
  writeFileSync(join(personHome, '.aws', 'credentials'), '[default]\naws_access_key_id = AKIAPERSONALKEY00001\naws_secret_access_key = personal-secret\n')
  const [labPort, uploadPort, downloadPort, keyadminPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: personHome,
    LAB_DATA_DIR: labDir,
    CACHE_DIR: join(dir, 'cache'),
    REDIS_DATA_DIR: join(dir, 'redis'),
    LAB_PORT: String(labPort),
    UPLOAD_PORT: String(uploadPort),
    DOWNLOAD_PORT: String(downloadPort),
    KEYADMIN_PORT: String(keyadminPort),
    LOG_LEVEL: 'warn',
    LAB_IMDS_PORT_BASE: '0',
    // Short-lived instance credentials, so the test sees a rotation: replaced 3 s before they expire.
    LAB_IMDS_CREDENTIALS_TTL_SECONDS: '6',
  }
  delete env.INIT_CWD
  const child = spawn(process.execPath, [join(root, 'scripts/start.mjs'), '--no-build'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stack = await followStart(t, child)
  if (!stack.ready) return

  const endpoints = JSON.parse(readFileSync(join(labDir, 'endpoints.json'), 'utf8'))
  const listed = await (await fetch(`http://127.0.0.1:${labPort}/_lab/endpoints`)).json()
  t.same(listed, endpoints, 'GET /_lab/endpoints serves endpoints.json')
  const upload = `http://127.0.0.1:${uploadPort}`
  const download = `http://127.0.0.1:${downloadPort}`
  // Every process start.mjs runs but the lab is one of these, as this instance; a new one must be added here.
  const instanceOfScript: Record<string, keyof typeof roles> = {
    'services/upload/dist/server.js': 'uploader',
    'services/download/dist/server.js': 'downloader',
    'services/keyadmin/dist/server.js': 'keyadmin',
    'services/keyadmin/dist/worker.js': 'auditor',
  }
  const roles = { uploader: 'kms-share-uploader', downloader: 'kms-share-downloader', keyadmin: 'kms-share-keyadmin', auditor: 'kms-share-auditor' } as const
  const procs = childPids(child.pid!).filter((p) => !p.args.includes('packages/aws-lab/'))
  const labPid = childPids(child.pid!).find((p) => p.args.includes('packages/aws-lab/'))!.pid
  const serviceEnv: Record<string, Record<string, string>> = {}
  const servicePid: Record<string, number> = {}
  const serviceUid: Record<string, number> = {}
  const asRoot = process.getuid?.() === 0
  t.match(stack.output, asRoot ? /^\[start\] isolation: each service runs as a user of its own/m : /^\[start\] isolation: off — not root/m, 'one line says what isolation there is')
  t.ok(procs.some((p) => p.args.includes('services/upload/')) && procs.some((p) => p.args.includes('services/download/')), 'upload and download run as children of start.mjs')

  for (const proc of procs) {
    if (!proc.args.includes('services/')) {
      // Helpers start.mjs runs (its private redis-server) are no AWS clients: they get no AWS settings at all.
      const e = environOf(proc.pid)
      t.same(Object.keys(e).filter((k) => k.startsWith('AWS_')), [], `${proc.args}: no AWS variables`)
      t.same(Object.entries(e).filter(([, v]) => v.includes(labDir)), [], `${proc.args}: nothing points at the lab's data folder`)
      continue
    }
    const script = Object.keys(instanceOfScript).find((s) => proc.args.includes(s))
    t.ok(script, `${proc.args}: a known service with an instance of its own`)
    if (!script) continue
    const service = script.split('/')[1] + (script.endsWith('worker.js') ? '-worker' : '')
    const instanceName = instanceOfScript[script]
    const instance = endpoints.instances[instanceName]
    t.match(instance, { instanceId: /^i-0[0-9a-f]{16}$/, role: roles[instanceName], metadataEndpoint: /^http:\/\/127\.0\.0\.1:\d+\/$/ })
    const e = environOf(proc.pid)
    serviceEnv[service] = e
    servicePid[service] = proc.pid
    serviceUid[service] = uidOf(proc.pid)
    if (asRoot) {
      t.not(serviceUid[service], 0, `${service} does not run as root`)
      t.notOk(Object.entries(serviceUid).some(([other, uid]) => other !== service && uid === serviceUid[service]), `${service} has a user of its own`)
    }
    const secretNames = Object.keys(e).filter((k) => /SECRET|TOKENS|PASSWORD|PRIVATE|SIGNING/.test(k) && !k.endsWith('_FILE'))
    t.same(secretNames, [], `${service}: no secret in its environment, only *_FILE paths`)
    t.same(Object.keys(e).filter((k) => k.startsWith('AWS_')).sort(), ['AWS_EC2_METADATA_SERVICE_ENDPOINT', 'AWS_ENDPOINT_URL', 'AWS_REGION'], `${service}: only the metadata endpoint, the endpoint URL and the region`)
    t.equal(e.AWS_EC2_METADATA_SERVICE_ENDPOINT, instance.metadataEndpoint, `${service} reads ${instanceName}'s metadata`)
    t.same(Object.keys(e).filter((k) => k.startsWith('LAB_')), [], `${service} is told nothing about the lab's settings`)
    const pointsAtLab = Object.entries(e).filter(([, v]) => v.includes(labDir) || v.includes(personHome))
    t.same(pointsAtLab, [], `${service}: no variable points at the lab's data folder or the person's home`)
    t.not(e.HOME, personHome, `${service} has a home of its own`)
    t.notOk(existsSync(join(e.HOME, '.aws')), `${service}'s home holds no AWS files`)
    const openFiles = readdirSync(`/proc/${proc.pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${proc.pid}/fd/${fd}`) } catch { return '' } })
    t.same(openFiles.filter((f) => f.startsWith(labDir)), [], `${service} has none of the lab's files open`)

    // What the service holds, used by the AWS CLI as the service's user: the instance's role, nothing more.
    // People sign in through the lab's provider: each page service is its client, with its secret in a file of its own.
    if (service !== 'keyadmin-worker') {
      t.match(e, { OIDC_ISSUER: `https://127.0.0.1:${labPort}/oidc`, OIDC_CLIENT_ID: service, OIDC_AUDIENCE: 'urn:kms-share:api' }, `${service}: the lab's issuer, its client id, the API's audience`)
      t.ok(e.OIDC_CLIENT_SECRET_FILE?.startsWith(`${e.HOME}/`), `${service}: its OIDC client secret is in its own folder`)
      const secretStat = statSync(e.OIDC_CLIENT_SECRET_FILE)
      t.equal(secretStat.mode & 0o777, 0o600, `${service}: its OIDC client secret is 0600`)
      t.equal(secretStat.uid, serviceUid[service], `${service}: and its user's`)
    }
    const who = cli(e, ['sts', 'get-caller-identity'], serviceUid[service])
    t.equal(who.status, 0, who.stderr)
    t.equal(JSON.parse(who.stdout || '{}').Arn, `arn:aws:sts::111122223333:assumed-role/${roles[instanceName]}/${instance.instanceId}`, `${service} is ${roles[instanceName]} on ${instance.instanceId}`)
  }

  // Development tokens, when the services require them.
  const tokensFile = join(labDir, 'tokens.json')
  const tokens = existsSync(tokensFile) ? JSON.parse(readFileSync(tokensFile, 'utf8')) : {}
  const auth = (service: string): Record<string, string> => (tokens[service]?.token ? { authorization: `Bearer ${tokens[service].token}` } : {})

  const text = 'The KMS workshop sample file.\n'
  const put = await fetch(`${upload}/files/SampleFile-KMS.txt`, { method: 'PUT', body: text, headers: { 'content-type': 'text/plain', ...auth('upload') } })
  t.equal(put.status, 201, 'upload works with instance credentials')
  const got = await fetch(`${download}/files/SampleFile-KMS.txt`, { headers: auth('download') })
  t.equal(got.status, 200)
  t.equal(await got.text(), text, 'download works with instance credentials')

  if (serviceEnv.upload) {
    const stolen = join(serviceEnv.upload.HOME, 'stolen.txt')
    const read = cli(serviceEnv.upload, ['s3api', 'get-object', '--bucket', 'kmsworkshop-111122223333', '--key', 'SampleFile-KMS.txt', stolen], serviceUid.upload)
    t.not(read.status, 0, "with everything the upload service holds, the object can't be read")
    t.match(read.stderr, /AccessDenied/)
    t.notOk(existsSync(stolen))
  }

  await t.test("as the upload service's user with exactly its environment: nothing but its own", { skip: !asRoot && 'not root: every service runs as one user (the README says what that means)' }, async (t) => {
    const upload = serviceEnv.upload
    const secretsOf = (service: string) => Object.entries(serviceEnv[service]).filter(([k]) => k.endsWith('_FILE')).map(([, v]) => v)
    const others = ['download', 'keyadmin', 'keyadmin-worker']
    const othersSecrets = others.flatMap(secretsOf)
    t.ok(othersSecrets.some((f) => f.endsWith('audit-signing-key.pem')) && othersSecrets.some((f) => f.endsWith('mfa-credentials')) && othersSecrets.some((f) => f.endsWith('session-secret')), 'the secrets tried include the signing key, userA\'s profile and the session secrets')
    t.same(othersSecrets.filter((f) => f.endsWith('oidc-client-secret')), [serviceEnv.download.OIDC_CLIENT_SECRET_FILE, serviceEnv.keyadmin.OIDC_CLIENT_SECRET_FILE], "and download's and keyadmin's OIDC client secrets")
    const labFiles = filesUnder(labDir)
    t.ok(['credentials', 'tokens.json', 'tls/ca-key.pem', 'mfa/userA.otpauth', 'audit-keys/signing-key.pem'].every((f) => labFiles.includes(join(labDir, f))), "the lab's files include the profiles, tokens, CA key, MFA seed and audit key")
    const providerFiles = ['oidc/people.json', 'oidc/keys.json', 'oidc/client-secrets.json'].map((f) => join(labDir, f))
    t.ok(providerFiles.every((f) => labFiles.includes(f)), "and the OpenID Provider's people (passwords, TOTP seeds), signing keys and client secrets")
    for (const f of providerFiles) t.equal(statSync(f).mode & 0o777, 0o600, `${f.slice(labDir.length + 1)} is 0600`)
    t.ok(labFiles.some((f) => f.includes(`${join(labDir, 'state')}/`)), 'and its state (STS sessions among it)')
    const redisDir = join(dir, 'redis')
    const cacheFiles = filesUnder(join(dir, 'cache'))
    const listed = await (await fetch(`http://127.0.0.1:${labPort}/_lab/endpoints`)).json()
    const metadata = Object.fromEntries(Object.entries(listed.instances as Record<string, { metadataEndpoint: string }>).map(([name, i]) => [name, i.metadataEndpoint]))
    const redisPort = Number(new URL(readFileSync(secretsOf('keyadmin').find((f) => f.endsWith('redis-url'))!, 'utf8')).port)
    const targets = {
      files: [...labFiles, ...othersSecrets, ...filesUnder(redisDir), ...cacheFiles, ...secretsOf('upload')],
      dirs: [labDir, redisDir, join(dir, 'cache'), ...others.map((s) => serviceEnv[s].HOME)],
      pids: [labPid, ...others.map((s) => servicePid[s])],
      metadata,
      redis: { port: redisPort, verdictKey: 'kms-audit:verdict:kmsworkshop-111122223333/SampleFile-KMS.txt', readersKey: 'kms-audit:readers:kmsworkshop-111122223333/SampleFile-KMS.txt' },
    }
    // The upload service's own Node, its folder, its environment — nothing added.
    const node = readlinkSync(`/proc/${servicePid.upload}/exe`)
    const probe = spawnSync(node, ['--input-type=module', '-e', PROBE, JSON.stringify(targets)], { uid: serviceUid.upload, gid: serviceUid.upload, cwd: readlinkSync(`/proc/${servicePid.upload}/cwd`), env: upload, encoding: 'utf8', timeout: 60_000 })
    t.equal(probe.status, 0, probe.stderr)
    const got = JSON.parse(probe.stdout || '{}')

    for (const f of secretsOf('upload')) t.equal(got.files[f], 'READ', `its own ${f.split('/').pop()} is readable (the probe works)`)
    const readable = Object.entries(got.files as Record<string, string>).filter(([f, r]) => r === 'READ' && !secretsOf('upload').includes(f))
    t.same(readable, [], "no lab file (profiles, tokens, CA key, MFA seeds, STS state, audit key, the provider's people and keys), no other service's secret (OIDC client secrets among them), no Redis or cache file")
    t.same(Object.entries(got.dirs).filter(([, r]) => r === 'LISTED'), [], "no folder of the lab's, Redis's, the cache's or another service's can be listed")
    t.same(Object.values(got.environ), targets.pids.map(() => 'EACCES'), "the lab's, keyadmin's, the worker's and download's environments cannot be read")
    t.same(got.metadata, { workshop: 403, uploader: 'CREDENTIALS kms-share-uploader', downloader: 403, keyadmin: 403, auditor: 403 }, "every other instance's metadata refuses it; its own gives its role")
    const secretValues = [...others.flatMap(secretsOf), ...labFiles.filter((f) => f.endsWith('tokens.json')), ...providerFiles].flatMap((f) => readFileSync(f, 'utf8').split(/[\s"'=]+/)).filter((v) => v.length >= 20)
    t.same(secretValues.filter((v) => got.cmdlines.includes(v)), [], 'no secret on any command line')
    t.match(got.redis.anonymous, /^-NOAUTH/, 'Redis without a password: nothing')
    t.match(got.redis.asUpload, /^\+OK\r\n-NOPERM.*\r\n-NOPERM.*\r\n-NOPERM/, 'Redis as the upload service: no verdict written, no readers evidence deleted, not even a verdict read')
    t.equal(statSync(labDir).mode & 0o777, 0o700, "the lab's data folder is its user's alone")
  })

  // CloudTrail, read by the person (admin profile from the lab's files, which no service has).
  const person = { HOME: personHome, AWS_SHARED_CREDENTIALS_FILE: join(labDir, 'credentials'), AWS_CONFIG_FILE: join(labDir, 'config'), AWS_PROFILE: 'admin', AWS_ENDPOINT_URL: `http://127.0.0.1:${labPort}` }
  const eventsOf = (username: string) => {
    const r = cli(person, ['cloudtrail', 'lookup-events', '--lookup-attributes', `AttributeKey=Username,AttributeValue=${username}`])
    t.equal(r.status, 0, r.stderr)
    return (JSON.parse(r.stdout || '{"Events":[]}').Events as Array<{ CloudTrailEvent: string }>).map((e) => JSON.parse(e.CloudTrailEvent))
  }
  const downloaderId = endpoints.instances.downloader.instanceId
  const downloads = eventsOf(downloaderId)
  t.ok(downloads.some((e) => e.eventName === 'Decrypt'), "the download's Decrypt (through S3) is recorded")
  for (const e of downloads) {
    t.equal(e.userIdentity.arn, `arn:aws:sts::111122223333:assumed-role/kms-share-downloader/${downloaderId}`, `${e.eventName} names the downloader's instance`)
    t.equal(e.userIdentity.sessionContext?.ec2RoleDelivery, '2.0', `${e.eventName}: credentials delivered by IMDSv2`)
  }

  // Rotation: wait past the first credentials' lifetime; the service fetches new ones and keeps working.
  const uploaderId = endpoints.instances.uploader.instanceId
  const keysBefore = new Set(eventsOf(uploaderId).filter((e) => e.eventName === 'GenerateDataKey').map((e) => e.userIdentity.accessKeyId))
  t.equal(keysBefore.size, 1, 'one uploader access key so far')
  await new Promise((r) => setTimeout(r, 7_000))
  const again = await fetch(`${upload}/files/SampleFile-KMS-2.txt`, { method: 'PUT', body: text, headers: { 'content-type': 'text/plain', ...auth('upload') } })
  t.equal(again.status, 201, 'upload still works after its first credentials expired')
  const after = eventsOf(uploaderId).filter((e) => e.eventName === 'GenerateDataKey')
  const keysAfter = new Set(after.map((e) => e.userIdentity.accessKeyId))
  t.ok(keysAfter.size >= 2, 'the second upload signed with rotated credentials')
  t.ok(after.every((e) => e.userIdentity.arn === `arn:aws:sts::111122223333:assumed-role/kms-share-uploader/${uploaderId}`), 'same role, same instance')

  const homes = Object.values(serviceEnv).map((e) => e.HOME)
  child.kill('SIGINT')
  const code = await Promise.race([stack.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))])
  t.equal(code, 0, 'SIGINT stops everything cleanly')
  t.same(homes.filter((h) => existsSync(h)), [], "the instances' homes are removed")
})
