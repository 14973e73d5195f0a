// AWS::EC2 network and compute resources, and AWS::AutoScaling::AutoScalingGroup, made through the
// lab's EC2 and Auto Scaling APIs (CloudFormation's property shapes turned into the APIs' members).
// Instances (alone or in a group) are complete once their metadata endpoint answers.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/AWS_EC2.html
import { randomBytes } from 'node:crypto'
import { AwsError, text } from '../../core/types.js'
import { isObject, type TemplateObject, type TemplateValue } from '../template.js'
import { ignoreNotFound, optionalString, policyText, requiredString, sameValue, stringList, tagList, type CurrentResource, type ResourceContext, type ResourceHandler } from './types.js'

const obj = (v: TemplateValue | undefined): TemplateObject => (isObject(v) ? v : {})
const objects = (v: TemplateValue | undefined): TemplateObject[] => (Array.isArray(v) ? v.filter(isObject) : [])
const unsupported = (property: string, type: string) => new AwsError('ValidationError', `Property ${property} of ${type} is not supported by aws-lab`, 400)

/** The template's tags plus CloudFormation's own, as EC2's TagSpecification. */
function tagSpec(ctx: ResourceContext, resourceType: string, tags: TemplateValue | undefined) {
  return [{ ResourceType: resourceType, Tag: [...ctx.tags, ...tagList(tags)].map((t) => ({ Key: t.Key, Value: t.Value })) }]
}

/** A handler whose every change is a replacement (create + delete), and whose Ref is the id EC2 returned. */
function replaceOnly(h: Omit<ResourceHandler, 'replaceOn'>): ResourceHandler {
  return { replaceOn: '*', ...h }
}

/** Updates that change nothing in the lab (tags): the properties are recorded, the resource stays. */
const keep = async (_props: TemplateObject, current: CurrentResource) => ({ physicalId: current.physicalId, attributes: current.attributes })

// ── VPC, subnets ──

export const vpc: ResourceHandler = {
  attributes: ['CidrBlock', 'CidrBlockAssociations', 'DefaultNetworkAcl', 'DefaultSecurityGroup', 'Ipv6CidrBlocks', 'VpcId'],
  replaceOn: ['CidrBlock', 'InstanceTenancy', 'Ipv4IpamPoolId', 'Ipv4NetmaskLength'],
  async create(props, ctx) {
    const out = await ctx.call<{ vpc: { vpcId: string; cidrBlock: string; cidrBlockAssociationSet: Array<{ associationId: string }> } }>('ec2', 'CreateVpc', { CidrBlock: requiredString(props, 'CidrBlock'), TagSpecification: tagSpec(ctx, 'vpc', props.Tags) })
    const vpcId = out.vpc.vpcId
    ctx.provisional(vpcId)
    await dnsAttributes(ctx, vpcId, props, {})
    const defaultGroup = Object.values(ctx.ec2.state.securityGroups).find((g) => g.VpcId === vpcId && g.GroupName === 'default')
    return {
      physicalId: vpcId,
      attributes: { VpcId: vpcId, CidrBlock: out.vpc.cidrBlock, CidrBlockAssociations: out.vpc.cidrBlockAssociationSet.map((a) => a.associationId), DefaultSecurityGroup: defaultGroup?.GroupId ?? '', DefaultNetworkAcl: `acl-${vpcId.slice(4)}`, Ipv6CidrBlocks: [] },
    }
  },
  async update(props, current, ctx) {
    await dnsAttributes(ctx, current.physicalId, props, current.properties)
    return { physicalId: current.physicalId, attributes: current.attributes }
  },
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DeleteVpc', { VpcId: current.physicalId })),
}

/** EC2 takes one VPC attribute per call; DNS support before hostnames (hostnames need it). */
async function dnsAttributes(ctx: ResourceContext, vpcId: string, props: TemplateObject, was: TemplateObject): Promise<void> {
  const support = text(props.EnableDnsSupport ?? true)
  const hostnames = text(props.EnableDnsHostnames ?? false)
  if (support !== text(was.EnableDnsSupport ?? true) || !Object.keys(was).length) await ctx.call('ec2', 'ModifyVpcAttribute', { VpcId: vpcId, EnableDnsSupport: { Value: support } })
  if (hostnames !== text(was.EnableDnsHostnames ?? false)) await ctx.call('ec2', 'ModifyVpcAttribute', { VpcId: vpcId, EnableDnsHostnames: { Value: hostnames } })
}

export const subnet: ResourceHandler = {
  attributes: ['AvailabilityZone', 'AvailabilityZoneId', 'CidrBlock', 'Ipv6CidrBlocks', 'NetworkAclAssociationId', 'OutpostArn', 'SubnetId', 'VpcId'],
  replaceOn: ['VpcId', 'CidrBlock', 'AvailabilityZone', 'AvailabilityZoneId', 'Ipv6CidrBlock'],
  async create(props, ctx) {
    const out = await ctx.call<{ subnet: { subnetId: string; availabilityZone: string; availabilityZoneId: string; cidrBlock: string; vpcId: string } }>('ec2', 'CreateSubnet', {
      VpcId: requiredString(props, 'VpcId'),
      CidrBlock: requiredString(props, 'CidrBlock'),
      AvailabilityZone: optionalString(props, 'AvailabilityZone'),
      TagSpecification: tagSpec(ctx, 'subnet', props.Tags),
    })
    const s = out.subnet
    return { physicalId: s.subnetId, attributes: { SubnetId: s.subnetId, AvailabilityZone: s.availabilityZone, AvailabilityZoneId: s.availabilityZoneId, CidrBlock: s.cidrBlock, VpcId: s.vpcId, NetworkAclAssociationId: `aclassoc-${s.subnetId.slice(7)}`, Ipv6CidrBlocks: [], OutpostArn: '' } }
  },
  update: keep,
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DeleteSubnet', { SubnetId: current.physicalId })),
}

// ── security groups and their rules ──

type Direction = 'Ingress' | 'Egress'

/** One rule in CloudFormation's shape as EC2's IpPermissions. */
function permission(rule: TemplateObject, direction: Direction) {
  const protocol = text(rule.IpProtocol ?? '-1')
  const peer = direction === 'Ingress' ? rule.SourceSecurityGroupId : rule.DestinationSecurityGroupId
  if (rule.CidrIpv6 !== undefined || rule.SourcePrefixListId !== undefined || rule.DestinationPrefixListId !== undefined) throw unsupported('CidrIpv6/PrefixListId', `AWS::EC2::SecurityGroup${direction}`)
  const description = rule.Description === undefined ? {} : { Description: text(rule.Description) }
  return {
    IpProtocol: protocol,
    ...(protocol !== '-1' && rule.FromPort !== undefined ? { FromPort: text(rule.FromPort) } : {}),
    ...(protocol !== '-1' && rule.ToPort !== undefined ? { ToPort: text(rule.ToPort) } : {}),
    ...(peer !== undefined ? { Groups: [{ GroupId: text(peer), ...description }] } : { IpRanges: [{ CidrIp: text(rule.CidrIp ?? '0.0.0.0/0'), ...description }] }),
  }
}

const ruleCall = (ctx: ResourceContext, verb: 'Authorize' | 'Revoke', direction: Direction, groupId: string, rules: TemplateObject[]) =>
  rules.length ? ctx.call('ec2', `${verb}SecurityGroup${direction}`, { GroupId: groupId, IpPermissions: rules.map((r) => permission(r, direction)) }) : Promise.resolve()

const ALL_EGRESS: TemplateObject = { IpProtocol: '-1', CidrIp: '0.0.0.0/0' }

export const securityGroup: ResourceHandler = {
  attributes: ['GroupId', 'VpcId'],
  replaceOn: ['GroupName', 'GroupDescription', 'VpcId'],
  async create(props, ctx) {
    const out = await ctx.call<{ groupId: string }>('ec2', 'CreateSecurityGroup', {
      GroupName: optionalString(props, 'GroupName') ?? ctx.physicalName(255),
      GroupDescription: requiredString(props, 'GroupDescription'),
      VpcId: requiredString(props, 'VpcId'),
      TagSpecification: tagSpec(ctx, 'security-group', props.Tags),
    })
    ctx.provisional(out.groupId)
    // Given egress rules replace the default allow-all, as CloudFormation does.
    if (props.SecurityGroupEgress !== undefined) {
      await ruleCall(ctx, 'Revoke', 'Egress', out.groupId, [ALL_EGRESS])
      await ruleCall(ctx, 'Authorize', 'Egress', out.groupId, objects(props.SecurityGroupEgress))
    }
    await ruleCall(ctx, 'Authorize', 'Ingress', out.groupId, objects(props.SecurityGroupIngress))
    return { physicalId: out.groupId, attributes: { GroupId: out.groupId, VpcId: text(props.VpcId) } }
  },
  async update(props, current, ctx) {
    for (const direction of ['Ingress', 'Egress'] as const) {
      const key = `SecurityGroup${direction}`
      const fallback = direction === 'Egress' ? [ALL_EGRESS] : []
      const before = props === current.properties ? [] : current.properties[key] === undefined ? fallback : objects(current.properties[key])
      const after = props[key] === undefined ? fallback : objects(props[key])
      const gone = before.filter((b) => !after.some((a) => sameValue(a, b)))
      const added = after.filter((a) => !before.some((b) => sameValue(a, b)))
      await ruleCall(ctx, 'Revoke', direction, current.physicalId, gone)
      await ruleCall(ctx, 'Authorize', direction, current.physicalId, added)
    }
    return { physicalId: current.physicalId, attributes: current.attributes }
  },
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DeleteSecurityGroup', { GroupId: current.physicalId })),
}

function ruleHandler(direction: Direction): ResourceHandler {
  return replaceOnly({
    attributes: ['Id'],
    async create(props, ctx) {
      await ruleCall(ctx, 'Authorize', direction, requiredString(props, 'GroupId'), [props])
      const id = `sgr-0${randomBytes(8).toString('hex')}`
      return { physicalId: id, attributes: { Id: id } }
    },
    delete: async (current, ctx) => ignoreNotFound(ruleCall(ctx, 'Revoke', direction, text(current.properties.GroupId), [current.properties])),
  })
}

export const securityGroupIngress = ruleHandler('Ingress')
export const securityGroupEgress = ruleHandler('Egress')

// ── routing ──

export const routeTable: ResourceHandler = {
  attributes: ['RouteTableId'],
  replaceOn: ['VpcId'],
  async create(props, ctx) {
    const out = await ctx.call<{ routeTable: { routeTableId: string } }>('ec2', 'CreateRouteTable', { VpcId: requiredString(props, 'VpcId'), TagSpecification: tagSpec(ctx, 'route-table', props.Tags) })
    return { physicalId: out.routeTable.routeTableId, attributes: { RouteTableId: out.routeTable.routeTableId } }
  },
  update: keep,
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DeleteRouteTable', { RouteTableId: current.physicalId })),
}

export const subnetRouteTableAssociation = replaceOnly({
  attributes: ['Id'],
  async create(props, ctx) {
    const out = await ctx.call<{ associationId: string }>('ec2', 'AssociateRouteTable', { RouteTableId: requiredString(props, 'RouteTableId'), SubnetId: requiredString(props, 'SubnetId') })
    return { physicalId: out.associationId, attributes: { Id: out.associationId } }
  },
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DisassociateRouteTable', { AssociationId: current.physicalId })),
})

export const internetGateway: ResourceHandler = {
  attributes: ['InternetGatewayId'],
  async create(props, ctx) {
    const out = await ctx.call<{ internetGateway: { internetGatewayId: string } }>('ec2', 'CreateInternetGateway', { TagSpecification: tagSpec(ctx, 'internet-gateway', props.Tags) })
    return { physicalId: out.internetGateway.internetGatewayId, attributes: { InternetGatewayId: out.internetGateway.internetGatewayId } }
  },
  update: keep,
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DeleteInternetGateway', { InternetGatewayId: current.physicalId })),
}

// Configuration only: the lab carries no packets, so nothing reaches the destination.
export const flowLog = replaceOnly({
  attributes: ['Id'],
  async create(props, ctx) {
    const out = await ctx.call<{ flowLogIdSet: string[]; unsuccessful: Array<{ error: { message: string } }> }>('ec2', 'CreateFlowLogs', {
      ResourceId: [requiredString(props, 'ResourceId')],
      ResourceType: requiredString(props, 'ResourceType'),
      TrafficType: optionalString(props, 'TrafficType'),
      LogDestinationType: optionalString(props, 'LogDestinationType'),
      LogDestination: optionalString(props, 'LogDestination'),
      LogGroupName: optionalString(props, 'LogGroupName'),
      DeliverLogsPermissionArn: optionalString(props, 'DeliverLogsPermissionArn'),
      MaxAggregationInterval: optionalString(props, 'MaxAggregationInterval'),
      TagSpecification: tagSpec(ctx, 'vpc-flow-log', props.Tags),
    })
    const id = out.flowLogIdSet[0]
    if (!id) throw new AwsError('InvalidRequest', out.unsuccessful[0]?.error.message ?? 'the flow log was not created', 400)
    return { physicalId: id, attributes: { Id: id } }
  },
  delete: async (current, ctx) => {
    await ctx.call('ec2', 'DeleteFlowLogs', { FlowLogId: [current.physicalId] })
  },
})

export const vpcGatewayAttachment = replaceOnly({
  attributes: [],
  async create(props, ctx) {
    if (props.VpnGatewayId !== undefined) throw unsupported('VpnGatewayId', 'AWS::EC2::VPCGatewayAttachment')
    const gateway = requiredString(props, 'InternetGatewayId')
    const vpcId = requiredString(props, 'VpcId')
    await ctx.call('ec2', 'AttachInternetGateway', { InternetGatewayId: gateway, VpcId: vpcId })
    return { physicalId: `IGW|${vpcId}`, attributes: {} }
  },
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DetachInternetGateway', { InternetGatewayId: text(current.properties.InternetGatewayId), VpcId: text(current.properties.VpcId) })),
})

export const route = replaceOnly({
  attributes: [],
  async create(props, ctx) {
    const table = requiredString(props, 'RouteTableId')
    const destination = requiredString(props, 'DestinationCidrBlock')
    await ctx.call('ec2', 'CreateRoute', { RouteTableId: table, DestinationCidrBlock: destination, GatewayId: optionalString(props, 'GatewayId'), NatGatewayId: optionalString(props, 'NatGatewayId'), InstanceId: optionalString(props, 'InstanceId') })
    return { physicalId: `${table}|${destination}`, attributes: {} }
  },
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DeleteRoute', { RouteTableId: text(current.properties.RouteTableId), DestinationCidrBlock: text(current.properties.DestinationCidrBlock) })),
})

// ── Elastic IPs and NAT gateways: the lab has no internet, so they are addresses and routes on record ──

export const eip: ResourceHandler = {
  attributes: ['AllocationId', 'PublicIp'],
  replaceOn: ['Domain', 'InstanceId', 'NetworkBorderGroup', 'PublicIpv4Pool', 'TransferAddress', 'IpamPoolId'],
  async create(props, ctx) {
    if (props.InstanceId !== undefined) throw unsupported('InstanceId', 'AWS::EC2::EIP')
    const out = await ctx.call<{ allocationId: string; publicIp: string }>('ec2', 'AllocateAddress', { Domain: 'vpc', TagSpecification: tagSpec(ctx, 'elastic-ip', props.Tags) })
    // CloudFormation's Ref of an EIP is its address.
    return { physicalId: out.publicIp, attributes: { AllocationId: out.allocationId, PublicIp: out.publicIp } }
  },
  update: keep,
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'ReleaseAddress', { AllocationId: text(current.attributes.AllocationId) })),
}

export const natGateway: ResourceHandler = {
  attributes: ['NatGatewayId'],
  replaceOn: ['AllocationId', 'SubnetId', 'ConnectivityType', 'PrivateIpAddress'],
  async create(props, ctx) {
    const out = await ctx.call<{ natGateway: { natGatewayId: string } }>('ec2', 'CreateNatGateway', { SubnetId: requiredString(props, 'SubnetId'), AllocationId: optionalString(props, 'AllocationId'), ConnectivityType: optionalString(props, 'ConnectivityType'), TagSpecification: tagSpec(ctx, 'natgateway', props.Tags) })
    return { physicalId: out.natGateway.natGatewayId, attributes: { NatGatewayId: out.natGateway.natGatewayId } }
  },
  update: keep,
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DeleteNatGateway', { NatGatewayId: current.physicalId })),
}

// ── VPC endpoints ──

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const vpcEndpoint: ResourceHandler = {
  attributes: ['CreationTimestamp', 'DnsEntries', 'Id', 'NetworkInterfaceIds'],
  replaceOn: ['VpcId', 'ServiceName', 'VpcEndpointType', 'RouteTableIds', 'SecurityGroupIds'],
  async create(props, ctx) {
    const type = optionalString(props, 'VpcEndpointType') ?? 'Gateway'
    const out = await ctx.call<{ vpcEndpoint: { vpcEndpointId: string; creationTimestamp: Date } }>('ec2', 'CreateVpcEndpoint', {
      VpcId: requiredString(props, 'VpcId'),
      ServiceName: requiredString(props, 'ServiceName'),
      VpcEndpointType: type,
      SubnetId: stringList(props.SubnetIds),
      SecurityGroupId: stringList(props.SecurityGroupIds),
      RouteTableId: stringList(props.RouteTableIds),
      ...(props.PrivateDnsEnabled !== undefined ? { PrivateDnsEnabled: text(props.PrivateDnsEnabled) } : type === 'Interface' ? { PrivateDnsEnabled: 'false' } : {}),
      ...(props.PolicyDocument !== undefined ? { PolicyDocument: policyText(props.PolicyDocument) } : {}),
      TagSpecification: tagSpec(ctx, 'vpc-endpoint', props.Tags),
    })
    const id = out.vpcEndpoint.vpcEndpointId
    ctx.provisional(id)
    // CloudFormation finishes an endpoint once it is available (a gateway endpoint is at once, an interface one after a while).
    for (let i = 0; i < 600 && ctx.ec2.endpoint(id)?.State === 'pending'; i++) await sleep(50)
    return { physicalId: id, attributes: endpointAttributes(ctx, id) }
  },
  async update(props, current, ctx) {
    const was = current.properties
    const subnetsBefore = stringList(was.SubnetIds)
    const subnetsAfter = stringList(props.SubnetIds)
    await ctx.call('ec2', 'ModifyVpcEndpoint', {
      VpcEndpointId: current.physicalId,
      ...(sameValue(props.PolicyDocument, was.PolicyDocument) ? {} : props.PolicyDocument === undefined ? { ResetPolicy: 'true' } : { PolicyDocument: policyText(props.PolicyDocument) }),
      ...(sameValue(props.PrivateDnsEnabled, was.PrivateDnsEnabled) ? {} : { PrivateDnsEnabled: text(props.PrivateDnsEnabled ?? false) }),
      AddSubnetId: subnetsAfter.filter((s) => !subnetsBefore.includes(s)),
      RemoveSubnetId: subnetsBefore.filter((s) => !subnetsAfter.includes(s)),
    })
    return { physicalId: current.physicalId, attributes: endpointAttributes(ctx, current.physicalId) }
  },
  async delete(current, ctx) {
    await ignoreNotFound(ctx.call('ec2', 'DeleteVpcEndpoints', { VpcEndpointId: [current.physicalId] }))
    // ... and its deletion once the endpoint is `deleted`: until then it holds its VPC, subnets and security groups.
    for (let i = 0; i < 600 && ctx.ec2.endpoint(current.physicalId)?.State === 'deleting'; i++) await sleep(50)
  },
}

function endpointAttributes(ctx: ResourceContext, id: string): Record<string, TemplateValue> {
  const e = ctx.ec2.endpoint(id)!
  return {
    Id: id,
    CreationTimestamp: e.CreationTimestamp,
    NetworkInterfaceIds: e.NetworkInterfaceIds,
    DnsEntries: ctx.ec2.dnsEntries(e).map((d) => `${d.hostedZoneId}:${d.dnsName}`),
  }
}

// ── launch templates, instances, Auto Scaling groups ──

/** LaunchTemplateData as CloudFormation writes it → as the EC2 API takes it (singular list names). */
function launchTemplateData(data: TemplateObject): TemplateObject {
  const out: TemplateObject = {}
  for (const [k, v] of Object.entries(data)) {
    if (k === 'SecurityGroupIds') out.SecurityGroupId = v
    else if (k === 'SecurityGroups') out.SecurityGroup = v
    else if (k === 'BlockDeviceMappings') out.BlockDeviceMapping = v
    else if (k === 'TagSpecifications') out.TagSpecification = objects(v).map((s) => ({ ResourceType: s.ResourceType ?? null, Tag: objects(s.Tags) }))
    else if (k === 'NetworkInterfaces') throw unsupported('LaunchTemplateData.NetworkInterfaces', 'AWS::EC2::LaunchTemplate')
    else out[k] = v
  }
  return out
}

export const launchTemplate: ResourceHandler = {
  attributes: ['DefaultVersionNumber', 'LatestVersionNumber', 'LaunchTemplateId'],
  replaceOn: ['LaunchTemplateName'],
  async create(props, ctx) {
    const out = await ctx.call<{ launchTemplate: { launchTemplateId: string; defaultVersionNumber: number; latestVersionNumber: number } }>('ec2', 'CreateLaunchTemplate', {
      LaunchTemplateName: optionalString(props, 'LaunchTemplateName') ?? ctx.physicalName(128),
      LaunchTemplateData: launchTemplateData(obj(props.LaunchTemplateData)),
      TagSpecification: tagSpec(ctx, 'launch-template', objects(props.TagSpecifications).flatMap((s) => objects(s.Tags))),
    })
    const t = out.launchTemplate
    return { physicalId: t.launchTemplateId, attributes: { LaunchTemplateId: t.launchTemplateId, DefaultVersionNumber: text(t.defaultVersionNumber), LatestVersionNumber: text(t.latestVersionNumber) } }
  },
  async update(props, current, ctx) {
    if (sameValue(props.LaunchTemplateData, current.properties.LaunchTemplateData)) return { physicalId: current.physicalId, attributes: current.attributes }
    // CloudFormation makes a new version and makes it the default.
    const made = await ctx.call<{ launchTemplateVersion: { versionNumber: number } }>('ec2', 'CreateLaunchTemplateVersion', { LaunchTemplateId: current.physicalId, LaunchTemplateData: launchTemplateData(obj(props.LaunchTemplateData)) })
    const version = text(made.launchTemplateVersion.versionNumber)
    await ctx.call('ec2', 'ModifyLaunchTemplate', { LaunchTemplateId: current.physicalId, SetDefaultVersion: version })
    return { physicalId: current.physicalId, attributes: { ...current.attributes, DefaultVersionNumber: version, LatestVersionNumber: version } }
  },
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'DeleteLaunchTemplate', { LaunchTemplateId: current.physicalId })),
}

function instanceAttributes(ctx: ResourceContext, id: string): Record<string, TemplateValue> {
  const i = ctx.ec2.instance(id)
  const s = ctx.ec2.state.subnets[i.SubnetId]
  return { InstanceId: id, AvailabilityZone: s?.AvailabilityZone ?? '', PrivateIp: i.PrivateIpAddress, PrivateDnsName: `ip-${i.PrivateIpAddress.replace(/\./g, '-')}.${ctx.region}.compute.internal`, PublicDnsName: '', PublicIp: '', VpcId: i.VpcId }
}

export const instance: ResourceHandler = {
  attributes: ['AvailabilityZone', 'InstanceId', 'PrivateDnsName', 'PrivateIp', 'PublicDnsName', 'PublicIp', 'VpcId'],
  async create(props, ctx) {
    for (const p of ['NetworkInterfaces', 'SecurityGroups', 'Volumes', 'ElasticGpuSpecifications']) if (props[p] !== undefined) throw unsupported(p, 'AWS::EC2::Instance')
    const profile = optionalString(props, 'IamInstanceProfile')
    const out = await ctx.call<{ instancesSet: Array<{ instanceId: string }> }>('ec2', 'RunInstances', {
      MinCount: '1',
      MaxCount: '1',
      ImageId: optionalString(props, 'ImageId'),
      InstanceType: optionalString(props, 'InstanceType'),
      SubnetId: optionalString(props, 'SubnetId'),
      SecurityGroupId: stringList(props.SecurityGroupIds),
      PrivateIpAddress: optionalString(props, 'PrivateIpAddress'),
      ...(profile ? { IamInstanceProfile: profile.startsWith('arn:') ? { Arn: profile } : { Name: profile } } : {}),
      ...(props.LaunchTemplate !== undefined ? { LaunchTemplate: obj(props.LaunchTemplate) } : {}),
      TagSpecification: tagSpec(ctx, 'instance', props.Tags),
    })
    const id = out.instancesSet[0].instanceId
    ctx.provisional(id)
    await ctx.instanceReady(id)
    return { physicalId: id, attributes: instanceAttributes(ctx, id) }
  },
  delete: async (current, ctx) => ignoreNotFound(ctx.call('ec2', 'TerminateInstances', { InstanceId: [current.physicalId] })),
}

/** The group's instances, ready (metadata answering) before the group counts as complete. */
async function groupReady(ctx: ResourceContext, name: string): Promise<void> {
  const ids = Object.values(ctx.ec2.state.instances).filter((i) => i.Tags['aws:autoscaling:groupName'] === name).map((i) => i.InstanceId)
  await Promise.all(ids.map((id) => ctx.instanceReady(id)))
}

function groupInput(props: TemplateObject): TemplateObject {
  for (const p of ['LaunchConfigurationName', 'MixedInstancesPolicy', 'InstanceId', 'LoadBalancerNames']) if (props[p] !== undefined) throw unsupported(p, 'AWS::AutoScaling::AutoScalingGroup')
  return {
    ...(props.LaunchTemplate !== undefined ? { LaunchTemplate: obj(props.LaunchTemplate) } : {}),
    MinSize: text(props.MinSize),
    MaxSize: text(props.MaxSize),
    ...(props.DesiredCapacity !== undefined ? { DesiredCapacity: text(props.DesiredCapacity) } : {}),
    ...(props.VPCZoneIdentifier !== undefined ? { VPCZoneIdentifier: stringList(props.VPCZoneIdentifier).join(',') } : {}),
    ...(props.HealthCheckType !== undefined ? { HealthCheckType: text(props.HealthCheckType) } : {}),
    ...(props.HealthCheckGracePeriod !== undefined ? { HealthCheckGracePeriod: text(props.HealthCheckGracePeriod) } : {}),
  }
}

export const autoScalingGroup: ResourceHandler = {
  attributes: [],
  replaceOn: ['AutoScalingGroupName', 'Tags', 'TargetGroupARNs'],
  async create(props, ctx) {
    const name = optionalString(props, 'AutoScalingGroupName') ?? ctx.physicalName(255)
    await ctx.call('autoscaling', 'CreateAutoScalingGroup', {
      AutoScalingGroupName: name,
      ...groupInput(props),
      Tags: objects(props.Tags).map((t) => ({ Key: text(t.Key), Value: text(t.Value), PropagateAtLaunch: text(t.PropagateAtLaunch ?? false) })),
      TargetGroupARNs: stringList(props.TargetGroupARNs),
    })
    ctx.provisional(name)
    await groupReady(ctx, name)
    return { physicalId: name, attributes: {} }
  },
  async update(props, current, ctx) {
    await ctx.call('autoscaling', 'UpdateAutoScalingGroup', { AutoScalingGroupName: current.physicalId, ...groupInput(props) })
    await groupReady(ctx, current.physicalId)
    return { physicalId: current.physicalId, attributes: {} }
  },
  async delete(current, ctx) {
    try {
      await ctx.call('autoscaling', 'DeleteAutoScalingGroup', { AutoScalingGroupName: current.physicalId, ForceDelete: 'true' })
    } catch (err) {
      if (/not found/.test((err as Error).message)) return
      throw err
    }
  },
}
