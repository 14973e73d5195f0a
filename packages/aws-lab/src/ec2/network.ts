// The EC2 a deployment makes: VPCs (with their default security group and main route table),
// subnets, security groups and their rules, route tables and routes, internet and NAT gateways,
// Elastic IPs, launch templates, and instances launched and terminated at run time (each with its
// own instance metadata endpoint, see imds/server.ts). State lives beside the seed's, in Ec2Model,
// which also owns VPC endpoints of both kinds (a gateway endpoint names route tables made here).
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Operations.html
import { randomBytes } from 'node:crypto'
import { AwsError, text, type AuthCheck, type Operation, type OperationContext } from '../core/types.js'
import type { IamModel } from '../iam/model.js'
import { ec2Id, notFound, type Ec2Model, type Ec2State, type InstanceRecord, type RouteTableRecord, type SecurityGroupRecord } from './model.js'

type Input = Record<string, unknown>
type Members = Record<string, unknown>

export interface IpPermission {
  IpProtocol: string
  FromPort?: number
  ToPort?: number
  IpRanges: Array<{ CidrIp: string; Description?: string }>
  UserIdGroupPairs: Array<{ GroupId: string; Description?: string }>
}

export interface InternetGatewayRecord {
  InternetGatewayId: string
  VpcId?: string
  Tags: Record<string, string>
}

export interface LaunchTemplateRecord {
  LaunchTemplateId: string
  LaunchTemplateName: string
  CreateTime: string
  CreatedBy: string
  DefaultVersionNumber: number
  /** Version number → the LaunchTemplateData as the EC2 API takes it (SecurityGroupId, IamInstanceProfile, TagSpecification …). */
  Versions: Record<string, Members>
  Tags: Record<string, string>
}

export interface AddressRecord {
  AllocationId: string
  /** From TEST-NET-3 (203.0.113.0/24): the lab has no internet, so no routable address. */
  PublicIp: string
  Domain: 'vpc'
  /** The NAT gateway holding it, if any. */
  NatGatewayId?: string
  Tags: Record<string, string>
}

export interface NatGatewayRecord {
  NatGatewayId: string
  SubnetId: string
  VpcId: string
  AllocationId?: string
  ConnectivityType: 'public' | 'private'
  PrivateIp: string
  CreateTime: string
  Tags: Record<string, string>
}

/** The tables this module adds to the EC2 section (absent in data folders made before it). */
interface NetworkTables {
  internetGateways: Record<string, InternetGatewayRecord>
  launchTemplates: Record<string, LaunchTemplateRecord>
  addresses: Record<string, AddressRecord>
  natGateways: Record<string, NatGatewayRecord>
}

export function network(ec2: Ec2Model): Ec2State & NetworkTables {
  const s = ec2.state as Ec2State & Partial<NetworkTables>
  s.internetGateways ??= {}
  s.launchTemplates ??= {}
  s.addresses ??= {}
  s.natGateways ??= {}
  return s as Ec2State & NetworkTables
}

const list = (value: unknown): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map((v) => text(v)) : [text(value)])
const members = (value: unknown): Members[] => (Array.isArray(value) ? (value as Members[]) : value && typeof value === 'object' ? [value as Members] : [])
const tagSet = (tags: Record<string, string>) => Object.entries(tags).map(([key, value]) => ({ key, value }))
const missing = (name: string) => new AwsError('MissingParameter', `The request must contain the parameter ${name}`, 400)
const required = (i: Input, name: string): string => {
  if (i[name] === undefined || i[name] === '') throw missing(name)
  return text(i[name])
}

/** `TagSpecification.N` tags for one resource type. */
export function specTags(input: Input, resourceType: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const spec of members(input.TagSpecification)) {
    if (text(spec.ResourceType) !== resourceType) continue
    for (const t of members(spec.Tag)) out[text(t.Key)] = text(t.Value ?? '')
  }
  return out
}

// ── IPv4 arithmetic for CIDR checks and address allocation ──

function parseCidr(cidr: string): { base: number; prefix: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr)
  if (!m || [1, 2, 3, 4].some((i) => Number(m[i]) > 255) || Number(m[5]) > 32) return undefined
  const prefix = Number(m[5])
  const ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  return { base: (ip & mask) >>> 0, prefix }
}

const ipText = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
const size = (prefix: number) => 2 ** (32 - prefix)
const within = (inner: { base: number; prefix: number }, outer: { base: number; prefix: number }) => inner.prefix >= outer.prefix && inner.base >= outer.base && inner.base + size(inner.prefix) <= outer.base + size(outer.prefix)
const overlaps = (a: { base: number; prefix: number }, b: { base: number; prefix: number }) => a.base < b.base + size(b.prefix) && b.base < a.base + size(a.prefix)

/** The next free address of a subnet; AWS reserves the first four and the last. */
function allocateIp(ec2: Ec2Model, subnetId: string): string {
  const subnet = ec2.subnet(subnetId)
  const cidr = parseCidr(subnet.CidrBlock)!
  const used = new Set(Object.values(ec2.state.instances).filter((i) => i.SubnetId === subnetId).map((i) => i.PrivateIpAddress))
  for (let n = cidr.base + 4; n < cidr.base + size(cidr.prefix) - 1; n++) if (!used.has(ipText(n))) return ipText(n)
  throw new AwsError('InsufficientFreeAddressesInSubnet', `There are not enough free addresses in subnet '${subnetId}' to satisfy the requested number of instances.`, 400)
}

// ── instances ──

export interface LaunchSpec {
  imageId: string
  instanceType?: string
  subnetId: string
  securityGroupIds: string[]
  instanceProfileName?: string
  tags: Record<string, string>
  privateIpAddress?: string
}

/** The instance profile named by `{ Arn }` or `{ Name }` (as RunInstances and launch templates take it). */
export function instanceProfileName(iam: IamModel, spec: unknown): string | undefined {
  if (!spec || typeof spec !== 'object') return undefined
  const s = spec as Members
  const name = s.Name !== undefined ? text(s.Name) : s.Arn !== undefined ? text(s.Arn).split('/').pop() : undefined
  if (name !== undefined && !iam.instanceProfiles[name]) throw new AwsError('InvalidParameterValue', `Value (${text(s.Arn ?? s.Name)}) for parameter iamInstanceProfile.${s.Arn !== undefined ? 'arn' : 'name'} is invalid. Invalid IAM Instance Profile ${s.Arn !== undefined ? 'ARN' : 'name'}`, 400)
  return name
}

/** Launches one instance; its metadata endpoint opens as the model announces it. */
export function launchInstance(ec2: Ec2Model, spec: LaunchSpec): InstanceRecord {
  const subnet = ec2.subnet(spec.subnetId)
  const groups = spec.securityGroupIds.length ? spec.securityGroupIds : Object.values(ec2.state.securityGroups).filter((g) => g.VpcId === subnet.VpcId && g.GroupName === 'default').map((g) => g.GroupId)
  for (const g of groups) if (ec2.securityGroup(g).VpcId !== subnet.VpcId) throw new AwsError('InvalidParameter', `Security group ${g} and subnet ${subnet.SubnetId} belong to different networks.`, 400)
  const instanceId = ec2Id('i')
  // The lab's short name for the instance: its Name tag when no other instance has it, else the id.
  const wanted = spec.tags.Name
  const name = wanted && !Object.values(ec2.state.instances).some((i) => i.Name === wanted) ? wanted : instanceId
  const instance = ec2.addInstance({ instanceId, name, subnetId: subnet.SubnetId, securityGroupIds: groups, privateIpAddress: spec.privateIpAddress ?? allocateIp(ec2, subnet.SubnetId), instanceProfileName: spec.instanceProfileName, imageId: spec.imageId, instanceType: spec.instanceType })
  instance.Tags = { ...spec.tags }
  ec2.save()
  return instance
}

/** What RunInstances asks IAM: the instance and what it uses, and iam:PassRole for the profile's role. */
export function launchChecks(ec2: Ec2Model, iam: IamModel, action: string, spec: { subnetId?: string; securityGroupIds: string[]; imageId?: string; profile?: string; launchTemplateId?: string }): AuthCheck[] {
  const arn = (type: string, id: string) => `arn:aws:ec2:${ec2.region}:${ec2.accountId}:${type}/${id}`
  const checks: AuthCheck[] = [
    { action, resource: arn('instance', '*') },
    { action, resource: arn('network-interface', '*') },
    { action, resource: arn('volume', '*') },
    ...(spec.subnetId ? [{ action, resource: arn('subnet', spec.subnetId) }] : []),
    ...spec.securityGroupIds.map((g) => ({ action, resource: arn('security-group', g) })),
    ...(spec.imageId ? [{ action, resource: `arn:aws:ec2:${ec2.region}::image/${spec.imageId}` }] : []),
    ...(spec.launchTemplateId ? [{ action, resource: arn('launch-template', spec.launchTemplateId) }] : []),
  ]
  const role = spec.profile ? iam.instanceProfiles[spec.profile]?.Roles[0] : undefined
  if (role && iam.state.roles[role]) checks.push({ action: 'iam:PassRole', resource: iam.state.roles[role].Arn, context: { 'iam:PassedToService': 'ec2.amazonaws.com' } })
  return checks
}

/** A launch template version's data, with RunInstances' own members taking precedence. */
export function templateData(ec2: Ec2Model, ref: unknown): { template: LaunchTemplateRecord; data: Members } | undefined {
  if (!ref || typeof ref !== 'object') return undefined
  const r = ref as Members
  const templates = Object.values(network(ec2).launchTemplates)
  const template = r.LaunchTemplateId !== undefined ? network(ec2).launchTemplates[text(r.LaunchTemplateId)] : templates.find((t) => t.LaunchTemplateName === text(r.LaunchTemplateName))
  if (!template) throw notFound('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${text(r.LaunchTemplateId ?? r.LaunchTemplateName)}, does not exist.`)
  const asked = r.Version === undefined || text(r.Version) === '$Default' ? String(template.DefaultVersionNumber) : text(r.Version) === '$Latest' ? String(Math.max(...Object.keys(template.Versions).map(Number))) : text(r.Version)
  const data = template.Versions[asked]
  if (!data) throw notFound('InvalidLaunchTemplateId.VersionNotFound', `Could not find launch template version ${asked} for launch template ${template.LaunchTemplateId}`)
  return { template, data }
}

function internetGateway(ec2: Ec2Model, id: string): InternetGatewayRecord {
  const g = network(ec2).internetGateways[id]
  if (!g) throw notFound('InvalidInternetGatewayID.NotFound', `The internetGateway ID '${id}' does not exist`)
  return g
}

// ── security group rules ──

function permissions(input: Input): IpPermission[] {
  return members(input.IpPermissions).map((p) => ({
    IpProtocol: text(p.IpProtocol ?? '-1'),
    ...(p.FromPort !== undefined ? { FromPort: Number(p.FromPort) } : {}),
    ...(p.ToPort !== undefined ? { ToPort: Number(p.ToPort) } : {}),
    IpRanges: members(p.IpRanges).map((r) => ({ CidrIp: text(r.CidrIp), ...(r.Description !== undefined ? { Description: text(r.Description) } : {}) })),
    UserIdGroupPairs: members(p.Groups ?? p.UserIdGroupPairs).map((g) => ({ GroupId: text(g.GroupId), ...(g.Description !== undefined ? { Description: text(g.Description) } : {}) })),
  }))
}

const ruleKey = (p: IpPermission, source: string) => `${p.IpProtocol === '-1' ? '-1' : p.IpProtocol}|${p.FromPort ?? ''}|${p.ToPort ?? ''}|${source}`

/** Adds (or revokes) rules one source at a time, refusing duplicates (and unknown ones) as EC2 does. */
function changeRules(ec2: Ec2Model, group: SecurityGroupRecord & RuleTables, direction: 'IpPermissions' | 'IpPermissionsEgress', asked: IpPermission[], revoke: boolean): void {
  const rules = (group[direction] ??= direction === 'IpPermissionsEgress' ? [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }], UserIdGroupPairs: [] }] : [])
  const flat = (ps: IpPermission[]) => ps.flatMap((p) => [...p.IpRanges.map((r) => ({ p, source: r.CidrIp, pair: undefined })), ...p.UserIdGroupPairs.map((g) => ({ p, source: g.GroupId, pair: g }))])
  for (const { p, source, pair } of flat(asked)) {
    if (pair) ec2.securityGroup(pair.GroupId)
    const key = ruleKey(p, source)
    const existing = flat(rules).find((r) => ruleKey(r.p, r.source) === key)
    if (!revoke && existing) throw new AwsError('InvalidPermission.Duplicate', `the specified rule "peer: ${source}, ${p.IpProtocol === '-1' ? 'ALL' : p.IpProtocol.toUpperCase()}, from port: ${p.FromPort ?? ''}, to port: ${p.ToPort ?? ''}, ALLOW" already exists`, 400)
    if (revoke && !existing) throw new AwsError('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.', 400)
    if (revoke) {
      existing!.p.IpRanges = existing!.p.IpRanges.filter((r) => r.CidrIp !== source)
      existing!.p.UserIdGroupPairs = existing!.p.UserIdGroupPairs.filter((g) => g.GroupId !== source)
    } else rules.push({ IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort, IpRanges: pair ? [] : [{ CidrIp: source, ...(p.IpRanges.find((r) => r.CidrIp === source)?.Description ? { Description: p.IpRanges.find((r) => r.CidrIp === source)!.Description } : {}) }], UserIdGroupPairs: pair ? [pair] : [] })
  }
  group[direction] = rules.filter((r) => r.IpRanges.length || r.UserIdGroupPairs.length)
  ec2.save()
}

/** A security group's rules, as EC2 describes them. */
export interface RuleTables {
  IpPermissions?: IpPermission[]
  IpPermissionsEgress?: IpPermission[]
}

export function permissionsOut(rules: IpPermission[], accountId: string) {
  return rules.map((r) => ({
    ipProtocol: r.IpProtocol,
    fromPort: r.FromPort,
    toPort: r.ToPort,
    groups: r.UserIdGroupPairs.map((g) => ({ groupId: g.GroupId, userId: accountId, description: g.Description })),
    ipRanges: r.IpRanges.map((x) => ({ cidrIp: x.CidrIp, description: x.Description })),
    ipv6Ranges: [],
    prefixListIds: [],
  }))
}

// ── the operations ──

export function networkOperations(ec2: Ec2Model, iam: IamModel): Record<string, Operation> {
  const { accountId, region } = ec2
  const arn = (type: string, id: string) => `arn:aws:ec2:${region}:${accountId}:${type}/${id}`
  const check = (action: string, resource = '*'): AuthCheck[] => [{ action: `ec2:${action}`, resource }]
  const dependency = (what: string) => new AwsError('DependencyViolation', what, 400)
  // A `deleted` endpoint (still listed for a while) holds nothing; a `deleting` one still holds its VPC, subnets and groups.
  const standingEndpoints = () => ec2.endpoints().filter((e) => e.State !== 'deleted')

  const vpcOut = (vpcId: string) => {
    const v = ec2.vpc(vpcId)
    return { vpcId: v.VpcId, ownerId: accountId, state: 'available', cidrBlock: v.CidrBlock, dhcpOptionsId: v.DhcpOptionsId, instanceTenancy: 'default', isDefault: false, tagSet: tagSet(v.Tags), cidrBlockAssociationSet: [{ associationId: `vpc-cidr-assoc-${v.VpcId.slice(4)}`, cidrBlock: v.CidrBlock, cidrBlockState: { state: 'associated' } }] }
  }
  const routeTableOut = (t: RouteTableRecord) => ({
    routeTableId: t.RouteTableId,
    vpcId: t.VpcId,
    ownerId: accountId,
    routeSet: [{ destinationCidrBlock: ec2.vpc(t.VpcId).CidrBlock, gatewayId: 'local', origin: 'CreateRouteTable', state: 'active' }, ...t.Routes.map((r) => ({ destinationCidrBlock: r.DestinationCidrBlock, gatewayId: r.GatewayId, natGatewayId: r.NatGatewayId, instanceId: r.InstanceId, origin: r.Origin, state: 'active' }))],
    associationSet: [
      ...(t.Main ? [{ main: true, routeTableAssociationId: `rtbassoc-${t.RouteTableId.slice(4)}`, routeTableId: t.RouteTableId, associationState: { state: 'associated' } }] : []),
      ...Object.entries(t.Associations).map(([id, subnetId]) => ({ main: false, routeTableAssociationId: id, routeTableId: t.RouteTableId, subnetId, associationState: { state: 'associated' } })),
    ],
    tagSet: tagSet(t.Tags),
  })
  const igwOut = (g: InternetGatewayRecord) => ({ internetGatewayId: g.InternetGatewayId, ownerId: accountId, attachmentSet: g.VpcId ? [{ vpcId: g.VpcId, state: 'available' }] : [], tagSet: tagSet(g.Tags) })
  const launchTemplateOut = (t: LaunchTemplateRecord) => ({
    launchTemplateId: t.LaunchTemplateId,
    launchTemplateName: t.LaunchTemplateName,
    createTime: new Date(t.CreateTime),
    createdBy: t.CreatedBy,
    defaultVersionNumber: t.DefaultVersionNumber,
    latestVersionNumber: Math.max(...Object.keys(t.Versions).map(Number)),
    tagSet: tagSet(t.Tags),
  })
  const natGatewayOut = (g: NatGatewayRecord) => ({
    natGatewayId: g.NatGatewayId,
    subnetId: g.SubnetId,
    vpcId: g.VpcId,
    state: 'available',
    connectivityType: g.ConnectivityType,
    createTime: new Date(g.CreateTime),
    natGatewayAddressSet: [{ allocationId: g.AllocationId, publicIp: g.AllocationId ? network(ec2).addresses[g.AllocationId]?.PublicIp : undefined, privateIp: g.PrivateIp, isPrimary: true, status: 'succeeded' }],
    tagSet: tagSet(g.Tags),
  })
  const instanceState = (i: InstanceRecord, name: string, code: number) => ({ instanceId: i.InstanceId, currentState: { code, name }, previousState: { code: 16, name: 'running' } })
  const byTag = <T extends { Tags: Record<string, string> }>(items: T[], input: Input, idOf: (t: T) => string, key: string) => {
    const ids = list(input[key])
    return ids.length ? items.filter((t) => ids.includes(idOf(t))) : items
  }

  const operations: Record<string, Operation> = {
    CreateVpc: {
      authorize: () => check('CreateVpc', arn('vpc', '*')),
      run: (i: Input) => {
        const cidr = required(i, 'CidrBlock')
        const parsed = parseCidr(cidr)
        if (!parsed || parsed.prefix < 16 || parsed.prefix > 28) throw new AwsError('InvalidVpc.Range', `The CIDR '${cidr}' is invalid.`, 400)
        const vpc = ec2.addVpc({ vpcId: ec2Id('vpc'), cidrBlock: `${ipText(parsed.base)}/${parsed.prefix}`, enableDnsHostnames: false, enableDnsSupport: true, tags: specTags(i, 'vpc') })
        // Every VPC comes with a default security group and a main route table.
        ec2.addSecurityGroup({ groupId: ec2Id('sg'), groupName: 'default', description: 'default VPC security group', vpcId: vpc.VpcId })
        const main: RouteTableRecord = { RouteTableId: ec2Id('rtb'), VpcId: vpc.VpcId, Main: true, Routes: [], Associations: {}, Tags: {} }
        network(ec2).routeTables[main.RouteTableId] = main
        ec2.save()
        return { vpc: vpcOut(vpc.VpcId) }
      },
    },
    DeleteVpc: {
      authorize: (i: Input) => check('DeleteVpc', arn('vpc', text(i.VpcId ?? ''))),
      run: (i: Input) => {
        const vpc = ec2.vpc(required(i, 'VpcId'))
        const s = network(ec2)
        const inUse = Object.values(s.subnets).some((x) => x.VpcId === vpc.VpcId) || Object.values(s.securityGroups).some((g) => g.VpcId === vpc.VpcId && g.GroupName !== 'default')
          || Object.values(s.internetGateways).some((g) => g.VpcId === vpc.VpcId) || standingEndpoints().some((e) => e.VpcId === vpc.VpcId) || Object.values(s.routeTables).some((t) => t.VpcId === vpc.VpcId && !t.Main)
        if (inUse) throw dependency(`The vpc '${vpc.VpcId}' has dependencies and cannot be deleted.`)
        for (const g of Object.values(s.securityGroups)) if (g.VpcId === vpc.VpcId) delete s.securityGroups[g.GroupId]
        for (const t of Object.values(s.routeTables)) if (t.VpcId === vpc.VpcId) delete s.routeTables[t.RouteTableId]
        delete s.vpcs[vpc.VpcId]
        ec2.save()
        return { return: true }
      },
    },
    CreateSubnet: {
      authorize: (i: Input) => [...check('CreateSubnet', arn('subnet', '*')), ...check('CreateSubnet', arn('vpc', text(i.VpcId ?? '*')))],
      run: (i: Input) => {
        const vpc = ec2.vpc(required(i, 'VpcId'))
        const cidr = required(i, 'CidrBlock')
        const parsed = parseCidr(cidr)
        if (!parsed || parsed.prefix > 28 || !within(parsed, parseCidr(vpc.CidrBlock)!)) throw new AwsError('InvalidSubnet.Range', `The CIDR '${cidr}' is invalid.`, 400)
        if (Object.values(ec2.state.subnets).some((x) => x.VpcId === vpc.VpcId && overlaps(parsed, parseCidr(x.CidrBlock)!))) throw new AwsError('InvalidSubnet.Conflict', `The CIDR '${cidr}' conflicts with another subnet`, 400)
        const az = text(i.AvailabilityZone ?? `${region}a`)
        if (!/^[a-z]{2}-[a-z]+-\d[a-c]$/.test(az) || !az.startsWith(region)) throw new AwsError('InvalidParameterValue', `Value (${az}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ${region}a, ${region}b, ${region}c.`, 400)
        const subnet = ec2.addSubnet({ subnetId: ec2Id('subnet'), vpcId: vpc.VpcId, cidrBlock: cidr, availabilityZone: az, tags: specTags(i, 'subnet') })
        return { subnet: { subnetId: subnet.SubnetId, vpcId: subnet.VpcId, cidrBlock: subnet.CidrBlock, availabilityZone: subnet.AvailabilityZone, availabilityZoneId: subnet.AvailabilityZoneId, state: 'available', availableIpAddressCount: size(parsed.prefix) - 5, ownerId: accountId, subnetArn: arn('subnet', subnet.SubnetId), tagSet: tagSet(subnet.Tags) } }
      },
    },
    DeleteSubnet: {
      authorize: (i: Input) => check('DeleteSubnet', arn('subnet', text(i.SubnetId ?? ''))),
      run: (i: Input) => {
        const subnet = ec2.subnet(required(i, 'SubnetId'))
        if (Object.values(ec2.state.instances).some((x) => x.SubnetId === subnet.SubnetId) || standingEndpoints().some((e) => e.SubnetIds.includes(subnet.SubnetId))) {
          throw dependency(`The subnet '${subnet.SubnetId}' has dependencies and cannot be deleted.`)
        }
        for (const t of Object.values(network(ec2).routeTables)) for (const [a, s] of Object.entries(t.Associations)) if (s === subnet.SubnetId) delete t.Associations[a]
        delete ec2.state.subnets[subnet.SubnetId]
        ec2.save()
        return { return: true }
      },
    },
    CreateSecurityGroup: {
      authorize: (i: Input) => [...check('CreateSecurityGroup', arn('security-group', '*')), ...check('CreateSecurityGroup', arn('vpc', text(i.VpcId ?? '*')))],
      run: (i: Input) => {
        const vpc = ec2.vpc(required(i, 'VpcId'))
        const name = required(i, 'GroupName')
        if (name === 'default' || Object.values(ec2.state.securityGroups).some((g) => g.VpcId === vpc.VpcId && g.GroupName === name)) {
          throw new AwsError('InvalidGroup.Duplicate', `The security group '${name}' already exists for VPC '${vpc.VpcId}'`, 400)
        }
        const group = ec2.addSecurityGroup({ groupId: ec2Id('sg'), groupName: name, description: required(i, 'GroupDescription'), vpcId: vpc.VpcId, tags: specTags(i, 'security-group') }) as SecurityGroupRecord & RuleTables
        group.IpPermissions = []
        group.IpPermissionsEgress = [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }], UserIdGroupPairs: [] }]
        ec2.save()
        return { groupId: group.GroupId, securityGroupArn: arn('security-group', group.GroupId) }
      },
    },
    DeleteSecurityGroup: {
      authorize: (i: Input) => check('DeleteSecurityGroup', arn('security-group', text(i.GroupId ?? ''))),
      run: (i: Input) => {
        const group = ec2.securityGroup(required(i, 'GroupId'))
        const referenced = Object.values(ec2.state.securityGroups).some((g) => g.GroupId !== group.GroupId && [...((g as RuleTables).IpPermissions ?? []), ...((g as RuleTables).IpPermissionsEgress ?? [])].some((p) => p.UserIdGroupPairs.some((x) => x.GroupId === group.GroupId)))
        if (referenced || Object.values(ec2.state.instances).some((x) => x.SecurityGroupIds.includes(group.GroupId)) || standingEndpoints().some((e) => e.SecurityGroupIds.includes(group.GroupId))) {
          throw dependency(`resource ${group.GroupId} has a dependent object`)
        }
        delete ec2.state.securityGroups[group.GroupId]
        ec2.save()
        return { return: true, groupId: group.GroupId }
      },
    },
    ...Object.fromEntries((['Ingress', 'Egress'] as const).flatMap((direction) => (['Authorize', 'Revoke'] as const).map((verb) => [`${verb}SecurityGroup${direction}`, {
      authorize: (i: Input) => check(`${verb}SecurityGroup${direction}`, arn('security-group', text(i.GroupId ?? ''))),
      run: (i: Input) => {
        const group = ec2.securityGroup(required(i, 'GroupId')) as SecurityGroupRecord & RuleTables
        const asked = permissions(i)
        if (!asked.length) throw missing('IpPermissions')
        changeRules(ec2, group, direction === 'Ingress' ? 'IpPermissions' : 'IpPermissionsEgress', asked, verb === 'Revoke')
        return { return: true }
      },
    } satisfies Operation]))),
    CreateRouteTable: {
      authorize: (i: Input) => [...check('CreateRouteTable', arn('route-table', '*')), ...check('CreateRouteTable', arn('vpc', text(i.VpcId ?? '*')))],
      run: (i: Input) => {
        const vpc = ec2.vpc(required(i, 'VpcId'))
        const t: RouteTableRecord = { RouteTableId: ec2Id('rtb'), VpcId: vpc.VpcId, Main: false, Routes: [], Associations: {}, Tags: specTags(i, 'route-table') }
        network(ec2).routeTables[t.RouteTableId] = t
        ec2.save()
        return { routeTable: routeTableOut(t) }
      },
    },
    DeleteRouteTable: {
      authorize: (i: Input) => check('DeleteRouteTable', arn('route-table', text(i.RouteTableId ?? ''))),
      run: (i: Input) => {
        const t = ec2.routeTable(required(i, 'RouteTableId'))
        if (t.Main || Object.keys(t.Associations).length) throw dependency(`The routeTable '${t.RouteTableId}' has dependencies and cannot be deleted.`)
        delete network(ec2).routeTables[t.RouteTableId]
        for (const e of Object.values(ec2.state.vpcEndpoints)) if (e.RouteTableIds) e.RouteTableIds = e.RouteTableIds.filter((r) => r !== t.RouteTableId)
        ec2.save()
        return { return: true }
      },
    },
    AssociateRouteTable: {
      authorize: (i: Input) => check('AssociateRouteTable', arn('route-table', text(i.RouteTableId ?? ''))),
      run: (i: Input) => {
        const t = ec2.routeTable(required(i, 'RouteTableId'))
        const subnet = ec2.subnet(required(i, 'SubnetId'))
        if (subnet.VpcId !== t.VpcId) throw new AwsError('InvalidParameterValue', `Route table ${t.RouteTableId} and subnet ${subnet.SubnetId} belong to different networks`, 400)
        if (Object.values(network(ec2).routeTables).some((x) => Object.values(x.Associations).includes(subnet.SubnetId))) throw new AwsError('Resource.AlreadyAssociated', `the specified association for route table ${t.RouteTableId} conflicts with an existing association`, 400)
        const id = ec2Id('rtbassoc')
        t.Associations[id] = subnet.SubnetId
        ec2.save()
        return { associationId: id, associationState: { state: 'associated' } }
      },
    },
    DisassociateRouteTable: {
      authorize: () => check('DisassociateRouteTable', arn('route-table', '*')),
      run: (i: Input) => {
        const id = required(i, 'AssociationId')
        const t = Object.values(network(ec2).routeTables).find((x) => Object.hasOwn(x.Associations, id))
        if (!t) throw notFound('InvalidAssociationID.NotFound', `The association ID '${id}' does not exist`)
        delete t.Associations[id]
        ec2.save()
        return { return: true }
      },
    },
    CreateRoute: {
      authorize: (i: Input) => check('CreateRoute', arn('route-table', text(i.RouteTableId ?? ''))),
      run: (i: Input) => {
        const t = ec2.routeTable(required(i, 'RouteTableId'))
        const destination = required(i, 'DestinationCidrBlock')
        if (!parseCidr(destination)) throw new AwsError('InvalidParameterValue', `Value (${destination}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.`, 400)
        if (t.Routes.some((r) => r.DestinationCidrBlock === destination)) throw new AwsError('RouteAlreadyExists', `The route identified by ${destination} already exists.`, 400)
        const gatewayId = i.GatewayId === undefined ? undefined : text(i.GatewayId)
        if (gatewayId?.startsWith('igw-') && internetGateway(ec2, gatewayId).VpcId !== t.VpcId) throw new AwsError('InvalidParameterValue', `route table ${t.RouteTableId} and network gateway ${gatewayId} belong to different networks`, 400)
        const instanceId = i.InstanceId === undefined ? undefined : ec2.instance(text(i.InstanceId)).InstanceId
        const natGatewayId = i.NatGatewayId === undefined ? undefined : text(i.NatGatewayId)
        if (!gatewayId && !instanceId && !natGatewayId) throw missing('GatewayId')
        t.Routes.push({ DestinationCidrBlock: destination, GatewayId: gatewayId, NatGatewayId: natGatewayId, InstanceId: instanceId, Origin: 'CreateRoute' })
        ec2.save()
        return { return: true }
      },
    },
    DeleteRoute: {
      authorize: (i: Input) => check('DeleteRoute', arn('route-table', text(i.RouteTableId ?? ''))),
      run: (i: Input) => {
        const t = ec2.routeTable(required(i, 'RouteTableId'))
        const destination = required(i, 'DestinationCidrBlock')
        if (!t.Routes.some((r) => r.DestinationCidrBlock === destination)) throw notFound('InvalidRoute.NotFound', `no route with destination-cidr-block ${destination} in route table ${t.RouteTableId}`)
        t.Routes = t.Routes.filter((r) => r.DestinationCidrBlock !== destination)
        ec2.save()
        return { return: true }
      },
    },
    DescribeRouteTables: {
      readOnly: true,
      authorize: () => check('DescribeRouteTables'),
      run: (i: Input) => ({ routeTableSet: byTag(Object.values(network(ec2).routeTables), i, (t) => t.RouteTableId, 'RouteTableId').map(routeTableOut) }),
    },
    CreateInternetGateway: {
      authorize: () => check('CreateInternetGateway', arn('internet-gateway', '*')),
      run: (i: Input) => {
        const g: InternetGatewayRecord = { InternetGatewayId: ec2Id('igw'), Tags: specTags(i, 'internet-gateway') }
        network(ec2).internetGateways[g.InternetGatewayId] = g
        ec2.save()
        return { internetGateway: igwOut(g) }
      },
    },
    AttachInternetGateway: {
      authorize: (i: Input) => check('AttachInternetGateway', arn('internet-gateway', text(i.InternetGatewayId ?? ''))),
      run: (i: Input) => {
        const g = internetGateway(ec2, required(i, 'InternetGatewayId'))
        const vpc = ec2.vpc(required(i, 'VpcId'))
        if (g.VpcId) throw new AwsError('Resource.AlreadyAssociated', `resource ${g.InternetGatewayId} is already attached to network ${g.VpcId}`, 400)
        g.VpcId = vpc.VpcId
        ec2.save()
        return { return: true }
      },
    },
    DetachInternetGateway: {
      authorize: (i: Input) => check('DetachInternetGateway', arn('internet-gateway', text(i.InternetGatewayId ?? ''))),
      run: (i: Input) => {
        const g = internetGateway(ec2, required(i, 'InternetGatewayId'))
        if (g.VpcId !== required(i, 'VpcId')) throw new AwsError('Gateway.NotAttached', `resource ${g.InternetGatewayId} is not attached to network ${text(i.VpcId)}`, 400)
        delete g.VpcId
        ec2.save()
        return { return: true }
      },
    },
    DeleteInternetGateway: {
      authorize: (i: Input) => check('DeleteInternetGateway', arn('internet-gateway', text(i.InternetGatewayId ?? ''))),
      run: (i: Input) => {
        const g = internetGateway(ec2, required(i, 'InternetGatewayId'))
        if (g.VpcId) throw dependency(`The internetGateway '${g.InternetGatewayId}' has dependencies and cannot be deleted.`)
        delete network(ec2).internetGateways[g.InternetGatewayId]
        ec2.save()
        return { return: true }
      },
    },
    DescribeInternetGateways: {
      readOnly: true,
      authorize: () => check('DescribeInternetGateways'),
      run: (i: Input) => ({ internetGatewaySet: byTag(Object.values(network(ec2).internetGateways), i, (g) => g.InternetGatewayId, 'InternetGatewayId').map(igwOut) }),
    },
    AllocateAddress: {
      authorize: () => check('AllocateAddress', arn('elastic-ip', '*')),
      run: (i: Input) => {
        if (i.Domain !== undefined && text(i.Domain) !== 'vpc') throw new AwsError('InvalidParameterValue', `Value (${text(i.Domain)}) for parameter domain is invalid.`, 400)
        const used = new Set(Object.values(network(ec2).addresses).map((a) => a.PublicIp))
        const host = Array.from({ length: 254 }, (_, n) => `203.0.113.${n + 1}`).find((ip) => !used.has(ip))
        if (!host) throw new AwsError('AddressLimitExceeded', 'The maximum number of addresses has been reached.', 400)
        const a: AddressRecord = { AllocationId: ec2Id('eipalloc'), PublicIp: host, Domain: 'vpc', Tags: specTags(i, 'elastic-ip') }
        network(ec2).addresses[a.AllocationId] = a
        ec2.save()
        return { publicIp: a.PublicIp, allocationId: a.AllocationId, domain: 'vpc', publicIpv4Pool: 'amazon', networkBorderGroup: region }
      },
    },
    ReleaseAddress: {
      authorize: (i: Input) => check('ReleaseAddress', arn('elastic-ip', text(i.AllocationId ?? '*'))),
      run: (i: Input) => {
        const id = required(i, 'AllocationId')
        const a = network(ec2).addresses[id]
        if (!a) throw notFound('InvalidAllocationID.NotFound', `The allocation ID '${id}' does not exist`)
        if (a.NatGatewayId && network(ec2).natGateways[a.NatGatewayId]) throw new AwsError('InvalidIPAddress.InUse', 'Address is in use', 400)
        delete network(ec2).addresses[id]
        ec2.save()
        return { return: true }
      },
    },
    DescribeAddresses: {
      readOnly: true,
      authorize: () => check('DescribeAddresses'),
      run: (i: Input) => ({ addressesSet: byTag(Object.values(network(ec2).addresses), i, (a) => a.AllocationId, 'AllocationId').map((a) => ({ publicIp: a.PublicIp, allocationId: a.AllocationId, domain: a.Domain, tagSet: tagSet(a.Tags) })) }),
    },
    CreateNatGateway: {
      authorize: (i: Input) => [...check('CreateNatGateway', arn('natgateway', '*')), ...check('CreateNatGateway', arn('subnet', text(i.SubnetId ?? '*')))],
      run: (i: Input) => {
        const subnet = ec2.subnet(required(i, 'SubnetId'))
        const type = text(i.ConnectivityType ?? 'public') === 'private' ? 'private' : 'public'
        const allocation = i.AllocationId === undefined ? undefined : network(ec2).addresses[text(i.AllocationId)]
        if (type === 'public' && !allocation) throw new AwsError('InvalidAllocationID.NotFound', `The allocation ID '${text(i.AllocationId ?? '')}' does not exist`, 400)
        if (allocation?.NatGatewayId && network(ec2).natGateways[allocation.NatGatewayId]) throw new AwsError('Resource.AlreadyAssociated', `Elastic IP address [${allocation.AllocationId}] is already associated`, 400)
        const g: NatGatewayRecord = { NatGatewayId: ec2Id('nat'), SubnetId: subnet.SubnetId, VpcId: subnet.VpcId, AllocationId: allocation?.AllocationId, ConnectivityType: type, PrivateIp: allocateIp(ec2, subnet.SubnetId), CreateTime: new Date().toISOString(), Tags: specTags(i, 'natgateway') }
        if (allocation) allocation.NatGatewayId = g.NatGatewayId
        network(ec2).natGateways[g.NatGatewayId] = g
        ec2.save()
        return { natGateway: natGatewayOut(g) }
      },
    },
    DeleteNatGateway: {
      authorize: (i: Input) => check('DeleteNatGateway', arn('natgateway', text(i.NatGatewayId ?? '*'))),
      run: (i: Input) => {
        const id = required(i, 'NatGatewayId')
        const g = network(ec2).natGateways[id]
        if (!g) throw notFound('NatGatewayNotFound', `The Nat Gateway ${id} was not found`)
        if (g.AllocationId && network(ec2).addresses[g.AllocationId]) delete network(ec2).addresses[g.AllocationId].NatGatewayId
        delete network(ec2).natGateways[id]
        ec2.save()
        return { natGatewayId: id }
      },
    },
    DescribeNatGateways: {
      readOnly: true,
      authorize: () => check('DescribeNatGateways'),
      run: (i: Input) => ({ natGatewaySet: byTag(Object.values(network(ec2).natGateways), i, (g) => g.NatGatewayId, 'NatGatewayId').map(natGatewayOut) }),
    },
    CreateLaunchTemplate: {
      authorize: () => check('CreateLaunchTemplate', arn('launch-template', '*')),
      run: (i: Input, ctx: OperationContext) => {
        const name = required(i, 'LaunchTemplateName')
        if (Object.values(network(ec2).launchTemplates).some((t) => t.LaunchTemplateName === name)) {
          throw new AwsError('InvalidLaunchTemplateName.AlreadyExistsException', `Launch template name already in use.`, 400)
        }
        const data = (i.LaunchTemplateData ?? {}) as Members
        instanceProfileName(iam, data.IamInstanceProfile)
        const t: LaunchTemplateRecord = { LaunchTemplateId: ec2Id('lt'), LaunchTemplateName: name, CreateTime: new Date().toISOString(), CreatedBy: ctx.caller.principal.arn, DefaultVersionNumber: 1, Versions: { 1: data }, Tags: specTags(i, 'launch-template') }
        network(ec2).launchTemplates[t.LaunchTemplateId] = t
        ec2.save()
        return { launchTemplate: launchTemplateOut(t) }
      },
    },
    CreateLaunchTemplateVersion: {
      authorize: (i: Input) => check('CreateLaunchTemplateVersion', arn('launch-template', text(i.LaunchTemplateId ?? '*'))),
      run: (i: Input) => {
        const { template } = templateData(ec2, { LaunchTemplateId: i.LaunchTemplateId, LaunchTemplateName: i.LaunchTemplateName })!
        const data = (i.LaunchTemplateData ?? {}) as Members
        instanceProfileName(iam, data.IamInstanceProfile)
        const version = Math.max(...Object.keys(template.Versions).map(Number)) + 1
        template.Versions[version] = data
        ec2.save()
        return { launchTemplateVersion: { launchTemplateId: template.LaunchTemplateId, launchTemplateName: template.LaunchTemplateName, versionNumber: version, defaultVersion: false } }
      },
    },
    ModifyLaunchTemplate: {
      authorize: (i: Input) => check('ModifyLaunchTemplate', arn('launch-template', text(i.LaunchTemplateId ?? '*'))),
      run: (i: Input) => {
        const { template } = templateData(ec2, { LaunchTemplateId: i.LaunchTemplateId, LaunchTemplateName: i.LaunchTemplateName })!
        const version = text(i.SetDefaultVersion ?? template.DefaultVersionNumber)
        if (!template.Versions[version]) throw notFound('InvalidLaunchTemplateId.VersionNotFound', `Could not find launch template version ${version} for launch template ${template.LaunchTemplateId}`)
        template.DefaultVersionNumber = Number(version)
        ec2.save()
        return { launchTemplate: launchTemplateOut(template) }
      },
    },
    DeleteLaunchTemplate: {
      authorize: (i: Input) => check('DeleteLaunchTemplate', arn('launch-template', text(i.LaunchTemplateId ?? '*'))),
      run: (i: Input) => {
        const { template } = templateData(ec2, { LaunchTemplateId: i.LaunchTemplateId, LaunchTemplateName: i.LaunchTemplateName })!
        delete network(ec2).launchTemplates[template.LaunchTemplateId]
        ec2.save()
        return { launchTemplate: launchTemplateOut(template) }
      },
    },
    DescribeLaunchTemplates: {
      readOnly: true,
      authorize: () => check('DescribeLaunchTemplates'),
      run: (i: Input) => {
        let items = byTag(Object.values(network(ec2).launchTemplates), i, (t) => t.LaunchTemplateId, 'LaunchTemplateId')
        const names = list(i.LaunchTemplateName)
        if (names.length) items = items.filter((t) => names.includes(t.LaunchTemplateName))
        return { launchTemplates: items.map(launchTemplateOut) }
      },
    },
    RunInstances: {
      authorize: (i: Input) => {
        const fromTemplate = templateData(ec2, i.LaunchTemplate)
        const data = { ...(fromTemplate?.data ?? {}), ...i }
        const profile = instanceProfileName(iam, data.IamInstanceProfile)
        return launchChecks(ec2, iam, 'ec2:RunInstances', { subnetId: data.SubnetId === undefined ? undefined : text(data.SubnetId), securityGroupIds: list(data.SecurityGroupId), imageId: data.ImageId === undefined ? undefined : text(data.ImageId), profile, launchTemplateId: fromTemplate?.template.LaunchTemplateId })
      },
      run: (i: Input) => {
        const fromTemplate = templateData(ec2, i.LaunchTemplate)
        const data = { ...(fromTemplate?.data ?? {}), ...i }
        const count = Number(i.MinCount ?? 1)
        if (!Number.isInteger(count) || count < 1 || count > Number(i.MaxCount ?? count) || count > 20) throw new AwsError('InvalidParameterValue', `Invalid value '${text(i.MinCount)}' for minCount.`, 400)
        if (data.ImageId === undefined) throw missing('ImageId')
        if (data.SubnetId === undefined) throw new AwsError('MissingInput', 'No subnets found for the default VPC. Please specify a subnet.', 400)
        const tags = { ...specTags(fromTemplate?.data ?? {}, 'instance'), ...specTags(i, 'instance') }
        const launched = Array.from({ length: count }, () => launchInstance(ec2, {
          imageId: text(data.ImageId),
          instanceType: data.InstanceType === undefined ? undefined : text(data.InstanceType),
          subnetId: text(data.SubnetId),
          securityGroupIds: list(data.SecurityGroupId),
          instanceProfileName: instanceProfileName(iam, data.IamInstanceProfile),
          tags,
          privateIpAddress: count === 1 && i.PrivateIpAddress !== undefined ? text(i.PrivateIpAddress) : undefined,
        }))
        return { reservationId: `r-0${randomBytes(8).toString('hex')}`, ownerId: accountId, groupSet: [], instancesSet: launched.map((x) => ({ instanceId: x.InstanceId, imageId: x.ImageId, instanceType: x.InstanceType, instanceState: { code: 0, name: 'pending' }, subnetId: x.SubnetId, vpcId: x.VpcId, privateIpAddress: x.PrivateIpAddress, launchTime: new Date(x.LaunchTime), tagSet: tagSet(x.Tags) })) }
      },
    },
    TerminateInstances: {
      authorize: (i: Input) => list(i.InstanceId).flatMap((id) => check('TerminateInstances', arn('instance', id))),
      run: (i: Input) => {
        const ids = list(i.InstanceId)
        if (!ids.length) throw missing('InstanceId')
        const instances = ids.map((id) => ec2.instance(id))
        return { instancesSet: instances.map((x) => instanceState(ec2.removeInstance(x.InstanceId), 'shutting-down', 32)) }
      },
    },
  }
  return operations
}
