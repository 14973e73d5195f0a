// startLab: build the lab (state, models, services, router), seed it on first start, write the
// shared credentials/config files and MFA URIs, and listen. Never reads process.env (server.ts does).
import { randomUUID } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FileStateStore, writeFileAtomic } from './core/store.js'
import { DEFAULT_ACCOUNT_ID, DEFAULT_REGION } from './core/arn.js'
import { CredentialResolver } from './core/identity.js'
import { Router, type VpcEndpointInfo } from './core/router.js'
import { inRequestScope } from './core/guard.js'
import { createJsonProtocol } from './core/protocols/json.js'
import { createQueryProtocol } from './core/protocols/query.js'
import { applySeedAfterDeploy, loadSeed, reapplyDefinitions, runSeed, seedEc2, type LabSection, type SeedFile } from './core/seed.js'
import type { Caller, ProtocolHandler, RequestMeta, ServiceDefinition } from './core/types.js'
import { IamModel } from './iam/model.js'
import { createIamService } from './iam/service.js'
import { StsModel, totpFor } from './sts/model.js'
import { createStsService } from './sts/service.js'
import { TrailStore } from './cloudtrail/trail.js'
import { createCloudTrailService } from './cloudtrail/service.js'
import { createKmsService } from './kms/service.js'
import { createS3 } from './s3/service.js'
import { Ec2Model } from './ec2/model.js'
import { createEc2Service } from './ec2/service.js'
import { createEc2Protocol } from './ec2/protocol.js'
import { InstanceMetadataService, type InstanceEndpoint } from './imds/server.js'
import { parsePolicyText } from './iam/model.js'
import type { LabOidc } from './oidc/provider.js'
import type { LabOidcOptions } from './oidc/config.js'
import { SsmModel } from './ssm/model.js'
import { AutoScalingModel } from './autoscaling/model.js'
import { createAutoScalingService } from './autoscaling/service.js'
import { createSsmService } from './ssm/service.js'
import { createCloudFormation } from './cloudformation/service.js'
import type { CloudFormationEngine } from './cloudformation/engine.js'
import { deployStacks, type DeployedStack, type DeploySpec } from './cloudformation/deploy.js'

export interface LabOptions {
  dataDir: string
  host?: string
  /** 0 = any free port. */
  port?: number
  seedFile?: string
  /** Start over from the seed, discarding the data folder's contents. */
  reset?: boolean
  quiet?: boolean
  /** More services (e.g. EC2) and protocol handlers to register; protocols here are asked before the built-in ones. */
  extraServices?: ServiceDefinition[]
  extraProtocols?: ProtocolHandler[]
  /** CloudTrail events become visible to LookupEvents only this many seconds after they happen (AWS: minutes); default 0. */
  cloudTrailDelaySeconds?: number
  /** First instance metadata port; the other instances follow in seed order. 0 (default) = any free port for each. */
  imdsPortBase?: number
  /** Host name clients use for the metadata endpoints when it differs from `host` (compose: the lab's service name). */
  imdsAdvertisedHost?: string
  /** Lifetime of role credentials served through instance metadata (default six hours). */
  imdsCredentialsTtlSeconds?: number
  /** Metadata listen address by instance name (`*`: the rest; default `host`): compose binds each on its service's network. */
  imdsBind?: Record<string, string>
  /** Serve each instance's metadata only to local connections of this uid (by instance name, `*`: the rest; unlisted: the lab's own uid). */
  imdsOwners?: Record<string, number>
  /** How long a new VPC endpoint stays pending (default 2 s). */
  vpcEndpointPendingMs?: number
  /**
   * Also serve HTTPS on the same port, with a CA generated into `dataDir/tls` (`lab.caFile`); `endpoint`
   * becomes https://, and SSE-KMS over plain HTTP is then refused as AWS refuses it. `hostnames`: extra
   * names for the server certificate (compose: the lab's service name).
   */
  tls?: boolean | { hostnames?: string[] }
  /**
   * Also serve an OpenID Provider at `<endpoint>/oidc` (over https when `tls` is on): the seed's
   * people sign in there, and the clients named here (the services, scripts) are registered.
   */
  oidc?: boolean | LabOidcOptions
  /**
   * On first start, leave the seed's keys with AWS's default key policy (the account root holds kms:*)
   * instead of the `policy` the seed gives them: the workshop's starting point.
   */
  defaultKeyPolicy?: boolean
  /**
   * Templates to deploy once the lab is up (infra's `cdk synth` output: the core stacks), each as `aws cloudformation
   * deploy` would: created on first start, updated when the template or parameters changed, untouched otherwise.
   * `stacks` and `parameters` default to the seed's `deploy:` section (parameters given here win, per stack).
   * Then the seed's role profiles and key policies that wait for the stacks' roles are applied.
   */
  deploy?: LabDeploy | false
}

/** Where the templates are, and optionally which stacks with which parameters (else the seed's `deploy:`). */
export type LabDeploy = Pick<DeploySpec, 'templateDir'> & Partial<Omit<DeploySpec, 'templateDir'>>

/** The seed's `deploy:` section with the caller's choices over it. */
function deploySpec(given: LabDeploy, seed: SeedFile | undefined): DeploySpec {
  const stacks = given.stacks ?? seed?.deploy?.stacks
  if (!stacks?.length) throw new Error('deploy: no stacks to deploy (neither the deploy option nor the seed\'s deploy: section names any)')
  const parameters: NonNullable<DeploySpec['parameters']> = {}
  for (const from of [seed?.deploy?.parameters ?? {}, given.parameters ?? {}]) {
    for (const [stack, values] of Object.entries(from)) parameters[stack] = { ...parameters[stack], ...values }
  }
  return { ...given, stacks, parameters }
}

export interface ProfileCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface Lab {
  /** https:// when `tls` is on, else http://; both schemes answer on the same port. */
  endpoint: string
  /** The plain-HTTP form of the endpoint (same port). */
  httpEndpoint: string
  /** The lab CA's certificate (PEM) when `tls` is on: AWS_CA_BUNDLE / NODE_EXTRA_CA_CERTS / ca_bundle. */
  caFile?: string
  host: string
  port: number
  dataDir: string
  credentialsFile: string
  configFile: string
  mfaDir: string
  accountId: string
  region: string
  router: Router
  ec2: Ec2Model
  imds: InstanceMetadataService
  /** Each instance's metadata endpoint, also written to `endpointsFile` and served at GET /_lab/endpoints. */
  instances(): InstanceEndpoint[]
  endpointsFile: string
  iam: IamModel
  sts: StsModel
  ssm: SsmModel
  /** The CloudFormation engine (stacks, change sets), e.g. to wait for a stack's operation: `await lab.cloudformation.idle(stackId)`. */
  cloudformation: CloudFormationEngine
  /** What `deploy` deployed at this start, in order, with each stack's outputs. */
  deployed: DeployedStack[]
  trail: TrailStore
  /** The OpenID Provider when `oidc` is on: its issuer, people and client secrets. */
  oidc?: Pick<LabOidc, 'issuer' | 'peopleFile' | 'people' | 'clientSecret'>
  /** Applies the buckets' S3 lifecycle rules due by `now` (the lab runs it hourly); how many uploads and objects went. */
  sweepS3Lifecycle(now?: Date): number
  /** The profiles written to the credentials file. */
  profiles(): Record<string, ProfileCredentials>
  /** The Caller a profile's credentials resolve to now. */
  callerFor(profile: string): Caller
  /** Call an operation in-process as a profile or caller, through authorisation and CloudTrail. */
  invoke<O = unknown>(service: string, operation: string, input: unknown, as: string | Caller, meta?: Partial<RequestMeta>): Promise<O>
  close(): Promise<void>
}

export const DEFAULT_SEED_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'seed', 'default.yaml')
/** The seed as it was before the lab deployed infra's stacks (service roles, their instances, a plain bucket): for mechanics tests. */
export const SEED_WITHOUT_STACKS = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'seed', 'without-stacks.yaml')
export { WORKSPACE_TEMPLATE_DIR } from './config.js'

function resetDataDir(dataDir: string): void {
  if (!existsSync(dataDir)) return
  const entries = readdirSync(dataDir)
  // Only a folder the lab made (it has state/) is wiped: a mistyped LAB_DATA_DIR must not cost anyone their files.
  if (entries.length > 0 && !entries.includes('state')) throw new Error(`refusing to reset ${dataDir}: it is not a lab data folder (no state/)`)
  for (const entry of entries) rmSync(join(dataDir, entry), { recursive: true, force: true })
}

function iniEscape(value: string): string {
  return value.replace(/[\r\n]/g, '')
}

export async function startLab(options: LabOptions): Promise<Lab> {
  const dataDir = resolve(options.dataDir)
  if (options.reset) resetDataDir(dataDir)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  // State, keys, tokens and MFA seeds are the lab's user's alone, whoever made the folder.
  chmodSync(dataDir, 0o700)
  const host = options.host ?? '127.0.0.1'
  const log = (line: Record<string, unknown>) => {
    if (!options.quiet) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), name: 'aws-lab', ...line })}\n`)
  }

  const store = new FileStateStore(dataDir)
  const labState = store.section<LabSection>('lab', () => ({ profiles: {}, mfaDevices: {}, vpcEndpoints: [] }))
  const fresh = !labState.seededAt
  const seedFile = resolve(options.seedFile ?? labState.seedFile ?? DEFAULT_SEED_FILE)
  const seed = fresh ? loadSeed(seedFile, DEFAULT_ACCOUNT_ID, DEFAULT_REGION) : undefined
  const accountId = seed?.account ?? DEFAULT_ACCOUNT_ID
  const region = seed?.region ?? DEFAULT_REGION
  if (fresh && seed?.account && seed.account !== DEFAULT_ACCOUNT_ID) {
    // Re-read with the seed's own account id so its placeholders name it.
    Object.assign(seed, loadSeed(seedFile, seed.account, seed.region ?? DEFAULT_REGION))
  }

  const iam = new IamModel(store, accountId)
  const sts = new StsModel(store)
  const credentials = new CredentialResolver(iam, sts)
  const trail = new TrailStore(dataDir)
  const ec2 = new Ec2Model(store, accountId, region)
  if (options.vpcEndpointPendingMs !== undefined) ec2.pendingMs = options.vpcEndpointPendingMs
  const endpointInfo = (id: string): VpcEndpointInfo | undefined => {
    const seeded = labState.vpcEndpoints.find((e) => e.id === id)
    if (seeded) return { vpcEndpointId: seeded.id, vpcId: seeded.vpcId }
    const made = ec2.endpoint(id)
    // A pending endpoint has no network interfaces yet: nothing reaches the service through it.
    if (!made || made.State !== 'available') return undefined
    let policy
    try {
      policy = parsePolicyText(made.PolicyDocument)
    } catch {
      // A policy that no longer parses allows nothing.
      policy = { Statement: [] }
    }
    return { vpcEndpointId: made.VpcEndpointId, vpcId: made.VpcId, service: made.ServiceName.split('.').pop(), policy }
  }
  const privateDnsEndpoint = (caller: Caller, service: string): VpcEndpointInfo | undefined => {
    // Only calls from an instance (its metadata credentials) resolve the regional name inside a VPC.
    const instanceId = caller.ec2?.sourceInstanceArn.split('/').pop()
    // An interface endpoint with private DNS, or (S3) the gateway endpoint on the instance's route table.
    const made = instanceId ? ec2.routedEndpoint(instanceId, service) : undefined
    return made ? endpointInfo(made.VpcEndpointId) : undefined
  }
  // An instance's own address; anyone else coming through an endpoint URL counts as the VPC's host .10 (the lab's stand-in).
  const vpcSourceIp = (caller: Caller, vpce: VpcEndpointInfo): string | undefined => {
    const instance = ec2.state.instances[caller.ec2?.sourceInstanceArn.split('/').pop() ?? '']
    if (instance?.VpcId === vpce.vpcId) return instance.PrivateIpAddress
    const cidr = ec2.state.vpcs[vpce.vpcId]?.CidrBlock
    return cidr ? cidr.replace(/\.\d+\/\d+$/, '.10') : undefined
  }
  const router = new Router({ accountId, region, state: store, iam, credentials, trail, vpcEndpoint: endpointInfo, privateDnsEndpoint, vpcSourceIp, log, servesTls: Boolean(options.tls) })
  const ssm = new SsmModel(store, accountId, region)
  const cloudformation = createCloudFormation({
    store, accountId, region, iam, sts, ec2, credentials, log,
    execute: (call, caller, meta) => router.execute(call, caller, meta),
    instanceReady: (id) => imds.whenServing(id),
  })
  router.addProtocol(createEc2Protocol(), { first: true })
  router.addService(createEc2Service(ec2, iam))
  for (const protocol of [...(options.extraProtocols ?? [])].reverse()) router.addProtocol(protocol, { first: true })
  for (const service of options.extraServices ?? []) router.addService(service)
  router.addProtocol(createJsonProtocol())
  router.addProtocol(createQueryProtocol())
  router.addService(createStsService(iam, sts))
  router.addService(createIamService(iam))
  router.addService(createCloudTrailService(trail, { delaySeconds: options.cloudTrailDelaySeconds ?? 0 }))
  router.addService(createKmsService())
  router.addService(createSsmService(ssm))
  router.addService(createAutoScalingService(new AutoScalingModel(store, ec2, iam), ec2, iam))
  router.addService(cloudformation.service)
  // S3's REST-XML handler goes last: it claims whatever JSON and query did not.
  const s3 = createS3()
  router.addService(s3.service)
  router.addProtocol(s3.protocol)

  const callerFor = (profile: string): Caller => {
    const entry = labState.profiles[profile]
    if (!entry || !credentials.lookup(entry.accessKeyId)) throw new Error(`no such lab profile: ${profile}`)
    return credentials.caller(entry.accessKeyId)
  }
  const invoke = <O>(service: string, operation: string, input: unknown, as: string | Caller, meta: Partial<RequestMeta> = {}): Promise<O> => {
    const caller = typeof as === 'string' ? callerFor(as) : as
    const requestMeta: RequestMeta = { requestId: randomUUID(), time: new Date(), sourceIp: '127.0.0.1', userAgent: 'aws-lab/invoke', secureTransport: false, region, ...meta }
    return router.execute({ service, operation, input }, caller, requestMeta) as Promise<O>
  }

  if (fresh && seed) {
    await runSeed({
      seed,
      iam,
      sts,
      lab: labState,
      hasService: (name) => router.services.has(name),
      invoke,
      callerForAccessKey: (id) => credentials.caller(id),
      warn: (message) => log({ level: 'warn', msg: message }),
      ec2,
      defaultKeyPolicy: options.defaultKeyPolicy,
    })
    ssm.seed(seed.ssmParameters ?? {})
    labState.seedFile = seedFile
    labState.seededAt = new Date().toISOString()
    store.save('lab')
  }
  // The seed as it reads now: what a restart re-applies, what the deploy step deploys and what waits for it.
  const current = seed ?? (existsSync(seedFile) ? loadSeed(seedFile, accountId, region) : undefined)
  if (!fresh && current) {
    const older = current
    const adminProfile = older.users?.[0]?.profile
    const asAdmin = (service: string, operation: string, input: unknown) => invoke(service, operation, input, adminProfile ?? '')
    if (adminProfile && labState.profiles[adminProfile]) {
      // A data folder seeded before the lab had EC2 gets the seed's network and instances, so its services can run as instances.
      if (Object.keys(ec2.state.instances).length === 0 && (older.vpcs?.length || older.instances?.length)) {
        await seedEc2({ seed: older, iam, ec2, warn: (message) => log({ level: 'warn', msg: message }) }, asAdmin)
        log({ level: 'info', msg: `added the seed's VPCs and instances to ${dataDir}` })
      }
      const changed = await reapplyDefinitions(older, iam, asAdmin)
      if (changed.length > 0) log({ level: 'info', msg: `applied the current policy definitions (packages/policy) to ${changed.join(', ')}` })
    }
  }

  // Loaded only when asked for: the provider and its web framework cost every other lab nothing.
  const oidcKit = options.oidc ? await import('./oidc/provider.js') : undefined
  let oidc: LabOidc | undefined
  // A data folder seeded before the lab had Parameter Store gets the seed's parameters (CDK's bootstrap version) once.
  if (!ssm.seeded && existsSync(seedFile)) ssm.seed(loadSeed(seedFile, accountId, region).ssmParameters ?? {})
  const lifecycleTimer = setInterval(() => s3.sweepLifecycle(store, Date.now()), 3_600_000).unref()

  const imds = new InstanceMetadataService({
    ec2, iam, sts, trail, host, portBase: options.imdsPortBase ?? 0, advertisedHost: options.imdsAdvertisedHost, credentialsTtlSeconds: options.imdsCredentialsTtlSeconds, log,
    bind: options.imdsBind,
    owners: options.imdsOwners,
    onRefused: ({ instance, owner, uid }) => log({ level: 'warn', msg: `refused instance ${instance}'s metadata to a connection of uid ${uid ?? 'unknown'} (its instance's user is uid ${owner})` }),
    // Instances launched or terminated at run time (CloudFormation, Auto Scaling) show in endpoints.json too.
    onChange: () => writeFileAtomic(endpointsFile, `${JSON.stringify(endpointsDocument(), null, 2)}\n`, 0o644),
  })
  const server: Server = createServer((req, res) => {
    if (oidc?.handles(req.url)) {
      // Its own request scope too (core/guard.ts): an error escaping the provider answers that request 500.
      const provider = oidc
      inRequestScope({ res }, () => provider.handle(req, res))
      return
    }
    // Where each instance's metadata lives, for start scripts (the lab's own path; no AWS API starts with /_lab/).
    // The lab CA's certificate (public), for clients that must trust it and share no volume with the lab.
    if (req.method === 'GET' && req.url === '/_lab/ca.pem' && tls) {
      res.writeHead(200, { 'content-type': 'application/x-pem-file', 'content-length': Buffer.byteLength(tls.caPem) }).end(tls.caPem)
      return
    }
    if (req.method === 'GET' && req.url === '/_lab/endpoints') {
      const body = JSON.stringify(endpointsDocument())
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
      return
    }
    inRequestScope({ res }, () => router.handle(req, res)).catch((err: unknown) => {
      log({ level: 'error', msg: 'unhandled', err: String((err as Error)?.stack ?? err) })
      if (!res.headersSent) res.writeHead(500).end()
      else res.destroy()
    })
  })
  // S3 streams large bodies; keep sockets open for slow clients, but not forever.
  server.requestTimeout = 0
  server.keepAliveTimeout = 65_000
  // With TLS, one socket takes both: TLS handshakes go to an HTTPS server sharing the handler (core/tls.ts).
  // Loaded only when asked for: the certificate library brings a global Reflect polyfill.
  const tlsKit = options.tls ? await import('./core/tls.js') : undefined
  const tls = tlsKit && options.tls ? await tlsKit.labTls(dataDir, tlsKit.tlsHostnames(host, options.tls === true ? [] : options.tls.hostnames)) : undefined
  const door = tls && tlsKit ? tlsKit.frontDoor(server, tls) : undefined
  const listener = door?.server ?? server
  await new Promise<void>((resolveListen, reject) => {
    listener.once('error', reject)
    listener.listen(options.port ?? 4566, host, () => resolveListen())
  })
  const port = (listener.address() as AddressInfo).port
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`
  const httpEndpoint = `http://${authority}`
  const endpoint = tls ? `https://${authority}` : httpEndpoint
  if (oidcKit) {
    oidc = oidcKit.startOidc({
      dataDir,
      store,
      endpoint,
      tls: Boolean(tls),
      seedFile,
      iamMfaSeed: (userName) => {
        const serial = labState.mfaDevices[userName]
        return serial ? iam.state.mfaDevices[serial]?.Base32StringSeed : undefined
      },
      options: typeof options.oidc === 'object' ? options.oidc : {},
      log,
    })
  }
  try {
    await imds.start()
  } catch (err) {
    server.close()
    await imds.close()
    throw err
  }
  const endpointsDocument = () => ({
    endpoint,
    region,
    accountId,
    instances: Object.fromEntries(imds.endpoints().map((e) => [e.name, { instanceId: e.instanceId, role: e.role, metadataEndpoint: e.metadataEndpoint }])),
    // What start scripts take from the deployment (the bucket, the key's ARN) instead of constants.
    stacks: stackOutputs,
  })
  const stackOutputs: Record<string, Record<string, string>> = {}
  const endpointsFile = join(dataDir, 'endpoints.json')
  writeFileAtomic(endpointsFile, `${JSON.stringify(endpointsDocument(), null, 2)}\n`, 0o644)

  const profiles = (): Record<string, ProfileCredentials> => {
    const out: Record<string, ProfileCredentials> = {}
    for (const [name, { accessKeyId }] of Object.entries(labState.profiles)) {
      const secret = credentials.lookup(accessKeyId)
      if (secret) out[name] = { accessKeyId, secretAccessKey: secret.secretAccessKey, sessionToken: secret.sessionToken }
    }
    return out
  }

  const credentialsFile = join(dataDir, 'credentials')
  const configFile = join(dataDir, 'config')
  const mfaDir = join(dataDir, 'mfa')
  const writeFiles = () => {
    const all = profiles()
    let creds = ''
    let config = `[default]\nregion = ${region}\noutput = json\n`
    for (const [name, c] of Object.entries(all)) {
      creds += `[${name}]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${iniEscape(c.secretAccessKey)}\n`
      if (c.sessionToken) creds += `aws_session_token = ${iniEscape(c.sessionToken)}\n`
      creds += '\n'
      // endpoint_url is read by AWS CLI ≥ 2.13 and recent SDKs; older clients need --endpoint-url.
      config += `\n[profile ${name}]\nregion = ${region}\noutput = json\nendpoint_url = ${endpoint}\n${tls ? `ca_bundle = ${tls.caFile}\n` : ''}s3 =\n  addressing_style = path\n`
    }
    writeFileAtomic(credentialsFile, creds)
    writeFileAtomic(configFile, config)
    mkdirSync(mfaDir, { recursive: true, mode: 0o700 })
    for (const [userName, serial] of Object.entries(labState.mfaDevices)) {
      const device = iam.state.mfaDevices[serial]
      if (!device) continue
      const uri = totpFor(device.Base32StringSeed, `${userName}@${accountId}`, 'Amazon Web Services').toString()
      writeFileAtomic(join(mfaDir, `${userName}.otpauth`), `${uri}\n`)
    }
  }
  writeFiles()

  let closed = false
  const lab: Lab = {
    deployed: [],
    endpoint,
    httpEndpoint,
    caFile: tls?.caFile,
    host,
    port,
    dataDir,
    credentialsFile,
    configFile,
    mfaDir,
    accountId,
    region,
    router,
    ec2,
    imds,
    instances: () => imds.endpoints(),
    endpointsFile,
    iam,
    sts,
    ssm,
    cloudformation: cloudformation.engine,
    trail,
    ...(oidc ? { oidc } : {}),
    sweepS3Lifecycle: (now = new Date()) => s3.sweepLifecycle(store, now.getTime()),
    profiles,
    callerFor,
    invoke,
    async close() {
      if (closed) return
      closed = true
      clearInterval(lifecycleTimer)
      await new Promise<void>((resolveClose) => {
        if (door) {
          door.close()
          door.https.close()
          door.https.closeIdleConnections()
          setTimeout(() => door.https.closeAllConnections(), 2000).unref()
        }
        server.close(() => resolveClose())
        server.closeIdleConnections()
        // Streaming uploads in flight get a moment, then are cut.
        setTimeout(() => server.closeAllConnections(), 2000).unref()
      })
      await imds.close()
      trail.close()
    },
  }
  try {
    if (options.deploy) {
      try {
        lab.deployed = await deployStacks(lab, deploySpec(options.deploy, current))
      } catch (err) {
        // A folder seeded before the stacks made the service roles has them already, as the seed made them.
        if (/EntityAlreadyExists|already exists/.test(String((err as Error).message))) (err as Error).message += ` (a data folder seeded before the lab deployed the stacks: start over with --reset)`
        throw err
      }
      for (const stack of lab.deployed) {
        log({ level: 'info', msg: `stack ${stack.stackName}: ${stack.changed ? stack.status : 'no changes'}` })
        stackOutputs[stack.stackName] = stack.outputs
      }
    }
    if (current) {
      const applied = await applySeedAfterDeploy({ seed: current, iam, sts, lab: labState, invoke, callerForAccessKey: (id) => credentials.caller(id) })
      if (applied.profiles.length || applied.keyPolicies.length) {
        store.save('lab')
        writeFiles()
        log({ level: 'info', msg: `after the deploy step: profiles ${applied.profiles.join(', ') || '(none)'}; key policies ${applied.keyPolicies.join(', ') || '(none)'}` })
      }
      if (applied.waiting.length) log({ level: 'warn', msg: `the seed's key policy for ${applied.waiting.join(', ')} names roles no stack has made yet: it stays AWS's default until the stacks are deployed (LAB_TEMPLATE_DIR)` })
    }
    // Written again last: a start script that waits for the stacks' outputs here finds the lab complete.
    if (lab.deployed.length) writeFileAtomic(endpointsFile, `${JSON.stringify(endpointsDocument(), null, 2)}\n`, 0o644)
  } catch (err) {
    await lab.close()
    throw err
  }
  return lab
}
