// `@kms-share/aws-lab/testing`: the one way tests start a lab — port 0, quiet, in the test's own
// folder, closed at teardown — and what tests around it share (AWS CLI v2 runs, free ports).
// Structural test type, so the lab needs no test runner to build.
import { execFile } from 'node:child_process'
import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import { closeSync, cpSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import * as tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { TOTP, URI } from 'otpauth'
import { DEFAULT_SEED_FILE, SEED_WITHOUT_STACKS, startLab, WORKSPACE_TEMPLATE_DIR, type Lab, type LabOptions } from './app.js'

export { labPeople, TestBrowser, totpCode, type BrowserPage, type LabPerson } from './testing-browser.js'

/** What the helper needs from a test (tap's `t` fits). */
export interface LabTest {
  testdir(): string
  teardown(fn: () => unknown): void
}

export interface TestLabOptions extends Partial<LabOptions> {
  /** Rewrites the default seed's YAML text before the lab reads it (e.g. add a VPC endpoint). */
  seed?: (text: string) => string
}

/**
 * A fresh lab on a free port, its data in `t.testdir()` unless `dataDir` says otherwise; closed at teardown.
 * It serves HTTPS (`tls: true`) unless told `tls: false`, as `pnpm start` and AWS do, and this process
 * trusts its CA from then on (`trustLabCa`): SDK clients and fetch reach `lab.endpoint` with no options.
 * It deploys the seed's stacks from infra's synthesized templates (the roles, bucket and instances the services
 * use) unless `deploy` says otherwise (`false`: a test that deploys them itself).
 */
export async function startTestLab(t: LabTest, options: TestLabOptions = {}): Promise<Lab> {
  const { seed, ...rest } = options
  // Registered before t.testdir() is first asked for: tap runs teardowns in the order they were registered, so the lab
  // closes before tap removes its folder (removing it under a running lab fails with ENOTEMPTY and skips the rest).
  const started: { lab?: Lab } = {}
  t.teardown(() => started.lab?.close())
  const where = seeded(t, rest, seed)
  if (rest.deploy === undefined) {
    if (!existsSync(WORKSPACE_TEMPLATE_DIR)) throw new Error(`startTestLab: no templates in ${WORKSPACE_TEMPLATE_DIR} — \`pnpm build\` synthesizes them (infra's build runs cdk synth)`)
    rest.deploy = { templateDir: WORKSPACE_TEMPLATE_DIR }
    // A new data folder starts from the run's deployed snapshot: the start then finds every stack as its template says.
    if (!rest.reset && !existsSync(join(where.dataDir, 'state'))) {
      cpSync(await deployedSnapshot(where.seedFile ?? rest.seedFile ?? DEFAULT_SEED_FILE, Boolean(rest.defaultKeyPolicy)), where.dataDir, { recursive: true })
    }
  }
  const lab = await startLab({ port: 0, quiet: true, tls: true, ...rest, ...where })
  started.lab = lab
  if (lab.caFile) trustLabCa(lab.caFile)
  return lab
}

/**
 * For tests whose subject is the lab's or KMS's mechanics (SSE-S3 objects, keys of their own in the bucket, the
 * seed's instances in the seed's VPC), not the deployment: no stacks deployed, and the seed that makes the service
 * roles, their instances and a bucket with no policy itself (seed/without-stacks.yaml).
 */
export const WITHOUT_STACKS: Pick<LabOptions, 'deploy' | 'seedFile'> = { deploy: false, seedFile: SEED_WITHOUT_STACKS }

const SNAPSHOTS = join(tmpdir(), 'kms-share-lab-snapshots')
let buildHash: string | undefined
/** The lab's own build (every file of dist/), so a snapshot never outlives the code that made it. */
function labBuildHash(): string {
  if (buildHash) return buildHash
  const hash = createHash('sha256')
  const dist = dirname(fileURLToPath(import.meta.url))
  for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort()) hash.update(entry).update(readFileSync(entry))
  buildHash = hash.digest('hex')
  return buildHash
}

/**
 * A data folder seeded from `seedFile` with the workspace's stacks deployed (deploying them takes seconds, a start
 * that finds them deployed milliseconds), made once per machine for each seed, key policy choice, template set and
 * lab build (the hash of all four names it), in the system's temporary folder; concurrent test processes race to
 * make it and the first rename wins.
 */
async function deployedSnapshot(seedFile: string, defaultKeyPolicy: boolean): Promise<string> {
  const hash = createHash('sha256').update(labBuildHash()).update(readFileSync(seedFile)).update(String(defaultKeyPolicy))
  for (const name of readdirSync(WORKSPACE_TEMPLATE_DIR).filter((n) => n.endsWith('.template.json')).sort()) hash.update(name).update(readFileSync(join(WORKSPACE_TEMPLATE_DIR, name)))
  const dir = join(SNAPSHOTS, hash.digest('hex').slice(0, 32))
  if (existsSync(join(dir, 'state'))) return dir
  mkdirSync(SNAPSHOTS, { recursive: true })
  const building = mkdtempSync(`${dir}.building-`)
  try {
    const lab = await startLab({ dataDir: building, port: 0, quiet: true, seedFile, defaultKeyPolicy, deploy: { templateDir: WORKSPACE_TEMPLATE_DIR } })
    await lab.close()
    renameSync(building, dir)
  } catch (err) {
    rmSync(building, { recursive: true, force: true })
    // Another process's rename came first: theirs is the same snapshot.
    if (!existsSync(join(dir, 'state'))) throw err
  }
  return dir
}

// Node ≥ 24.5 / 22.19; @types/node 20 does not declare them yet.
interface CaStore {
  getCACertificates(type?: 'default' | 'bundled' | 'system' | 'extra'): string[]
  setDefaultCACertificates(certs: string[]): void
}

/**
 * This process's TLS clients that bring no CA of their own (AWS SDK v3's https agents, fetch, https.get)
 * trust the CA in `caFile` besides the ones they trusted already; verification stays on. Connections made
 * before keep what they had.
 */
export function trustLabCa(caFile: string): void {
  const store = tls as unknown as Partial<CaStore>
  if (!store.getCACertificates || !store.setDefaultCACertificates) throw new Error(`trusting a test lab's CA needs tls.setDefaultCACertificates (Node ≥ 22.19 or ≥ 24.5); this is Node ${process.version}`)
  store.setDefaultCACertificates([...store.getCACertificates('default'), readFileSync(caFile, 'utf8')])
}

/**
 * What a spawned process needs to trust a TLS lab: AWS_CA_BUNDLE for the AWS CLI (and other SDKs),
 * NODE_EXTRA_CA_CERTS for Node (services, workers); nothing for a plain-HTTP lab.
 */
export function labTrustEnv(lab: Pick<Lab, 'caFile'>): Record<string, string> {
  return lab.caFile ? { AWS_CA_BUNDLE: lab.caFile, NODE_EXTRA_CA_CERTS: lab.caFile } : {}
}

/**
 * Chromium launch arguments that accept the TLS lab's own server certificate (by the SHA-256 of its
 * public key) and no other certificate error; none for a plain-HTTP lab.
 */
export function chromiumTrustArgs(lab: Pick<Lab, 'caFile'>): string[] {
  if (!lab.caFile) return []
  // The lab keeps its server certificate beside the CA (core/tls.ts).
  const cert = new X509Certificate(readFileSync(join(dirname(lab.caFile), 'server.pem')))
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' })
  return [`--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`]
}

// With a seed edit, the test folder holds the edited seed and the lab's data beside it.
function seeded(t: LabTest, options: Partial<LabOptions>, seed: TestLabOptions['seed']): Pick<LabOptions, 'dataDir' | 'seedFile'> & { dataDir: string } {
  if (!seed) return { dataDir: options.dataDir ?? t.testdir() }
  const dir = t.testdir()
  const seedFile = join(dir, 'seed.yaml')
  writeFileSync(seedFile, seed(readFileSync(options.seedFile ?? DEFAULT_SEED_FILE, 'utf8')))
  return { dataDir: options.dataDir ?? join(dir, 'lab'), seedFile }
}

/** What `eventually` waits for: anything but undefined, null or false. */
export type Settled<R> = Exclude<Awaited<R>, undefined | null | false>

/**
 * The one way tests wait for something to happen: polls `check` (every 25 ms, backing off to 250 ms)
 * until it answers other than undefined, null or false, and returns that answer; after `timeoutMs`
 * it checks once more and then throws naming `what`. An error `check` throws fails at once.
 */
export async function eventually<R>(check: () => R | Promise<R>, what: string, timeoutMs = 10_000): Promise<Settled<R>> {
  const end = Date.now() + timeoutMs
  for (let pause = 25; ; pause = Math.min(pause * 2, 250)) {
    const answer = await check()
    if (answer !== undefined && answer !== null && answer !== false) return answer as Settled<R>
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(1, end - Date.now()))))
  }
}

/** The standard AWS variables for a lab profile (SDK and CLI read the lab's generated files), with the lab's CA for a spawned process. */
export function labProfileEnv(lab: Lab, profile: string): Record<string, string> {
  return {
    AWS_PROFILE: profile,
    AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile,
    AWS_CONFIG_FILE: lab.configFile,
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
    ...labTrustEnv(lab),
  }
}

/** Writes `size` bytes in 1 MiB writes to a new file in `dir`, fsyncs and removes it: the disk's ceiling for the benchmarks. Returns the seconds of the write and fsync. */
export function fsyncedWrite(dir: string, size: number): number {
  const path = join(dir, `disk-${randomBytes(4).toString('hex')}.bin`)
  const block = randomBytes(1024 * 1024)
  const started = performance.now()
  const fd = openSync(path, 'wx')
  try {
    for (let written = 0; written < size; written += block.length) writeSync(fd, block, 0, Math.min(block.length, size - written))
    fsyncSync(fd)
    return (performance.now() - started) / 1000
  } finally {
    closeSync(fd)
    rmSync(path, { force: true })
  }
}

/** A port free right now, for processes that must be told their port up front. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * The bucket and key the lab's deployed data stack made or took (its `BucketName` and `KeyArn` outputs): what the
 * services are configured with. The key goes by ARN: the bucket policy refuses puts that name it another way.
 */
export function labDeployment(lab: Pick<Lab, 'deployed'>): { bucket: string; keyArn: string } {
  const data = lab.deployed.find((s) => s.stackName === 'KmsShareData')
  if (!data?.outputs.BucketName || !data.outputs.KeyArn) throw new Error(`the lab deployed no KmsShareData stack (it deployed: ${lab.deployed.map((s) => s.stackName).join(', ') || 'none'})`)
  return { bucket: data.outputs.BucketName, keyArn: data.outputs.KeyArn }
}

/** One of the lab's EC2 instances by its name (the seed's, or a deployed instance's Name tag). */
export function labInstance(lab: Lab, name: string): ReturnType<Lab['instances']>[number] {
  const found = lab.instances().find((i) => i.name === name)
  if (!found) throw new Error(`no lab instance ${name}`)
  return found
}

export const AWS_CLI = '/usr/bin/aws'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  /** stdout parsed, when it is JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the CLI's answers are untyped JSON that tests read field by field
  json: any
}

/** AWS CLI v2 with only the given AWS variables (nothing from this process's environment), 90 s at most. */
export function awsCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    // Debian's CLI (2.9) predates AWS_ENDPOINT_URL and profile endpoint_url: the endpoint goes on the command line.
    const endpoint = !args.includes('--endpoint-url') && env.AWS_ENDPOINT_URL ? ['--endpoint-url', env.AWS_ENDPOINT_URL] : []
    execFile(AWS_CLI, [...args, ...endpoint, '--output', 'json'], {
      env: { PATH: '/usr/bin:/bin', HOME: env.HOME ?? '/nonexistent', AWS_PAGER: '', AWS_MAX_ATTEMPTS: '1', AWS_METADATA_SERVICE_TIMEOUT: '5', ...env },
      timeout: 90_000,
      maxBuffer: 4 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      let json: unknown
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined
      } catch {
        json = undefined
      }
      resolve({ code, stdout, stderr, json })
    })
  })
}

/** CLI environment for a lab profile, with `home` as HOME (people and the CLI use the lab's profiles file). */
export function cliProfileEnv(lab: Lab, profile: string, home: string): Record<string, string> {
  return { HOME: home, ...labProfileEnv(lab, profile) }
}

/** CLI environment on a lab instance: credentials from its metadata only, as on EC2. */
export function cliInstanceEnv(lab: Lab, name: string, home: string): Record<string, string> {
  return {
    HOME: home,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: labInstance(lab, name).metadataEndpoint,
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
    ...labTrustEnv(lab),
  }
}

/** A TOTP code of a lab user's virtual MFA device (the lab writes its otpauth:// URI), `offsetPeriods` 30-second steps from now. */
export function mfaCode(lab: Pick<Lab, 'mfaDir'>, user = 'userA', offsetPeriods = 0): string {
  const totp = URI.parse(readFileSync(join(lab.mfaDir, `${user}.otpauth`), 'utf8').trim())
  if (!(totp instanceof TOTP)) throw new Error(`${user}: not a TOTP device`)
  return totp.generate({ timestamp: Date.now() + offsetPeriods * 30_000 })
}

const lastStep = new Map<string, number>()
/**
 * A code STS will accept now: each code works once (a replayed or older one is refused, as in AWS),
 * and a code is valid in its 30-second window and the neighbours, so this may wait for the next window.
 */
export async function nextMfaCode(lab: Pick<Lab, 'mfaDir'>, user = 'userA'): Promise<string> {
  const device = `${lab.mfaDir}/${user}`
  const now = Date.now()
  const current = Math.floor(now / 30_000)
  // The previous window's code is still good, so three codes come without a wait; not in a window's
  // last 2 s, though, lest the window pass before the code reaches STS.
  const earliest = now % 30_000 < 28_000 ? current - 1 : current
  const step = Math.max(earliest, (lastStep.get(device) ?? -Infinity) + 1)
  if (step > current + 1) await new Promise((r) => setTimeout(r, (step - 1) * 30_000 - Date.now() + 200))
  lastStep.set(device, step)
  return mfaCode(lab, user, step - Math.floor(Date.now() / 30_000))
}
