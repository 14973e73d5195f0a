// Instance metadata (IMDSv2 only, as with HttpTokens=required), one listener per simulated
// instance, so a process given one instance's endpoint sees that instance and its role alone.
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
import { type KeyObject, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { isoSeconds } from '../core/arn.js'
import type { Ec2Model, InstanceRecord } from '../ec2/model.js'
import type { IamModel } from '../iam/model.js'
import type { StsModel } from '../sts/model.js'
import type { TrailStore } from '../cloudtrail/trail.js'
import { clientSocketOwner } from './connection-owner.js'

/** AWS's token lifetime bounds (X-aws-ec2-metadata-token-ttl-seconds). */
export const TOKEN_TTL_MIN = 1
export const TOKEN_TTL_MAX = 21_600
/** Live tokens kept across all instances. */
const MAX_TOKENS = 10_000
/** Role credentials from instance metadata last about six hours in AWS. */
export const DEFAULT_CREDENTIALS_TTL_SECONDS = 21_600
/** AWS makes new credentials available at least five minutes before the old ones expire. */
const ROTATE_BEFORE_MS = 5 * 60_000

export interface InstanceEndpoint {
  instanceId: string
  /** The seed's name for the instance (`uploader`, `downloader`, `workshop` …). */
  name: string
  role?: string
  /** What to put in AWS_EC2_METADATA_SERVICE_ENDPOINT. */
  metadataEndpoint: string
}

export interface ImdsOptions {
  ec2: Ec2Model
  iam: IamModel
  sts: StsModel
  host: string
  /** First instance's port; the others follow in seed order. 0 = any free port for each. */
  portBase: number
  /** Lifetime of delivered role credentials (tests shorten it to watch a rotation). */
  credentialsTtlSeconds?: number
  /** The host name clients use to reach the listeners, when it differs from `host` (0.0.0.0 in a container). */
  advertisedHost?: string
  /** Where EC2's AssumeRole for each delivery is recorded, as CloudTrail shows it in AWS. */
  trail?: TrailStore
  /** Listen address by instance name (`*`: the rest), e.g. the lab's address on that instance's own network; unlisted: `host`. */
  bind?: Record<string, string>
  /**
   * Serve an instance's metadata only to local connections owned by this uid, by instance name
   * (`*`: the rest; unlisted: this process's uid), as only an instance reaches its own metadata.
   * Unset: any connection that reaches the port is served.
   */
  owners?: Record<string, number>
  /** Told of each connection refused by `owners`. */
  onRefused?: (refused: { instance: string; owner: number; uid: number | undefined }) => void
}

interface IssuedCredentials {
  accessKeyId: string
  roleName: string
  issuedAt: number
  expiresAt: number
}

function page(res: ServerResponse, status: number, title: string, headers: Record<string, string> = {}): void {
  // IMDS answers errors with a small XHTML page, as it does on EC2.
  const body = `<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n <head>\n  <title>${status} - ${title}</title>\n </head>\n <body>\n  <h1>${status} - ${title}</h1>\n </body>\n</html>\n`
  res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body), 'server': 'EC2ws', ...headers })
  res.end(body)
}

function text(res: ServerResponse, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'server': 'EC2ws', ...headers })
  res.end(body)
}

/** EC2 writes JSON documents with `"key" : value`. */
function awsJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/^(\s*"[^"]+"): /gm, '$1 : ')
}

const bracketed = (host: string) => (host.includes(':') ? `[${host}]` : host)

type Tree = { [name: string]: string | Tree | (() => string | undefined) }

export class InstanceMetadataService {
  private readonly servers = new Map<string, Server>()
  private readonly tokens = new Map<string, { instanceId: string; expiresAt: number }>()
  private readonly credentials = new Map<string, IssuedCredentials>()
  private readonly endpointsById = new Map<string, InstanceEndpoint>()
  readonly credentialsTtlMs: number

  constructor(private readonly options: ImdsOptions) {
    this.credentialsTtlMs = (options.credentialsTtlSeconds ?? DEFAULT_CREDENTIALS_TTL_SECONDS) * 1000
  }

  endpoints(): InstanceEndpoint[] {
    return [...this.endpointsById.values()]
  }

  /** One listener per instance, in the order instances were seeded. */
  async start(): Promise<InstanceEndpoint[]> {
    const { host, portBase } = this.options
    const advertised = this.options.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host)
    let index = 0
    for (const instance of Object.values(this.options.ec2.state.instances)) {
      const server = createServer(this.ownerGuard(instance, (req, res) => this.handle(instance.InstanceId, req, res)))
      server.keepAliveTimeout = 5_000
      server.requestTimeout = 10_000
      const port = portBase === 0 ? 0 : portBase + index
      index++
      const listenHost = this.bindHost(instance, host)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, listenHost, () => resolve())
      })
      this.servers.set(instance.InstanceId, server)
      const bound = (server.address() as AddressInfo).port
      this.endpointsById.set(instance.InstanceId, {
        instanceId: instance.InstanceId,
        name: instance.Name,
        role: this.roleOf(instance),
        // With the trailing slash: botocore (AWS CLI) appends `latest/...` to it as written.
        metadataEndpoint: `http://${bracketed(listenHost === host ? advertised : this.advertisedBind(listenHost, advertised))}:${bound}/`,
      })
    }
    return this.endpoints()
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.servers.values()].map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve())
            server.closeAllConnections()
          }),
      ),
    )
    this.servers.clear()
  }

  private bindHost(instance: InstanceRecord, host: string): string {
    return this.options.bind?.[instance.Name] ?? this.options.bind?.['*'] ?? host
  }

  /** A wildcard bind is reached by the advertised name; a specific one by itself. */
  private advertisedBind(listenHost: string, advertised: string): string {
    return listenHost === '0.0.0.0' || listenHost === '::' ? advertised : listenHost
  }

  /** The request handler, behind the owner check when `owners` is set: refused connections get 403 and nothing else. */
  private ownerGuard(instance: InstanceRecord, handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
    const owners = this.options.owners
    if (!owners) return handler
    const owner = owners[instance.Name] ?? owners['*'] ?? process.getuid?.() ?? -1
    // One look-up per connection, made on its first request (the peer's socket cannot change owner while it stays open).
    const asked = new WeakMap<Socket, Promise<number | undefined>>()
    return (req, res) => {
      let lookup = asked.get(req.socket)
      if (!lookup) {
        lookup = clientSocketOwner(req.socket).catch(() => undefined)
        asked.set(req.socket, lookup)
      }
      void lookup.then((uid) => {
        if (uid === owner) return handler(req, res)
        req.resume()
        this.options.onRefused?.({ instance: instance.Name, owner, uid })
        page(res, 403, 'Forbidden')
      }).catch(() => {
        if (!res.headersSent) page(res, 500, 'Internal Server Error')
        else res.destroy()
      })
    }
  }

  private roleOf(instance: InstanceRecord): string | undefined {
    const profile = instance.InstanceProfileName ? this.options.iam.instanceProfiles[instance.InstanceProfileName] : undefined
    const role = profile?.Roles[0]
    return role && this.options.iam.state.roles[role] ? role : undefined
  }

  /** The instance's current role credentials; replaced once they are within five minutes (or half their life) of expiring. */
  credentialsFor(instance: InstanceRecord, roleName: string): IssuedCredentials & { secretAccessKey: string; sessionToken: string } {
    const now = Date.now()
    const rotateBefore = Math.min(ROTATE_BEFORE_MS, this.credentialsTtlMs / 2)
    let current = this.credentials.get(instance.InstanceId)
    const session = current ? this.options.sts.session(current.accessKeyId) : undefined
    if (!current || !session || current.roleName !== roleName || current.expiresAt - now <= rotateBefore) {
      const role = this.options.iam.role(roleName)
      const issued = this.options.sts.issue({
        kind: 'role',
        roleName: role.RoleName,
        roleId: role.RoleId,
        // EC2 names the session after the instance: assumed-role/<role>/<instance-id>.
        sessionName: instance.InstanceId,
        expiresAt: now + this.credentialsTtlMs,
        ec2: { sourceInstanceArn: this.options.ec2.instanceArn(instance.InstanceId), roleDelivery: '2.0' },
      })
      current = { accessKeyId: issued.AccessKeyId, roleName: role.RoleName, issuedAt: issued.issuedAt, expiresAt: issued.expiresAt! }
      this.credentials.set(instance.InstanceId, current)
      this.recordDelivery(instance, role.Arn, role.RoleId, current)
    }
    const record = this.options.sts.session(current.accessKeyId)!
    return { ...current, secretAccessKey: record.SecretAccessKey, sessionToken: record.SessionToken }
  }

  /** EC2 assumes the instance's role on its behalf: an AssumeRole by the AWS service ec2.amazonaws.com. */
  private recordDelivery(instance: InstanceRecord, roleArn: string, roleId: string, issued: IssuedCredentials): void {
    const { trail, ec2 } = this.options
    if (!trail) return
    const time = new Date(issued.issuedAt)
    trail.append({
      eventVersion: '1.11',
      userIdentity: { type: 'AWSService', invokedBy: 'ec2.amazonaws.com' },
      eventTime: isoSeconds(time),
      eventSource: 'sts.amazonaws.com',
      eventName: 'AssumeRole',
      awsRegion: ec2.region,
      sourceIPAddress: 'ec2.amazonaws.com',
      userAgent: 'ec2.amazonaws.com',
      requestParameters: { roleArn, roleSessionName: instance.InstanceId },
      responseElements: {
        credentials: { accessKeyId: issued.accessKeyId, expiration: isoSeconds(new Date(issued.expiresAt)) },
        assumedRoleUser: { assumedRoleId: `${roleId}:${instance.InstanceId}`, arn: `arn:aws:sts::${ec2.accountId}:assumed-role/${issued.roleName}/${instance.InstanceId}` },
      },
      requestID: randomUUID(),
      eventID: randomUUID(),
      readOnly: true,
      resources: [{ accountId: ec2.accountId, type: 'AWS::IAM::Role', ARN: roleArn }],
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: ec2.accountId,
      sharedEventID: randomUUID(),
      eventCategory: 'Management',
    })
  }

  private tree(instance: InstanceRecord): Tree {
    const { ec2, iam } = this.options
    const subnet = ec2.state.subnets[instance.SubnetId]
    const vpc = ec2.state.vpcs[instance.VpcId]
    const groups = instance.SecurityGroupIds.map((id) => ec2.state.securityGroups[id]).filter(Boolean)
    const hostname = `ip-${instance.PrivateIpAddress.replace(/\./g, '-')}.${ec2.region}.compute.internal`
    const role = this.roleOf(instance)
    const profile = instance.InstanceProfileName ? iam.instanceProfiles[instance.InstanceProfileName] : undefined
    const macTree: Tree = {
      'device-number': '0',
      'interface-id': instance.NetworkInterfaceId,
      'local-hostname': hostname,
      'local-ipv4s': instance.PrivateIpAddress,
      'mac': instance.MacAddress,
      'owner-id': ec2.accountId,
      'security-group-ids': groups.map((g) => g.GroupId).join('\n'),
      'security-groups': groups.map((g) => g.GroupName).join('\n'),
      'subnet-id': instance.SubnetId,
      'subnet-ipv4-cidr-block': subnet?.CidrBlock ?? '',
      'vpc-id': instance.VpcId,
      'vpc-ipv4-cidr-block': vpc?.CidrBlock ?? '',
      'vpc-ipv4-cidr-blocks': vpc?.CidrBlock ?? '',
    }
    const metaData: Tree = {
      'ami-id': instance.ImageId,
      hostname,
      'instance-id': instance.InstanceId,
      'instance-type': instance.InstanceType,
      'local-hostname': hostname,
      'local-ipv4': instance.PrivateIpAddress,
      'mac': instance.MacAddress,
      'network': { interfaces: { macs: { [instance.MacAddress]: macTree } } },
      'placement': {
        'availability-zone': subnet?.AvailabilityZone ?? `${ec2.region}a`,
        'availability-zone-id': subnet?.AvailabilityZoneId ?? '',
        'region': ec2.region,
      },
      'security-groups': groups.map((g) => g.GroupName).join('\n'),
    }
    if (role && profile) {
      metaData.iam = {
        'info': () => {
          const issued = this.credentialsFor(instance, role)
          return awsJson({ Code: 'Success', LastUpdated: isoSeconds(new Date(issued.issuedAt)), InstanceProfileArn: profile.Arn, InstanceProfileId: profile.InstanceProfileId })
        },
        'security-credentials': {
          [role]: () => {
            const issued = this.credentialsFor(instance, role)
            return awsJson({
              Code: 'Success',
              LastUpdated: isoSeconds(new Date(issued.issuedAt)),
              Type: 'AWS-HMAC',
              AccessKeyId: issued.accessKeyId,
              SecretAccessKey: issued.secretAccessKey,
              Token: issued.sessionToken,
              Expiration: isoSeconds(new Date(issued.expiresAt)),
            })
          },
        },
      }
    }
    const identityDocument = awsJson({
      accountId: ec2.accountId,
      architecture: 'x86_64',
      availabilityZone: subnet?.AvailabilityZone ?? `${ec2.region}a`,
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: instance.ImageId,
      instanceId: instance.InstanceId,
      instanceType: instance.InstanceType,
      kernelId: null,
      pendingTime: isoSeconds(new Date(instance.LaunchTime)),
      privateIp: instance.PrivateIpAddress,
      ramdiskId: null,
      region: ec2.region,
      version: '2017-09-30',
    })
    return { latest: { 'meta-data': metaData, 'dynamic': { 'instance-identity': { document: identityDocument, ...identitySignatures(identityDocument) } } } }
  }

  private handle(instanceId: string, req: IncomingMessage, res: ServerResponse): void {
    req.resume()
    // Clients join an endpoint ending in / with paths starting with / (the SDK's MetadataService does): // is /.
    const path = (req.url ?? '/').split('?')[0].replace(/\/{2,}/g, '/')
    const instance = this.options.ec2.state.instances[instanceId]
    if (!instance) return page(res, 404, 'Not Found')
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return page(res, 405, 'Method Not Allowed', { allow: 'OPTIONS, PUT' })
      // A token request that went through a proxy is refused, so a misconfigured proxy cannot hand tokens out.
      if (req.headers['x-forwarded-for'] !== undefined) return page(res, 403, 'Forbidden')
      const raw = req.headers['x-aws-ec2-metadata-token-ttl-seconds']
      const ttl = Number(raw)
      if (raw === undefined || !/^\d+$/.test(String(raw)) || ttl < TOKEN_TTL_MIN || ttl > TOKEN_TTL_MAX) return page(res, 400, 'Missing or Invalid Parameters')
      const now = Date.now()
      for (const [t, v] of this.tokens) if (v.expiresAt < now) this.tokens.delete(t)
      // Bounded memory: past the cap the oldest token goes first (a client looping on PUT cannot grow the lab).
      while (this.tokens.size >= MAX_TOKENS) this.tokens.delete(this.tokens.keys().next().value!)
      const token = `AQAEA${randomBytes(42).toString('base64')}`
      this.tokens.set(token, { instanceId, expiresAt: now + ttl * 1000 })
      return text(res, token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) })
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return page(res, 405, 'Method Not Allowed', { allow: 'OPTIONS, GET, HEAD' })
    // IMDSv2 required: every read needs a live token minted by this instance.
    const token = req.headers['x-aws-ec2-metadata-token']
    const session = typeof token === 'string' ? this.tokens.get(token) : undefined
    if (!session || session.instanceId !== instanceId || session.expiresAt < Date.now()) return page(res, 401, 'Unauthorized')

    if (path === '/') return text(res, 'latest')
    const segments = path.split('/').filter(Boolean)
    let node: string | Tree | (() => string | undefined) = this.tree(instance)
    for (const segment of segments) {
      if (typeof node !== 'object' || !(segment in node)) return page(res, 404, 'Not Found')
      node = node[segment]
    }
    if (typeof node === 'function') {
      const value = node()
      return value === undefined ? page(res, 404, 'Not Found') : text(res, value)
    }
    if (typeof node === 'string') return text(res, node)
    // A folder lists its entries, sub-folders with a trailing slash.
    return text(res, Object.entries(node).map(([name, v]) => (typeof v === 'object' ? `${name}/` : name)).join('\n'))
  }
}

let signingKey: KeyObject | undefined
/**
 * The identity document's signatures, as instance-identity/ lists them (pkcs7, signature, rsa2048): here each is an
 * RSA-SHA256 signature by a key the lab makes at start, base64 — not AWS's PKCS#7 structures, which need AWS's certificates.
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-identity-documents.html
 */
function identitySignatures(document: string): Record<'pkcs7' | 'signature' | 'rsa2048', string> {
  signingKey ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const signature = sign('sha256', Buffer.from(document), signingKey).toString('base64')
  return { pkcs7: signature, signature, rsa2048: signature }
}
