// EC2 state and rules: VPCs (with their DNS attributes), subnets, security groups, instances
// with instance profiles, route tables, and VPC endpoints (interface and S3's gateway). Never sees a request.
import { randomBytes } from 'node:crypto'
import { AwsError, type StateStore } from '../core/types.js'

export interface VpcRecord {
  VpcId: string
  CidrBlock: string
  EnableDnsHostnames: boolean
  EnableDnsSupport: boolean
  IsDefault: boolean
  DhcpOptionsId: string
  Tags: Record<string, string>
}

export interface SubnetRecord {
  SubnetId: string
  VpcId: string
  CidrBlock: string
  AvailabilityZone: string
  AvailabilityZoneId: string
  Tags: Record<string, string>
}

export interface SecurityGroupRecord {
  GroupId: string
  GroupName: string
  Description: string
  VpcId: string
  Tags: Record<string, string>
}

export interface InstanceRecord {
  InstanceId: string
  /** The seed's short name for the instance (`uploader`, `workshop`): start scripts look instances up by it. */
  Name: string
  ImageId: string
  InstanceType: string
  SubnetId: string
  VpcId: string
  SecurityGroupIds: string[]
  PrivateIpAddress: string
  MacAddress: string
  NetworkInterfaceId: string
  InstanceProfileName?: string
  LaunchTime: string
  Tags: Record<string, string>
}

export interface VpcEndpointRecord {
  VpcEndpointId: string
  /** Interface endpoints (KMS, S3) have network interfaces and DNS names; S3's gateway endpoint has route tables. */
  VpcEndpointType: 'Interface' | 'Gateway'
  /** Gateway endpoints: the route tables whose subnets reach the service through it. */
  RouteTableIds?: string[]
  VpcId: string
  ServiceName: string
  State: 'pending' | 'available' | 'deleting' | 'deleted'
  /** Epoch ms when a pending endpoint becomes available (lab: a short delay, so clients must wait as in AWS). */
  availableAt: number
  /** Epoch ms when a deleting endpoint is deleted, and a deleted one leaves the listings. */
  deletedAt?: number
  /** CreateVpcEndpoint's ClientToken and a digest of its parameters: a retry returns this endpoint. */
  ClientToken?: string
  requestDigest?: string
  PolicyDocument: string
  SubnetIds: string[]
  SecurityGroupIds: string[]
  PrivateDnsEnabled: boolean
  NetworkInterfaceIds: string[]
  CreationTimestamp: string
  /** The random part of the endpoint's DNS names (`vpce-…-<suffix>.kms.eu-west-1.vpce.amazonaws.com`). */
  DnsSuffix: string
  Tags: Record<string, string>
}

/** A route table (made through the API, ec2/network.ts): gateway endpoints name it, and its subnets reach S3 through them. */
export interface RouteTableRecord {
  RouteTableId: string
  VpcId: string
  Main: boolean
  Routes: Array<{ DestinationCidrBlock: string; GatewayId?: string; NatGatewayId?: string; InstanceId?: string; VpcEndpointId?: string; Origin: string }>
  /** Association id → subnet id. */
  Associations: Record<string, string>
  Tags: Record<string, string>
}

export interface Ec2State {
  vpcs: Record<string, VpcRecord>
  subnets: Record<string, SubnetRecord>
  securityGroups: Record<string, SecurityGroupRecord>
  instances: Record<string, InstanceRecord>
  vpcEndpoints: Record<string, VpcEndpointRecord>
  routeTables: Record<string, RouteTableRecord>
}

/** The endpoint services the lab serves behind an interface endpoint; S3 also has a gateway endpoint. */
export const ENDPOINT_SERVICES = ['kms', 's3'] as const
export const GATEWAY_SERVICES = ['s3'] as const

/** A deleted endpoint stays listed (State `deleted`) this long, as AWS lists it for a while. */
const DELETED_LISTED_MS = 60 * 60_000

/** AWS ids: a type prefix, a dash, then 8 or 17 lowercase hex digits. */
export function wellFormedId(prefix: string, id: string): boolean {
  return new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`).test(id)
}

/** AWS's resource ids: a type prefix and 17 hex characters. */
export function ec2Id(prefix: string): string {
  return `${prefix}-0${randomBytes(8).toString('hex')}`
}

/** The default endpoint policy AWS attaches: full access. */
export const FULL_ACCESS_POLICY = JSON.stringify({ Statement: [{ Action: '*', Effect: 'Allow', Principal: '*', Resource: '*' }] })

export const notFound = (code: string, message: string) => new AwsError(code, message, 400)

export type InstanceChange = 'launched' | 'terminated'

export class Ec2Model {
  /** How long a new endpoint stays `pending` (AWS: about a minute or two; the lab: short, overridable for tests). */
  pendingMs = 2000
  private readonly instanceListeners: Array<(change: InstanceChange, instance: InstanceRecord) => void> = []

  constructor(private readonly store: StateStore, readonly accountId: string, readonly region: string) {}

  get state(): Ec2State {
    const s = this.store.section<Ec2State>('ec2', () => ({ vpcs: {}, subnets: {}, securityGroups: {}, instances: {}, vpcEndpoints: {}, routeTables: {} }))
    // Sections created by older lab versions or by other writers may lack a table.
    s.vpcs ??= Object.create(null)
    s.subnets ??= Object.create(null)
    s.securityGroups ??= Object.create(null)
    s.instances ??= Object.create(null)
    s.vpcEndpoints ??= Object.create(null)
    s.routeTables ??= Object.create(null)
    return s
  }

  save(): void {
    this.store.save('ec2')
  }

  instanceArn(instanceId: string): string {
    return `arn:aws:ec2:${this.region}:${this.accountId}:instance/${instanceId}`
  }

  vpc(id: string): VpcRecord {
    return this.existing('vpcs', id, 'InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`)
  }

  subnet(id: string): SubnetRecord {
    return this.existing('subnets', id, 'InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`)
  }

  securityGroup(id: string): SecurityGroupRecord {
    return this.existing('securityGroups', id, 'InvalidGroup.NotFound', `The security group '${id}' does not exist`)
  }

  instance(id: string): InstanceRecord {
    return this.existing('instances', id, 'InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`)
  }

  routeTable(id: string): RouteTableRecord {
    return this.existing('routeTables', id, 'InvalidRouteTableID.NotFound', `The routeTable ID '${id}' does not exist`)
  }

  /** A record of one kind by id, or EC2's not-found error for that kind. */
  private existing<K extends keyof Ec2State>(kind: K, id: string, code: string, message: string): Ec2State[K][string] {
    // Own properties only: an id such as `constructor` is an unknown id, not the prototype's.
    const record = Object.hasOwn(this.state[kind], id) ? this.state[kind][id] : undefined
    if (!record) throw notFound(code, message)
    return record as Ec2State[K][string]
  }

  instanceByName(name: string): InstanceRecord | undefined {
    return Object.values(this.state.instances).find((i) => i.Name === name)
  }

  /** An endpoint after time has had its say (pending → available, deleting → deleted → gone); called on every read, so no timer. */
  endpoint(id: string): VpcEndpointRecord | undefined {
    const e = this.state.vpcEndpoints[id]
    if (!e) return undefined
    const now = Date.now()
    if (e.State === 'pending' && now >= e.availableAt) {
      e.State = 'available'
      this.save()
    } else if (e.State === 'deleting' && now >= (e.deletedAt ?? 0)) {
      e.State = 'deleted'
      this.save()
    }
    if (e.State === 'deleted' && now >= (e.deletedAt ?? 0) + DELETED_LISTED_MS) {
      delete this.state.vpcEndpoints[id]
      this.save()
      return undefined
    }
    return e
  }

  endpoints(): VpcEndpointRecord[] {
    return Object.keys(this.state.vpcEndpoints).map((id) => this.endpoint(id)).filter((e) => e !== undefined)
  }

  /** Endpoints that still exist (not deleting or deleted). */
  private liveEndpoints(): VpcEndpointRecord[] {
    return this.endpoints().filter((e) => e.State !== 'deleting' && e.State !== 'deleted')
  }

  /** AWS refuses a second endpoint answering a service's private DNS name in one VPC. */
  private checkPrivateDns(vpc: VpcRecord, serviceName: string, except?: string): void {
    if (!(vpc.EnableDnsHostnames && vpc.EnableDnsSupport)) {
      throw new AwsError('InvalidParameter', 'Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for ' + vpc.VpcId, 400)
    }
    const service = serviceName.split('.').pop()
    if (this.liveEndpoints().some((x) => x.VpcEndpointId !== except && x.VpcId === vpc.VpcId && x.ServiceName === serviceName && x.PrivateDnsEnabled)) {
      throw new AwsError('InvalidParameter', `private-dns-enabled cannot be set because there is already a conflicting DNS domain for ${service}.${this.region}.amazonaws.com in the VPC ${vpc.VpcId}`, 400)
    }
    // S3's private DNS on an interface endpoint answers only resolver traffic unless the VPC has S3's gateway endpoint.
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/privatelink-interface-endpoints.html#private-dns
    if (service === 's3' && !this.liveEndpoints().some((x) => x.VpcId === vpc.VpcId && x.ServiceName === serviceName && x.VpcEndpointType === 'Gateway')) {
      throw new AwsError('InvalidParameter', `To set PrivateDnsOnlyForInboundResolverEndpoint to true, the VPC ${vpc.VpcId} must have a Gateway endpoint for the service.`, 400)
    }
  }

  /** Security groups for an interface endpoint: each must exist and be in the endpoint's VPC. */
  private checkGroups(vpcId: string, groups: string[]): void {
    for (const g of groups) {
      if (this.securityGroup(g).VpcId !== vpcId) throw new AwsError('InvalidParameter', `Security group ${g} and VPC ${vpcId} do not belong to the same network`, 400)
    }
  }

  addVpc(v: { vpcId: string; cidrBlock: string; enableDnsHostnames?: boolean; enableDnsSupport?: boolean; tags?: Record<string, string> }): VpcRecord {
    const vpc: VpcRecord = {
      VpcId: v.vpcId,
      CidrBlock: v.cidrBlock,
      EnableDnsHostnames: v.enableDnsHostnames ?? true,
      EnableDnsSupport: v.enableDnsSupport ?? true,
      IsDefault: false,
      DhcpOptionsId: ec2Id('dopt'),
      Tags: v.tags ?? {},
    }
    this.state.vpcs[vpc.VpcId] = vpc
    this.save()
    return vpc
  }

  addSubnet(s: { subnetId: string; vpcId: string; cidrBlock: string; availabilityZone?: string; tags?: Record<string, string> }): SubnetRecord {
    this.vpc(s.vpcId)
    const az = s.availabilityZone ?? `${this.region}a`
    const subnet: SubnetRecord = { SubnetId: s.subnetId, VpcId: s.vpcId, CidrBlock: s.cidrBlock, AvailabilityZone: az, AvailabilityZoneId: `euw1-az${az.charCodeAt(az.length - 1) - 96}`, Tags: s.tags ?? {} }
    this.state.subnets[subnet.SubnetId] = subnet
    this.save()
    return subnet
  }

  addSecurityGroup(g: { groupId: string; groupName: string; description?: string; vpcId: string; tags?: Record<string, string> }): SecurityGroupRecord {
    this.vpc(g.vpcId)
    const group: SecurityGroupRecord = { GroupId: g.groupId, GroupName: g.groupName, Description: g.description ?? g.groupName, VpcId: g.vpcId, Tags: g.tags ?? {} }
    this.state.securityGroups[group.GroupId] = group
    this.save()
    return group
  }

  addInstance(i: { instanceId: string; name: string; subnetId: string; securityGroupIds: string[]; privateIpAddress: string; instanceProfileName?: string; imageId?: string; instanceType?: string }): InstanceRecord {
    const subnet = this.subnet(i.subnetId)
    for (const g of i.securityGroupIds) this.securityGroup(g)
    if (this.state.instances[i.instanceId]) throw new AwsError('InvalidInstanceID.Duplicate', `The instance ID '${i.instanceId}' already exists`, 400)
    // Locally administered unicast MACs, as EC2's ENIs have (02:…).
    const mac = `02:${randomBytes(5).toString('hex').match(/../g)!.join(':')}`
    const instance: InstanceRecord = {
      InstanceId: i.instanceId,
      Name: i.name,
      ImageId: i.imageId ?? 'ami-0lab00000000000001',
      InstanceType: i.instanceType ?? 't3.micro',
      SubnetId: subnet.SubnetId,
      VpcId: subnet.VpcId,
      SecurityGroupIds: i.securityGroupIds,
      PrivateIpAddress: i.privateIpAddress,
      MacAddress: mac,
      NetworkInterfaceId: ec2Id('eni'),
      InstanceProfileName: i.instanceProfileName,
      LaunchTime: new Date().toISOString(),
      Tags: { Name: i.name },
    }
    this.state.instances[instance.InstanceId] = instance
    this.save()
    for (const listener of this.instanceListeners) listener('launched', instance)
    return instance
  }

  /** Instance metadata follows instances launched and terminated at run time. */
  onInstanceChange(listener: (change: InstanceChange, instance: InstanceRecord) => void): void {
    this.instanceListeners.push(listener)
  }

  /** Terminates an instance: it leaves the state (the lab keeps no terminated instances) and its metadata endpoint closes. */
  removeInstance(id: string): InstanceRecord {
    const instance = this.instance(id)
    delete this.state.instances[id]
    this.save()
    for (const listener of this.instanceListeners) listener('terminated', instance)
    return instance
  }

  modifyVpcAttribute(vpcId: string, attribute: 'EnableDnsHostnames' | 'EnableDnsSupport', value: boolean): void {
    const vpc = this.vpc(vpcId)
    // AWS: DNS hostnames need DNS resolution.
    if (attribute === 'EnableDnsHostnames' && value && !vpc.EnableDnsSupport) {
      throw new AwsError('InvalidParameterValue', 'Cannot enable DNS hostnames without DNS support being enabled. Enable DNS support first.', 400)
    }
    vpc[attribute] = value
    this.save()
  }

  createVpcEndpoint(e: { vpcId: string; serviceName: string; type?: 'Interface' | 'Gateway'; subnetIds: string[]; securityGroupIds: string[]; routeTableIds?: string[]; policyDocument?: string; privateDnsEnabled?: boolean; tags?: Record<string, string>; clientToken?: string }): VpcEndpointRecord {
    // A retry with the same ClientToken is the same request: the same endpoint, or a mismatch if the parameters changed.
    // https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html
    const digest = JSON.stringify({ ...e, clientToken: undefined })
    if (e.clientToken) {
      const earlier = Object.values(this.state.vpcEndpoints).find((x) => x.ClientToken === e.clientToken)
      if (earlier) {
        if (earlier.requestDigest !== digest) throw new AwsError('IdempotentParameterMismatch', `The client token '${e.clientToken}' was used for a request with other parameters.`, 400)
        return this.endpoint(earlier.VpcEndpointId) ?? earlier
      }
    }
    const vpc = this.vpc(e.vpcId)
    const service = this.endpointService(e.serviceName)
    const type = e.type ?? 'Interface'
    const gateway = type === 'Gateway'
    if (gateway && !(GATEWAY_SERVICES as readonly string[]).includes(service)) {
      throw new AwsError('InvalidParameter', `The Vpc Endpoint Service '${e.serviceName}' does not support the Gateway endpoint type.`, 400)
    }
    for (const s of e.subnetIds) if (this.subnet(s).VpcId !== vpc.VpcId) throw new AwsError('InvalidParameter', `The subnet ID '${s}' does not belong to VPC '${vpc.VpcId}'`, 400)
    const routeTableIds = gateway ? (e.routeTableIds ?? []) : []
    for (const id of routeTableIds) if (this.routeTable(id).VpcId !== vpc.VpcId) throw new AwsError('InvalidParameter', `The route table ${id} does not belong to ${vpc.VpcId}`, 400)
    const groups = gateway ? [] : e.securityGroupIds.length ? e.securityGroupIds : Object.values(this.state.securityGroups).filter((g) => g.VpcId === vpc.VpcId).slice(0, 1).map((g) => g.GroupId)
    this.checkGroups(vpc.VpcId, groups)
    const privateDns = gateway ? false : (e.privateDnsEnabled ?? true)
    if (privateDns) this.checkPrivateDns(vpc, e.serviceName)
    // A gateway endpoint is routes only: AWS answers it `available` at once; an interface endpoint's network interfaces take a while.
    // https://docs.aws.amazon.com/ec2/latest/devguide/example_ec2_CreateVpcEndpoint_section.html
    const record: VpcEndpointRecord = {
      VpcEndpointId: ec2Id('vpce'),
      VpcEndpointType: type,
      VpcId: vpc.VpcId,
      ServiceName: e.serviceName,
      State: gateway ? 'available' : 'pending',
      availableAt: Date.now() + (gateway ? 0 : this.pendingMs),
      PolicyDocument: e.policyDocument ?? FULL_ACCESS_POLICY,
      SubnetIds: gateway ? [] : e.subnetIds,
      SecurityGroupIds: groups,
      PrivateDnsEnabled: privateDns,
      NetworkInterfaceIds: gateway ? [] : e.subnetIds.map(() => ec2Id('eni')),
      CreationTimestamp: new Date().toISOString(),
      DnsSuffix: randomBytes(4).toString('hex'),
      Tags: e.tags ?? {},
      ...(gateway ? { RouteTableIds: routeTableIds } : {}),
      ...(e.clientToken ? { ClientToken: e.clientToken, requestDigest: digest } : {}),
    }
    this.state.vpcEndpoints[record.VpcEndpointId] = record
    this.save()
    return record
  }

  /** `com.amazonaws.eu-west-1.kms` → `kms`; anything else is not a service the lab offers. */
  endpointService(serviceName: string): string {
    const m = /^com\.amazonaws\.([a-z0-9-]+)\.([a-z0-9-]+)$/.exec(serviceName)
    if (!m || m[1] !== this.region || !(ENDPOINT_SERVICES as readonly string[]).includes(m[2])) {
      throw new AwsError('InvalidServiceName', `The Vpc Endpoint Service '${serviceName}' does not exist`, 400)
    }
    return m[2]
  }

  modifyVpcEndpoint(id: string, change: { policyDocument?: string; resetPolicy?: boolean; privateDnsEnabled?: boolean; addSubnetIds?: string[]; removeSubnetIds?: string[]; addSecurityGroupIds?: string[]; removeSecurityGroupIds?: string[] }): void {
    const e = this.endpoint(id)
    if (!e || e.State === 'deleted' || e.State === 'deleting') throw notFound('InvalidVpcEndpointId.NotFound', `The Vpc Endpoint Id '${id}' does not exist`)
    // Every check first, so a refused change changes nothing.
    const groups = [...e.SecurityGroupIds.filter((g) => !(change.removeSecurityGroupIds ?? []).includes(g)), ...(change.addSecurityGroupIds ?? []).filter((g) => !e.SecurityGroupIds.includes(g))]
    for (const g of change.removeSecurityGroupIds ?? []) {
      if (!e.SecurityGroupIds.includes(g)) throw new AwsError('InvalidParameter', `Security group ${g} is not associated with ${id}`, 400)
    }
    this.checkGroups(e.VpcId, change.addSecurityGroupIds ?? [])
    if (e.VpcEndpointType === 'Interface' && groups.length === 0) throw new AwsError('InvalidParameter', `An interface endpoint must have at least one security group; ${id} would have none.`, 400)
    for (const s of change.addSubnetIds ?? []) if (this.subnet(s).VpcId !== e.VpcId) throw new AwsError('InvalidParameter', `The subnet ID '${s}' does not belong to VPC '${e.VpcId}'`, 400)
    if (change.privateDnsEnabled === true && !e.PrivateDnsEnabled) this.checkPrivateDns(this.vpc(e.VpcId), e.ServiceName, e.VpcEndpointId)
    if (change.resetPolicy) e.PolicyDocument = FULL_ACCESS_POLICY
    else if (change.policyDocument !== undefined) e.PolicyDocument = change.policyDocument
    if (change.privateDnsEnabled !== undefined) e.PrivateDnsEnabled = change.privateDnsEnabled
    e.SecurityGroupIds = groups
    for (const s of change.addSubnetIds ?? []) {
      if (!e.SubnetIds.includes(s)) {
        e.SubnetIds.push(s)
        e.NetworkInterfaceIds.push(ec2Id('eni'))
      }
    }
    for (const s of change.removeSubnetIds ?? []) {
      const at = e.SubnetIds.indexOf(s)
      if (at >= 0) {
        e.SubnetIds.splice(at, 1)
        e.NetworkInterfaceIds.splice(at, 1)
      }
    }
    this.save()
  }

  /** Ids that do not exist come back as unsuccessful items, as AWS answers; the rest go `deleting`, then `deleted`. */
  deleteVpcEndpoints(ids: string[]): Array<{ id: string; code: string; message: string }> {
    const unsuccessful: Array<{ id: string; code: string; message: string }> = []
    for (const id of ids) {
      const e = this.endpoint(id)
      if (!e || e.State === 'deleted') {
        unsuccessful.push({ id, code: 'InvalidVpcEndpoint.NotFound', message: `The VPC endpoint '${id}' does not exist` })
        continue
      }
      if (e.State !== 'deleting') {
        e.State = 'deleting'
        e.deletedAt = Date.now() + this.pendingMs
      }
    }
    this.save()
    return unsuccessful
  }

  /**
   * The endpoint an instance's call to `service`'s regional name reaches, if any. S3: the gateway endpoint on the route
   * table of the instance's subnet (S3's interface private DNS answers only inbound resolvers; AWS routes the VPC's own
   * traffic to the gateway). Other services: an interface endpoint whose private DNS the VPC resolves.
   * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DnsOptionsSpecification.html
   */
  routedEndpoint(instanceId: string, service: string): VpcEndpointRecord | undefined {
    const instance = this.state.instances[instanceId]
    if (!instance) return undefined
    const name = `com.amazonaws.${this.region}.${service}`
    if ((GATEWAY_SERVICES as readonly string[]).includes(service)) {
      const tables = Object.values(this.state.routeTables).filter((t) => t.VpcId === instance.VpcId)
      // A subnet without an association of its own uses the VPC's main route table.
      const table = tables.find((t) => Object.values(t.Associations).includes(instance.SubnetId)) ?? tables.find((t) => t.Main)
      return table && this.endpoints().find((e) => e.VpcEndpointType === 'Gateway' && e.ServiceName === name && e.State === 'available' && (e.RouteTableIds ?? []).includes(table.RouteTableId))
    }
    const vpc = this.state.vpcs[instance.VpcId]
    // Without DNS support and DNS hostnames, the private hosted zone does not answer: the public name wins.
    if (!vpc || !vpc.EnableDnsHostnames || !vpc.EnableDnsSupport) return undefined
    return this.endpoints().find((e) => e.VpcId === vpc.VpcId && e.ServiceName === name && e.VpcEndpointType === 'Interface' && e.PrivateDnsEnabled && e.State === 'available')
  }

  /** DNS names an interface endpoint gets, shaped like AWS's (regional, then one per zone, then the private name). */
  dnsEntries(e: VpcEndpointRecord): Array<{ dnsName: string; hostedZoneId: string }> {
    // A gateway endpoint is a route, not a network interface: it has no DNS names.
    if (e.VpcEndpointType === 'Gateway') return []
    const service = e.ServiceName.split('.').pop()
    const base = `${e.VpcEndpointId}-${e.DnsSuffix}.${service}.${this.region}.vpce.amazonaws.com`
    const zones = [...new Set(e.SubnetIds.map((s) => this.state.subnets[s]?.AvailabilityZone).filter(Boolean))] as string[]
    const entries = [{ dnsName: base, hostedZoneId: 'Z38GZ743OKFT7T' }, ...zones.map((az) => ({ dnsName: `${az}.${base}`, hostedZoneId: 'Z38GZ743OKFT7T' }))]
    if (e.PrivateDnsEnabled) entries.push({ dnsName: `${service}.${this.region}.amazonaws.com`, hostedZoneId: `Z0${e.VpcEndpointId.slice(5).toUpperCase()}` })
    return entries
  }
}
