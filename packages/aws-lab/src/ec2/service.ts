// EC2 (its own query protocol): the describe calls the workshop and keyadmin make, VPC DNS
// attributes, and VPC endpoints (interface, and S3's gateway); the EC2 a deployment makes is in
// network.ts. Outputs use EC2's wire names (lowerCamel, *Set lists).
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Operations.html
import { wildcardMatcher } from '@kms-share/policy'
import { AwsError, text, type AuthCheck, type Operation, type OperationContext, type ServiceDefinition } from '../core/types.js'
import { parsePolicyText, type IamModel } from '../iam/model.js'
import { ENDPOINT_SERVICES, GATEWAY_SERVICES, type Ec2Model, type InstanceRecord, type VpcEndpointRecord, wellFormedId } from './model.js'
import { networkOperations, permissionsOut, type RuleTables } from './network.js'
import { dropFlowLogsOf, flowLogOperations } from './flow-logs.js'

type Input = Record<string, unknown>
type Filter = { Name: string; Value?: string[] }
/** A query list of structures (`Filter.N.Name`, `TagSpecification.N.Tag.M.Key`), as the query parser builds it. */
type Members = Record<string, unknown>

const list = (value: unknown): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map((v) => text(v)) : [text(value)])
const tagSet = (tags: Record<string, string>) => Object.entries(tags).map(([key, value]) => ({ key, value }))

/** `*` and `?` wildcards, as EC2 filters accept (matched in linear time: the values come from callers). */
function filterMatch(pattern: string, value: string): boolean {
  return wildcardMatcher(pattern).test(value)
}

/** Apply EC2 filters: every filter must match (AND), any of a filter's values may (OR); `tag:<k>` works everywhere. */
function applyFilters<T>(items: T[], input: Input, fields: Record<string, (item: T) => string[]>, tags: (item: T) => Record<string, string>): T[] {
  const filters: Filter[] = ((input.Filter as Members[] | undefined) ?? []).map((f) => ({ Name: text(f.Name), Value: list(f.Value) }))
  for (const f of filters) {
    if (!f.Name.startsWith('tag:') && f.Name !== 'tag-key' && !Object.hasOwn(fields, f.Name)) throw new AwsError('InvalidParameterValue', `The filter '${f.Name}' is invalid`, 400)
  }
  return items.filter((item) =>
    filters.every((f) => {
      let values: string[]
      if (f.Name.startsWith('tag:')) {
        const itemTags = tags(item)
        const name = f.Name.slice(4)
        values = Object.hasOwn(itemTags, name) ? [itemTags[name]] : []
      } else if (f.Name === 'tag-key') values = Object.keys(tags(item))
      else values = fields[f.Name](item)
      return (f.Value ?? []).some((pattern) => values.some((v) => filterMatch(pattern, v)))
    }),
  )
}

/** What EC2 says about an id of the wrong form (InvalidVpcID.Malformed, …) before it looks anything up. */
const MALFORMED: Record<string, (id: string) => AwsError> = {
  vpc: (id) => new AwsError('InvalidVpcID.Malformed', `The vpc ID ${id} is malformed`, 400),
  subnet: (id) => new AwsError('InvalidSubnetID.Malformed', `The subnet ID '${id}' is malformed`, 400),
  sg: (id) => new AwsError('InvalidGroupId.Malformed', `Invalid id: "${id}" (expecting "sg-...")`, 400),
  i: (id) => new AwsError('InvalidInstanceID.Malformed', `Invalid id: "${id}"`, 400),
  vpce: (id) => new AwsError('InvalidVpcEndpointId.Malformed', `Invalid Id: '${id}' (expecting 'vpce-...; the Id may only contain lowercase alphanumeric characters and a single dash')`, 400),
}

function byIds<T>(items: T[], ids: string[], idOf: (item: T) => string, prefix: string, notFound: (id: string) => AwsError): T[] {
  if (!ids.length) return items
  for (const id of ids) if (!wellFormedId(prefix, id)) throw MALFORMED[prefix](id)
  for (const id of ids) if (!items.some((i) => idOf(i) === id)) throw notFound(id)
  return items.filter((i) => ids.includes(idOf(i)))
}

/** An endpoint policy must parse as an IAM policy; AWS answers InvalidPolicyDocument (400) otherwise. */
function endpointPolicy(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const policy = text(value)
  try {
    parsePolicyText(policy, 'InvalidPolicyDocument')
  } catch (err) {
    throw new AwsError('InvalidPolicyDocument', `The Policy Document is not valid. ${(err as Error).message}`, 400)
  }
  return policy
}

const bool = (value: unknown, name: string): boolean => {
  const v = text(value)
  if (v === 'true') return true
  if (v === 'false') return false
  throw new AwsError('InvalidParameterValue', `Value (${v}) for parameter ${name} is invalid. Expected: 'true' or 'false'.`, 400)
}

export function createEc2Service(ec2: Ec2Model, iam: IamModel): ServiceDefinition {
  const { accountId, region } = ec2
  const arn = (type: string, id: string) => `arn:aws:ec2:${region}:${accountId}:${type}/${id}`
  const check = (action: string, resource = '*'): AuthCheck[] => [{ action: `ec2:${action}`, resource }]

  const groupsOf = (ids: string[]) => ids.map((id) => ({ groupId: id, groupName: ec2.state.securityGroups[id]?.GroupName }))
  const instanceOut = (i: InstanceRecord) => {
    const profile = i.InstanceProfileName ? iam.instanceProfiles[i.InstanceProfileName] : undefined
    const subnet = ec2.state.subnets[i.SubnetId]
    const privateDnsName = `ip-${i.PrivateIpAddress.replace(/\./g, '-')}.${region}.compute.internal`
    return {
      instanceId: i.InstanceId,
      imageId: i.ImageId,
      instanceState: { code: 16, name: 'running' },
      privateDnsName,
      dnsName: '',
      amiLaunchIndex: 0,
      instanceType: i.InstanceType,
      launchTime: new Date(i.LaunchTime),
      placement: { availabilityZone: subnet?.AvailabilityZone ?? `${region}a`, groupName: '', tenancy: 'default' },
      monitoring: { state: 'disabled' },
      subnetId: i.SubnetId,
      vpcId: i.VpcId,
      privateIpAddress: i.PrivateIpAddress,
      groupSet: groupsOf(i.SecurityGroupIds),
      architecture: 'x86_64',
      rootDeviceType: 'ebs',
      rootDeviceName: '/dev/xvda',
      virtualizationType: 'hvm',
      hypervisor: 'xen',
      ...(profile ? { iamInstanceProfile: { arn: profile.Arn, id: profile.InstanceProfileId } } : {}),
      networkInterfaceSet: [{
        networkInterfaceId: i.NetworkInterfaceId,
        subnetId: i.SubnetId,
        vpcId: i.VpcId,
        ownerId: accountId,
        status: 'in-use',
        macAddress: i.MacAddress,
        privateIpAddress: i.PrivateIpAddress,
        privateDnsName,
        groupSet: groupsOf(i.SecurityGroupIds),
        interfaceType: 'interface',
      }],
      tagSet: tagSet(i.Tags),
      // The lab serves IMDSv2 only, as an instance launched with HttpTokens=required.
      metadataOptions: { state: 'applied', httpTokens: 'required', httpPutResponseHopLimit: 2, httpEndpoint: 'enabled', httpProtocolIpv6: 'disabled', instanceMetadataTags: 'disabled' },
    }
  }
  const endpointOut = (e: VpcEndpointRecord) => ({
    vpcEndpointId: e.VpcEndpointId,
    vpcEndpointType: e.VpcEndpointType,
    vpcId: e.VpcId,
    serviceName: e.ServiceName,
    state: e.State,
    policyDocument: e.PolicyDocument,
    routeTableIdSet: e.RouteTableIds ?? [],
    subnetIdSet: e.SubnetIds,
    groupSet: groupsOf(e.SecurityGroupIds),
    ipAddressType: 'ipv4',
    dnsOptions: { dnsRecordIpType: 'ipv4' },
    serviceRegion: region,
    privateDnsEnabled: e.PrivateDnsEnabled,
    requesterManaged: false,
    networkInterfaceIdSet: e.NetworkInterfaceIds,
    dnsEntrySet: ec2.dnsEntries(e),
    creationTimestamp: new Date(e.CreationTimestamp),
    tagSet: tagSet(e.Tags),
    ownerId: accountId,
  })
  const tagsFromSpecs = (input: Input, resourceType: string): Record<string, string> => {
    const out: Record<string, string> = {}
    for (const spec of (input.TagSpecification as Members[] | undefined) ?? []) {
      if (spec.ResourceType !== resourceType) continue
      for (const t of (spec.Tag as Members[] | undefined) ?? []) out[text(t.Key)] = text(t.Value ?? '')
    }
    return out
  }

  const operations: Record<string, Operation> = {
    DescribeInstances: {
      readOnly: true,
      authorize: () => check('DescribeInstances'),
      run: (i: Input) => {
        let items = byIds(Object.values(ec2.state.instances), list(i.InstanceId), (x) => x.InstanceId, 'i', (id) => new AwsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`, 400))
        items = applyFilters(items, i, {
          'instance-id': (x) => [x.InstanceId],
          'vpc-id': (x) => [x.VpcId],
          'subnet-id': (x) => [x.SubnetId],
          'instance-state-name': () => ['running'],
          'private-ip-address': (x) => [x.PrivateIpAddress],
          'iam-instance-profile.arn': (x) => (x.InstanceProfileName && iam.instanceProfiles[x.InstanceProfileName] ? [iam.instanceProfiles[x.InstanceProfileName].Arn] : []),
          'instance.group-id': (x) => x.SecurityGroupIds,
          'network-interface.mac-address': (x) => [x.MacAddress],
        }, (x) => x.Tags)
        // One reservation per instance, as separate launches make.
        return { reservationSet: items.map((x) => ({ reservationId: `r-${x.InstanceId.slice(2)}`, ownerId: accountId, groupSet: [], instancesSet: [instanceOut(x)] })) }
      },
    },
    DescribeVpcs: {
      readOnly: true,
      authorize: () => check('DescribeVpcs'),
      run: (i: Input) => {
        let items = byIds(Object.values(ec2.state.vpcs), list(i.VpcId), (x) => x.VpcId, 'vpc', (id) => new AwsError('InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`, 400))
        items = applyFilters(items, i, { 'vpc-id': (x) => [x.VpcId], 'cidr': (x) => [x.CidrBlock], 'cidr-block-association.cidr-block': (x) => [x.CidrBlock], 'is-default': (x) => [String(x.IsDefault)], 'state': () => ['available'], 'owner-id': () => [accountId], 'dhcp-options-id': (x) => [x.DhcpOptionsId] }, (x) => x.Tags)
        return {
          vpcSet: items.map((v) => ({
            vpcId: v.VpcId,
            ownerId: accountId,
            instanceTenancy: 'default',
            cidrBlockAssociationSet: [{ associationId: `vpc-cidr-assoc-${v.VpcId.slice(4)}`, cidrBlock: v.CidrBlock, cidrBlockState: { state: 'associated' } }],
            isDefault: v.IsDefault,
            tagSet: tagSet(v.Tags),
            state: 'available',
            cidrBlock: v.CidrBlock,
            dhcpOptionsId: v.DhcpOptionsId,
          })),
        }
      },
    },
    DescribeSubnets: {
      readOnly: true,
      authorize: () => check('DescribeSubnets'),
      run: (i: Input) => {
        let items = byIds(Object.values(ec2.state.subnets), list(i.SubnetId), (x) => x.SubnetId, 'subnet', (id) => new AwsError('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`, 400))
        items = applyFilters(items, i, { 'subnet-id': (x) => [x.SubnetId], 'vpc-id': (x) => [x.VpcId], 'availability-zone': (x) => [x.AvailabilityZone], 'availability-zone-id': (x) => [x.AvailabilityZoneId], 'cidr-block': (x) => [x.CidrBlock], 'state': () => ['available'], 'owner-id': () => [accountId] }, (x) => x.Tags)
        return {
          subnetSet: items.map((s) => ({
            subnetId: s.SubnetId,
            subnetArn: arn('subnet', s.SubnetId),
            state: 'available',
            vpcId: s.VpcId,
            cidrBlock: s.CidrBlock,
            availableIpAddressCount: 250,
            availabilityZone: s.AvailabilityZone,
            availabilityZoneId: s.AvailabilityZoneId,
            defaultForAz: false,
            mapPublicIpOnLaunch: false,
            ownerId: accountId,
            assignIpv6AddressOnCreation: false,
            tagSet: tagSet(s.Tags),
          })),
        }
      },
    },
    DescribeSecurityGroups: {
      readOnly: true,
      authorize: () => check('DescribeSecurityGroups'),
      run: (i: Input) => {
        let items = byIds(Object.values(ec2.state.securityGroups), list(i.GroupId), (x) => x.GroupId, 'sg', (id) => new AwsError('InvalidGroup.NotFound', `The security group '${id}' does not exist`, 400))
        const names = list(i.GroupName)
        // GroupName names groups of the default VPC only; other VPCs' groups go by id or the group-name filter.
        // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html
        if (names.length) {
          const defaultVpc = Object.values(ec2.state.vpcs).find((v) => v.IsDefault)
          if (!defaultVpc) throw new AwsError('VPCIdNotSpecified', 'No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.', 400)
          for (const name of names) {
            if (!items.some((g) => g.GroupName === name && g.VpcId === defaultVpc.VpcId)) throw new AwsError('InvalidGroup.NotFound', `The security group '${name}' does not exist in default VPC '${defaultVpc.VpcId}'`, 400)
          }
          items = items.filter((g) => names.includes(g.GroupName) && g.VpcId === defaultVpc.VpcId)
        }
        items = applyFilters(items, i, { 'group-id': (x) => [x.GroupId], 'group-name': (x) => [x.GroupName], 'vpc-id': (x) => [x.VpcId], 'description': (x) => [x.Description], 'owner-id': () => [accountId] }, (x) => x.Tags)
        return {
          securityGroupInfo: items.map((g) => ({
            ownerId: accountId,
            groupId: g.GroupId,
            groupName: g.GroupName,
            groupDescription: g.Description,
            vpcId: g.VpcId,
            securityGroupArn: arn('security-group', g.GroupId),
            // Members of the group reach each other on 443 (the endpoints' interfaces share the group).
            // Groups made through the API keep their rules (ec2/network.ts); the seed's answer with these.
            ipPermissions: (g as RuleTables).IpPermissions ? permissionsOut((g as RuleTables).IpPermissions!, accountId) : [{ ipProtocol: 'tcp', fromPort: 443, toPort: 443, groups: [{ groupId: g.GroupId, userId: accountId }], ipRanges: [], ipv6Ranges: [], prefixListIds: [] }],
            ipPermissionsEgress: (g as RuleTables).IpPermissionsEgress ? permissionsOut((g as RuleTables).IpPermissionsEgress!, accountId) : [{ ipProtocol: '-1', groups: [], ipRanges: [{ cidrIp: '0.0.0.0/0' }], ipv6Ranges: [], prefixListIds: [] }],
            tagSet: tagSet(g.Tags),
          })),
        }
      },
    },
    DescribeVpcAttribute: {
      readOnly: true,
      authorize: () => check('DescribeVpcAttribute'),
      run: (i: Input) => {
        const vpc = ec2.vpc(text(i.VpcId ?? ''))
        const attribute = text(i.Attribute ?? '')
        if (attribute === 'enableDnsHostnames') return { vpcId: vpc.VpcId, enableDnsHostnames: { value: vpc.EnableDnsHostnames } }
        if (attribute === 'enableDnsSupport') return { vpcId: vpc.VpcId, enableDnsSupport: { value: vpc.EnableDnsSupport } }
        if (attribute === 'enableNetworkAddressUsageMetrics') return { vpcId: vpc.VpcId, enableNetworkAddressUsageMetrics: { value: false } }
        throw new AwsError('InvalidParameterValue', `Value (${attribute}) for parameter attribute is invalid. Unknown attribute.`, 400)
      },
    },
    ModifyVpcAttribute: {
      authorize: (i: Input) => check('ModifyVpcAttribute', arn('vpc', text(i.VpcId ?? ''))),
      run: (i: Input) => {
        const given = [['EnableDnsHostnames', i.EnableDnsHostnames], ['EnableDnsSupport', i.EnableDnsSupport]].filter(([, v]) => v !== undefined) as Array<['EnableDnsHostnames' | 'EnableDnsSupport', unknown]>
        // AWS takes exactly one attribute per call.
        if (given.length !== 1) throw new AwsError('InvalidParameterCombination', 'Fields for multiple attribute types specified: enableDnsHostnames, enableDnsSupport', 400)
        const [name, value] = given[0]
        ec2.modifyVpcAttribute(text(i.VpcId ?? ''), name, bool((value as Members | undefined)?.Value ?? value, name))
        return { return: true }
      },
    },
    DescribeVpcEndpointServices: {
      readOnly: true,
      authorize: () => check('DescribeVpcEndpointServices'),
      run: (i: Input) => {
        let names = ENDPOINT_SERVICES.map((s) => `com.amazonaws.${region}.${s}`)
        const asked = list(i.ServiceName)
        for (const n of asked) if (!names.includes(n)) throw new AwsError('InvalidServiceName', `The Vpc Endpoint Service '${n}' does not exist`, 400)
        if (asked.length) names = names.filter((n) => asked.includes(n))
        const zones = [...new Set(Object.values(ec2.state.subnets).map((s) => s.AvailabilityZone))].sort()
        // S3 is offered twice, as a gateway and as an interface endpoint service (one detail each).
        const offers = names.flatMap((n) => {
          const service = n.split('.').pop()!
          return [...((GATEWAY_SERVICES as readonly string[]).includes(service) ? ['Gateway'] : []), 'Interface'].map((type) => ({ n, service, type }))
        })
        const details = offers.map(({ n, service, type }) => {
          const gateway = type === 'Gateway'
          return {
            serviceName: n,
            serviceId: `vpce-svc-0${Buffer.from(service + type).toString('hex').padEnd(16, '0').slice(0, 16)}`,
            serviceType: [{ serviceType: type }],
            availabilityZoneSet: zones.length ? zones : [`${region}a`],
            owner: 'amazon',
            baseEndpointDnsNameSet: [gateway ? `${service}.${region}.amazonaws.com` : `${service}.${region}.vpce.amazonaws.com`],
            ...(gateway ? {} : { privateDnsName: `${service}.${region}.amazonaws.com`, privateDnsNameSet: [{ privateDnsName: `${service}.${region}.amazonaws.com` }], privateDnsNameVerificationState: 'verified' }),
            vpcEndpointPolicySupported: true,
            acceptanceRequired: false,
            managesVpcEndpoints: false,
            supportedIpAddressTypeSet: ['ipv4'],
            serviceRegion: region,
          }
        })
        const filtered = applyFilters(details, i, { 'service-name': (d) => [d.serviceName], 'service-type': (d) => [d.serviceType[0].serviceType], 'service-region': () => [region] }, () => ({}))
        return { serviceNameSet: [...new Set(filtered.map((d) => d.serviceName))], serviceDetailSet: filtered }
      },
    },
    CreateVpcEndpoint: {
      authorize: (i: Input) => [
        ...check('CreateVpcEndpoint', arn('vpc-endpoint', '*')),
        ...check('CreateVpcEndpoint', arn('vpc', text(i.VpcId ?? '*'))),
      ],
      run: (i: Input) => {
        if (!i.VpcId || !i.ServiceName) throw new AwsError('MissingParameter', `The request must contain the parameter ${i.VpcId ? 'ServiceName' : 'VpcId'}`, 400)
        const type = text(i.VpcEndpointType ?? 'Gateway')
        if (type !== 'Interface' && type !== 'Gateway') throw new AwsError('InvalidParameter', `The lab serves interface and gateway endpoints only (got ${type})`, 400)
        const endpoint = ec2.createVpcEndpoint({
          vpcId: text(i.VpcId),
          serviceName: text(i.ServiceName),
          type,
          subnetIds: list(i.SubnetId),
          securityGroupIds: list(i.SecurityGroupId),
          routeTableIds: list(i.RouteTableId),
          clientToken: i.ClientToken === undefined ? undefined : text(i.ClientToken),
          policyDocument: endpointPolicy(i.PolicyDocument),
          privateDnsEnabled: i.PrivateDnsEnabled === undefined ? undefined : bool(i.PrivateDnsEnabled, 'PrivateDnsEnabled'),
          tags: tagsFromSpecs(i, 'vpc-endpoint'),
        })
        return { vpcEndpoint: endpointOut(endpoint), ...(i.ClientToken ? { clientToken: i.ClientToken } : {}) }
      },
    },
    DescribeVpcEndpoints: {
      readOnly: true,
      authorize: () => check('DescribeVpcEndpoints'),
      run: (i: Input) => {
        let items = byIds(ec2.endpoints(), list(i.VpcEndpointId), (x) => x.VpcEndpointId, 'vpce', (id) => new AwsError('InvalidVpcEndpointId.NotFound', `The Vpc Endpoint Id '${id}' does not exist`, 400))
        items = applyFilters(items, i, {
          'service-name': (x) => [x.ServiceName],
          'vpc-id': (x) => [x.VpcId],
          'vpc-endpoint-id': (x) => [x.VpcEndpointId],
          'vpc-endpoint-state': (x) => [x.State],
          'vpc-endpoint-type': (x) => [x.VpcEndpointType],
          'ip-address-type': () => ['ipv4'],
          'service-region': () => [region],
        }, (x) => x.Tags)
        return { vpcEndpointSet: items.map(endpointOut) }
      },
    },
    ModifyVpcEndpoint: {
      authorize: (i: Input) => check('ModifyVpcEndpoint', arn('vpc-endpoint', text(i.VpcEndpointId ?? ''))),
      run: (i: Input) => {
        ec2.modifyVpcEndpoint(text(i.VpcEndpointId ?? ''), {
          policyDocument: endpointPolicy(i.PolicyDocument),
          resetPolicy: i.ResetPolicy === undefined ? undefined : bool(i.ResetPolicy, 'ResetPolicy'),
          privateDnsEnabled: i.PrivateDnsEnabled === undefined ? undefined : bool(i.PrivateDnsEnabled, 'PrivateDnsEnabled'),
          addSubnetIds: list(i.AddSubnetId),
          removeSubnetIds: list(i.RemoveSubnetId),
          addSecurityGroupIds: list(i.AddSecurityGroupId),
          removeSecurityGroupIds: list(i.RemoveSecurityGroupId),
        })
        return { return: true }
      },
    },
    DeleteVpcEndpoints: {
      authorize: (i: Input) => list(i.VpcEndpointId).flatMap((id) => check('DeleteVpcEndpoints', arn('vpc-endpoint', id))),
      run: (i: Input) => {
        const ids = list(i.VpcEndpointId)
        if (!ids.length) throw new AwsError('MissingParameter', 'The request must contain the parameter VpcEndpointId', 400)
        const failed = ec2.deleteVpcEndpoints(ids)
        return { unsuccessful: failed.map((f) => ({ error: { code: f.code, message: f.message }, resourceId: f.id })) }
      },
    },
  }
  // The EC2 a deployment makes (VPCs, subnets, rules, route tables, gateways, launch templates, instances): ec2/network.ts.
  Object.assign(operations, networkOperations(ec2, iam), flowLogOperations(ec2))
  for (const [name, key] of [['DeleteVpc', 'VpcId'], ['DeleteSubnet', 'SubnetId']] as const) {
    const run = operations[name].run
    // A VPC's or subnet's flow logs go with it.
    operations[name].run = (input: Input, ctx: OperationContext) => {
      const out = run(input, ctx) as unknown
      dropFlowLogsOf(ec2, text(input[key]))
      ec2.save()
      return out
    }
  }
  for (const operation of Object.values(operations)) {
    const run = operation.run
    // DryRun: authorised callers learn it would have worked, and nothing changes.
    operation.run = (input: Input, ctx: OperationContext) => {
      if (String(input.DryRun) === 'true') throw new AwsError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)
      return run(input, ctx) as unknown
    }
  }
  return { name: 'ec2', signingName: 'ec2', eventSource: 'ec2.amazonaws.com', accessDenied: { code: 'UnauthorizedOperation', status: 403 }, operations }
}
