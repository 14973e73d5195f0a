// startTestLab serves TLS by default, as `pnpm start` and AWS do, and the test process trusts that lab's
// CA (tls.setDefaultCACertificates) while still refusing any other certificate: verification stays on.
// Spawned processes get the CA through labTrustEnv (AWS_CA_BUNDLE for the CLI, NODE_EXTRA_CA_CERTS for Node).
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { get } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms'
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3'
import t from 'tap'
import { startLab } from '../src/app.js'
import { awsCli, chromiumTrustArgs, cliInstanceEnv, cliProfileEnv, labProfileEnv, labTrustEnv, startTestLab } from '../src/testing.js'

const exec = promisify(execFile)
const CERTIFICATE_REFUSED = /self[- ]signed|unable to (get|verify)|certificate/i

// A TLS lab the process was never told to trust (started without the test helper).
const strangerDir = mkdtempSync(join(tmpdir(), 'lab-stranger-'))
const stranger = await startLab({ dataDir: strangerDir, port: 0, quiet: true, tls: true })
t.teardown(async () => {
  await stranger.close()
  rmSync(strangerDir, { recursive: true, force: true })
})
const lab = await startTestLab(t)
const sdk = { region: lab.region, maxAttempts: 1, forcePathStyle: true }

t.test('TLS by default: https endpoint, CA file, ca_bundle in the config file', async (t) => {
  t.match(lab.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/)
  t.ok(lab.caFile)
  t.same(labTrustEnv(lab), { AWS_CA_BUNDLE: lab.caFile, NODE_EXTRA_CA_CERTS: lab.caFile })
  t.match(labProfileEnv(lab, 'admin'), { AWS_ENDPOINT_URL: lab.endpoint, AWS_CA_BUNDLE: lab.caFile, NODE_EXTRA_CA_CERTS: lab.caFile })
  t.match(cliInstanceEnv(lab, 'workshop', t.testdir()), { AWS_CA_BUNDLE: lab.caFile })
})

t.test('in-process clients with no CA options trust the lab: SDK v3, fetch, https.get', async (t) => {
  const env = labProfileEnv(lab, 'admin')
  const { fromIni } = await import('@aws-sdk/credential-providers')
  const credentials = fromIni({ filepath: env.AWS_SHARED_CREDENTIALS_FILE, configFilepath: env.AWS_CONFIG_FILE, profile: 'admin' })
  t.ok((await new KMSClient({ ...sdk, endpoint: lab.endpoint, credentials }).send(new ListAliasesCommand({}))).Aliases?.length, 'KMS over https')
  t.ok((await new S3Client({ ...sdk, endpoint: lab.endpoint, credentials }).send(new ListBucketsCommand({}))).Buckets?.length, 'S3 over https')
  const res = await fetch(`${lab.endpoint}/_lab/ca.pem`, { signal: AbortSignal.timeout(10_000) })
  t.equal(res.status, 200, 'global fetch')
  const status = await new Promise<number | undefined>((resolve, reject) => get(`${lab.endpoint}/_lab/ca.pem`, (r) => resolve(r.resume().statusCode)).on('error', reject))
  t.equal(status, 200, 'https.get')
})

t.test('verification stays on: a TLS server whose CA the process was not given is refused', async (t) => {
  await t.rejects(fetch(`${stranger.endpoint}/_lab/ca.pem`, { signal: AbortSignal.timeout(10_000) }), { cause: { message: CERTIFICATE_REFUSED } }, 'fetch')
  const kms = new KMSClient({ ...sdk, endpoint: stranger.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } })
  await t.rejects(kms.send(new ListAliasesCommand({})), CERTIFICATE_REFUSED, 'SDK v3')
})

t.test('spawned processes: the CLI with cliProfileEnv, Node with NODE_EXTRA_CA_CERTS', async (t) => {
  const home = t.testdir()
  const cli = await awsCli(['kms', 'list-aliases'], cliProfileEnv(lab, 'admin', home))
  t.equal(cli.code, 0, cli.stderr)
  const untrusted = await awsCli(['kms', 'list-aliases'], { ...cliProfileEnv(stranger, 'admin', home), AWS_CA_BUNDLE: lab.caFile! })
  t.not(untrusted.code, 0, 'the CLI refuses a lab whose CA it was not given')
  t.match(untrusted.stderr, /SSL|certificate/i)
  const script = 'const r = await fetch(process.argv[1], { signal: AbortSignal.timeout(10000) }); console.log(r.status)'
  const node = await exec(process.execPath, ['--input-type=module', '-e', script, `${lab.endpoint}/_lab/ca.pem`], { env: { PATH: '/usr/bin:/bin', ...labTrustEnv(lab) }, timeout: 30_000 })
  t.equal(node.stdout.trim(), '200', 'a Node child trusts the lab through NODE_EXTRA_CA_CERTS')
})

t.test('Chromium is told to accept the lab certificate only (by its key), nothing for plain HTTP', async (t) => {
  const [arg] = chromiumTrustArgs(lab)
  t.match(arg, /^--ignore-certificate-errors-spki-list=[A-Za-z0-9+/]{43}=$/)
  t.not(chromiumTrustArgs(stranger)[0], arg, 'each lab has its own key')
  t.same(chromiumTrustArgs({ caFile: undefined }), [])
})

t.test('tls: false gives a plain-HTTP lab and no trust variables', async (t) => {
  const plain = await startTestLab(t, { tls: false })
  t.match(plain.endpoint, /^http:\/\//)
  t.equal(plain.caFile, undefined)
  t.same(labTrustEnv(plain), {})
})
