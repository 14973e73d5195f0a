// `pnpm start` runs each service as its own lab instance: a service's environment and the files
// it can be pointed at give it no credentials but its own role's, delivered through its
// instance's metadata (IMDSv2), which rotate while the service keeps working; its calls appear
// in CloudTrail as assumed-role/<role>/<instance id>.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AWS_CLI, freePort } from '@kms-share/aws-lab/testing'

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

/** AWS CLI v2 with exactly `env` (plus PATH): what the service itself could do with what it holds. */
function cli(env: Record<string, string>, args: string[]) {
  // Debian's AWS CLI predates AWS_ENDPOINT_URL, so the endpoint goes on the command line.
  const endpoint = env.AWS_ENDPOINT_URL ? ['--endpoint-url', env.AWS_ENDPOINT_URL] : []
  // The service trusts the lab's CA through NODE_EXTRA_CA_CERTS; the CLI reads the same file as AWS_CA_BUNDLE.
  const trust = env.NODE_EXTRA_CA_CERTS ? { AWS_CA_BUNDLE: env.NODE_EXTRA_CA_CERTS } : {}
  return spawnSync(AWS_CLI, [...args, ...endpoint, '--output', 'json'], { env: { ...env, ...trust, PATH: '/usr/bin:/bin', AWS_PAGER: '' }, encoding: 'utf8', timeout: 60_000 })
}

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
  let output = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 120_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('[start] ready:')) { clearTimeout(timer); resolve(true) }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    void exited.then(() => resolve(false))
  })
  t.ok(ready, 'the stack reports ready')
  if (!ready) { t.comment(output); return }

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
  const serviceEnv: Record<string, Record<string, string>> = {}
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
    t.same(Object.keys(e).filter((k) => k.startsWith('AWS_')).sort(), ['AWS_EC2_METADATA_SERVICE_ENDPOINT', 'AWS_ENDPOINT_URL', 'AWS_REGION'], `${service}: only the metadata endpoint, the endpoint URL and the region`)
    t.equal(e.AWS_EC2_METADATA_SERVICE_ENDPOINT, instance.metadataEndpoint, `${service} reads ${instanceName}'s metadata`)
    t.same(Object.keys(e).filter((k) => k.startsWith('LAB_')), [], `${service} is told nothing about the lab's settings`)
    const pointsAtLab = Object.entries(e).filter(([, v]) => v.includes(labDir) || v.includes(personHome))
    t.same(pointsAtLab, [], `${service}: no variable points at the lab's data folder or the person's home`)
    t.not(e.HOME, personHome, `${service} has a home of its own`)
    t.notOk(existsSync(join(e.HOME, '.aws')), `${service}'s home holds no AWS files`)
    const openFiles = readdirSync(`/proc/${proc.pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${proc.pid}/fd/${fd}`) } catch { return '' } })
    t.same(openFiles.filter((f) => f.startsWith(labDir)), [], `${service} has none of the lab's files open`)

    // What the service holds, used by the AWS CLI: the instance's role, nothing more.
    const who = cli(e, ['sts', 'get-caller-identity'])
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
    const read = cli(serviceEnv.upload, ['s3api', 'get-object', '--bucket', 'kmsworkshop-111122223333', '--key', 'SampleFile-KMS.txt', join(dir, 'stolen.txt')])
    t.not(read.status, 0, "with everything the upload service holds, the object can't be read")
    t.match(read.stderr, /AccessDenied/)
    t.notOk(existsSync(join(dir, 'stolen.txt')))
  }

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
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))])
  t.equal(code, 0, 'SIGINT stops everything cleanly')
  t.same(homes.filter((h) => existsSync(h)), [], "the instances' homes are removed")
})
