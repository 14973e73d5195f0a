// Issue 22, row 3: an error that escapes one request (a throw in a timer, an 'error' event nobody
// listens to, a rejection nobody handles) never stops a process. The real entry points — the lab's
// server.js, each service's server.js and the audit worker's worker.js — run as child processes with
// a preload (test/fixtures/fault-*.mjs) that plants such a bug; the request gets a 500 (problem+json
// on the services, AWS's InternalFailure on the lab), the error is logged, and the process answers on.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DescribeKeyCommand, GenerateRandomCommand, KMSClient } from '@aws-sdk/client-kms'
import { startRedis } from './audit-helpers.js'
import { runService, until } from './child-processes.js'
import { awsEnv, BUCKET, freePort, KEY_ALIAS, labDeployment, startTestLab } from './helpers.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const fixture = (name: string) => join(root, 'e2e', 'test', 'fixtures', name)

// Each entry point runs with a fault planted by its preload (fixtures/fault-*.mjs); killed outright at teardown.
const run = (t: Tap, script: string, preload: string, env: Record<string, string>) => runService(t, script, env, { preload, stopSignal: 'SIGKILL' })
type Tap = Pick<typeof t, 'teardown'>

const healthy = (url: string) => async () => ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined)

t.test('the lab: an operation whose error escapes gets InternalFailure; the lab answers on', async (t) => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'kms-uncaught-lab-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const lab = run(t, 'packages/aws-lab/dist/server.js', fixture('fault-lab.mjs'), { LAB_PORT: String(port), LAB_DATA_DIR: dir, LAB_IMDS_PORT_BASE: '0' })
  const endpoint = `http://127.0.0.1:${port}`
  const { credentialsFile, configFile } = await until('lab start', async () => {
    const res = await fetch(`${endpoint}/_lab/endpoints`)
    return res.ok ? { credentialsFile: join(dir, 'credentials'), configFile: join(dir, 'config') } : undefined
  }, lab)
  const { fromIni } = await import('@aws-sdk/credential-providers')
  const kms = new KMSClient({ region: 'eu-west-1', endpoint, maxAttempts: 1, credentials: fromIni({ profile: 'admin', filepath: credentialsFile, configFilepath: configFile }) })
  t.teardown(() => kms.destroy())

  const failed = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 13 })).then(() => undefined, (err: { name: string; $metadata: { httpStatusCode?: number } }) => err)
  t.equal(failed?.$metadata.httpStatusCode, 500)
  t.equal(failed?.name, 'InternalFailure', "answered in KMS's own format")
  t.ok(lab.alive(), 'the lab still runs')
  t.equal((await kms.send(new GenerateRandomCommand({ NumberOfBytes: 12 }))).Plaintext?.length, 12, 'and answers the next request')
  t.ok((await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))).KeyMetadata?.KeyId)
  t.match(lab.output(), /uncaught error in a request: answered 500; the lab carries on/)
})

t.test('each service: a request whose error escapes gets a 500 problem; the service answers on', async (t) => {
  const lab = await startTestLab(t)
  const services = [
    { name: 'upload', script: 'services/upload/dist/server.js', env: { ...awsEnv(lab, 'uploader'), KMS_KEY_ID: labDeployment(lab).keyArn } },
    { name: 'download', script: 'services/download/dist/server.js', env: { ...awsEnv(lab, 'downloader'), CACHE_DIR: mkdtempSync(join(tmpdir(), 'kms-uncaught-cache-')) } },
    { name: 'keyadmin', script: 'services/keyadmin/dist/server.js', env: awsEnv(lab, 'keyadmin') },
  ]
  for (const service of services) {
    const port = await freePort()
    const child = run(t, service.script, fixture('fault-routes.mjs'), { ...service.env, BUCKET, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' })
    const url = `http://127.0.0.1:${port}`
    await until(`${service.name} start`, healthy(url), child)
    for (const kind of ['timer', 'emitter', 'rejection']) {
      const res = await fetch(`${url}/healthz`, { headers: { 'x-fault': kind }, signal: AbortSignal.timeout(10_000) })
      const body = await res.json() as { status?: number; code?: string; detail?: string }
      t.equal(res.status, 500, `${service.name}, ${kind}: 500`)
      t.match(res.headers.get('content-type'), /application\/problem\+json/)
      t.notMatch(JSON.stringify(body), /fault:/, 'the error message stays in the log')
      t.ok(child.alive(), `${service.name} still runs after the ${kind} fault`)
      t.equal((await fetch(`${url}/healthz`)).status, 200, `${service.name} answers the next request`)
    }
    t.match(child.output(), /uncaught error in a request: answered 500; the process carries on/, `${service.name} logged it`)
    t.match(child.output(), /fault: thrown outside any request/, `${service.name} logged the error outside any request`)
  }
})

t.test('the audit worker: errors escaping its work are logged; it runs on', async (t) => {
  const lab = await startTestLab(t)
  const redis = await startRedis(t)
  const worker = run(t, 'services/keyadmin/dist/worker.js', fixture('fault-worker.mjs'), { ...awsEnv(lab, 'auditor'), BUCKET, REDIS_URL: redis.urls.worker, AUDIT_SIGNING_KEY: redis.keys.signingKey, LOG_LEVEL: 'info' })
  await until('worker start', async () => (/audit worker started/.test(worker.output()) ? true : undefined), worker)
  await until('both faults logged', async () => (/fault: a rejection in the worker/.test(worker.output()) ? true : undefined), worker)
  t.match(worker.output(), /fault: thrown in the worker/)
  t.match(worker.output(), /uncaught error outside any request; the process carries on/)
  await new Promise((r) => setTimeout(r, 300))
  t.ok(worker.alive(), 'the worker still runs')
})
