// EC2 state and rules: VPCs (with their DNS attributes), subnets, security groups, instances
// with instance profiles, and interface VPC endpoints. Never sees a request.
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
  VpcEndpointType: 'Interface'
  VpcId: string
  ServiceName: string
  State: 'pending' | 'available' | 'deleting' | 'deleted'
  /** Epoch ms when a pending endpoint becomes available (lab: a short delay, so clients must wait as in AWS). */
  availableAt: number
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

export interface Ec2State {
  vpcs: Record<string, VpcRecord>
  subnets: Record<string, SubnetRecord>
  securityGroups: Record<string, SecurityGroupRecord>
  instances: Record<string, InstanceRecord>
  vpcEndpoints: Record<string, VpcEndpointRecord>
}

/** The endpoint services the lab serves behind an interface endpoint. */
export const ENDPOINT_SERVICES = ['kms', 's3'] as const

/** AWS's resource ids: a type prefix and 17 hex characters. */
export function ec2Id(prefix: string): string {
  return `${prefix}-0${randomBytes(8).toString('hex')}`
}

/** The default endpoint policy AWS attaches: full access. */
export const FULL_ACCESS_POLICY = JSON.stringify({ Statement: [{ Action: '*', Effect: 'Allow', Principal: '*', Resource: '*' }] })

export const notFound = (code: string, message: string) => new AwsError(code, message, 400)

export class Ec2Model {
  /** How long a new endpoint stays `pending` (AWS: about a minute or two; the lab: short, overridable for tests). */
  pendingMs = 2000

  constructor(private readonly store: StateStore, readonly accountId: string, readonly region: string) {}

  get state(): Ec2State {
    const s = this.store.section<Ec2State>('ec2', () => ({ vpcs: {}, subnets: {}, securityGroups: {}, instances: {}, vpcEndpoints: {} }))
    // Sections created by older lab versions or by other writers may lack a table.
    s.vpcs ??= Object.create(null)
    s.subnets ??= Object.create(null)
    s.securityGroups ??= Object.create(null)
    s.instances ??= Object.create(null)
    s.vpcEndpoints ??= Object.create(null)
    return s
  }

  save(): void {
    this.store.save('ec2')
  }

  instanceArn(instanceId: string): string {
    return `arn:aws:ec2:${this.region}:${this.accountId}:instance/${instanceId}`
  }

  vpc(id: string): VpcRecord {
    const vpc = this.state.vpcs[id]
    if (!vpc) throw notFound('InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`)
    return vpc
  }

  subnet(id: string): SubnetRecord {
    const subnet = this.state.subnets[id]
    if (!subnet) throw notFound('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`)
    return subnet
  }

  securityGroup(id: string): SecurityGroupRecord {
    const group = this.state.securityGroups[id]
    if (!group) throw notFound('InvalidGroup.NotFound', `The security group '${id}' does not exist`)
    return group
  }

  instance(id: string): InstanceRecord {
    const instance = this.state.instances[id]
    if (!instance) throw notFound('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`)
    return instance
  }

  instanceByName(name: string): InstanceRecord | undefined {
    return Object.values(this.state.instances).find((i) => i.Name === name)
  }

  /** A pending endpoint whose time has come is available; called on every read so state moves on without a timer. */
  endpoint(id: string): VpcEndpointRecord | undefined {
    const e = this.state.vpcEndpoints[id]
    if (e && e.State === 'pending' && Date.now() >= e.availableAt) {
      e.State = 'available'
      this.save()
    }
    return e
  }

  endpoints(): VpcEndpointRecord[] {
    return Object.keys(this.state.vpcEndpoints).map((id) => this.endpoint(id)!)
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

  createVpcEndpoint(e: { vpcId: string; serviceName: string; subnetIds: string[]; securityGroupIds: string[]; policyDocument?: string; privateDnsEnabled?: boolean; tags?: Record<string, string> }): VpcEndpointRecord {
    const vpc = this.vpc(e.vpcId)
    const service = this.endpointService(e.serviceName)
    for (const s of e.subnetIds) if (this.subnet(s).VpcId !== vpc.VpcId) throw new AwsError('InvalidParameter', `The subnet ID '${s}' does not belong to VPC '${vpc.VpcId}'`, 400)
    const groups = e.securityGroupIds.length ? e.securityGroupIds : Object.values(this.state.securityGroups).filter((g) => g.VpcId === vpc.VpcId).slice(0, 1).map((g) => g.GroupId)
    for (const g of groups) this.securityGroup(g)
    const privateDns = e.privateDnsEnabled ?? true
    // AWS refuses private DNS unless the VPC resolves and names hosts.
    if (privateDns && !(vpc.EnableDnsHostnames && vpc.EnableDnsSupport)) {
      throw new AwsError('InvalidParameter', 'Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for ' + vpc.VpcId, 400)
    }
    if (privateDns && this.endpoints().some((x) => x.VpcId === vpc.VpcId && x.ServiceName === e.serviceName && x.PrivateDnsEnabled && x.State !== 'deleted')) {
      throw new AwsError('InvalidParameter', `private-dns-enabled cannot be set because there is already a conflicting DNS domain for ${service}.${this.region}.amazonaws.com in the VPC ${vpc.VpcId}`, 400)
    }
    const record: VpcEndpointRecord = {
      VpcEndpointId: ec2Id('vpce'),
      VpcEndpointType: 'Interface',
      VpcId: vpc.VpcId,
      ServiceName: e.serviceName,
      State: 'pending',
      availableAt: Date.now() + this.pendingMs,
      PolicyDocument: e.policyDocument ?? FULL_ACCESS_POLICY,
      SubnetIds: e.subnetIds,
      SecurityGroupIds: groups,
      PrivateDnsEnabled: privateDns,
      NetworkInterfaceIds: e.subnetIds.map(() => ec2Id('eni')),
      CreationTimestamp: new Date().toISOString(),
      DnsSuffix: randomBytes(4).toString('hex'),
      Tags: e.tags ?? {},
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

  modifyVpcEndpoint(id: string, change: { policyDocument?: string; resetPolicy?: boolean; privateDnsEnabled?: boolean; addSubnetIds?: string[]; removeSubnetIds?: string[] }): void {
    const e = this.endpoint(id)
    if (!e || e.State === 'deleted') throw notFound('InvalidVpcEndpointId.NotFound', `The Vpc Endpoint Id '${id}' does not exist`)
    if (change.resetPolicy) e.PolicyDocument = FULL_ACCESS_POLICY
    else if (change.policyDocument !== undefined) e.PolicyDocument = change.policyDocument
    if (change.privateDnsEnabled !== undefined) {
      const vpc = this.vpc(e.VpcId)
      if (change.privateDnsEnabled && !(vpc.EnableDnsHostnames && vpc.EnableDnsSupport)) {
        throw new AwsError('InvalidParameter', 'Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for ' + vpc.VpcId, 400)
      }
      e.PrivateDnsEnabled = change.privateDnsEnabled
    }
    for (const s of change.addSubnetIds ?? []) {
      this.subnet(s)
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

  /** Ids that do not exist come back as unsuccessful items, as AWS answers. */
  deleteVpcEndpoints(ids: string[]): Array<{ id: string; code: string; message: string }> {
    const unsuccessful: Array<{ id: string; code: string; message: string }> = []
    for (const id of ids) {
      const e = this.endpoint(id)
      if (!e || e.State === 'deleted') {
        unsuccessful.push({ id, code: 'InvalidVpcEndpoint.NotFound', message: `The VPC endpoint '${id}' does not exist` })
        continue
      }
      // The lab deletes at once; AWS shows `deleting` for a while, then drops the endpoint from listings.
      delete this.state.vpcEndpoints[id]
    }
    this.save()
    return unsuccessful
  }

  /** The endpoint an instance's call to `service`'s regional name reaches through private DNS, if any. */
  privateDnsEndpoint(instanceId: string, service: string): VpcEndpointRecord | undefined {
    const instance = this.state.instances[instanceId]
    if (!instance) return undefined
    const vpc = this.state.vpcs[instance.VpcId]
    // Without DNS support and DNS hostnames, the private hosted zone does not answer: the public name wins.
    if (!vpc || !vpc.EnableDnsHostnames || !vpc.EnableDnsSupport) return undefined
    const name = `com.amazonaws.${this.region}.${service}`
    return this.endpoints().find((e) => e.VpcId === vpc.VpcId && e.ServiceName === name && e.PrivateDnsEnabled && e.State === 'available')
  }

  /** DNS names an interface endpoint gets, shaped like AWS's (regional, then one per zone, then the private name). */
  dnsEntries(e: VpcEndpointRecord): Array<{ dnsName: string; hostedZoneId: string }> {
    const service = e.ServiceName.split('.').pop()
    const base = `${e.VpcEndpointId}-${e.DnsSuffix}.${service}.${this.region}.vpce.amazonaws.com`
    const zones = [...new Set(e.SubnetIds.map((s) => this.state.subnets[s]?.AvailabilityZone).filter(Boolean))] as string[]
    const entries = [{ dnsName: base, hostedZoneId: 'Z38GZ743OKFT7T' }, ...zones.map((az) => ({ dnsName: `${az}.${base}`, hostedZoneId: 'Z38GZ743OKFT7T' }))]
    if (e.PrivateDnsEnabled) entries.push({ dnsName: `${service}.${this.region}.amazonaws.com`, hostedZoneId: `Z0${e.VpcEndpointId.slice(5).toUpperCase()}` })
    return entries
  }
}
