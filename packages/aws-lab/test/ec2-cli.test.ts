// The lab's EC2 and IAM instance profiles through AWS CLI v2 (/usr/bin/aws), as the workshop and
// the keyadmin service call them: the seeded instances, VPC, subnet and security group, the VPC
// DNS attributes, authorisation, DryRun and errors in EC2's format.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVpcAttribute.html
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_AddRoleToInstanceProfile.html
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const exec = promisify(execFile)
const lab = await startTestLab(t, WITHOUT_STACKS)
const VPC = 'vpc-0ab12cd34ef56a001'
const SUBNET = 'subnet-0ab12cd34ef56b001'
const SG = 'sg-0ab12cd34ef56c001'

interface CliResult { code: number; stdout: string; stderr: string; json: any }

async function aws(profile: string, args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec('/usr/bin/aws', ['--endpoint-url', lab.endpoint, '--output', 'json', ...args], { env: { ...lab.cliEnv(), AWS_PROFILE: profile }, timeout: 60_000 })
    return { code: 0, stdout, stderr, json: /^\s*[[{]/.test(stdout) ? JSON.parse(stdout) : undefined }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, json: undefined }
  }
}

t.test('describe-instances: one instance per service and the workshop, each with its instance profile and IMDSv2 required', async (t) => {
  const r = await aws('admin', ['ec2', 'describe-instances'])
  t.equal(r.code, 0, r.stderr)
  const instances = r.json.Reservations.flatMap((res: any) => res.Instances)
  const byName = Object.fromEntries(instances.map((i: any) => [i.Tags.find((tag: any) => tag.Key === 'Name').Value, i]))
  t.same(Object.keys(byName).sort(), ['auditor', 'downloader', 'keyadmin', 'uploader', 'workshop'])
  const roles = { workshop: 'KMSWorkshop-InstaceInitRole', uploader: 'kms-share-uploader', downloader: 'kms-share-downloader', keyadmin: 'kms-share-keyadmin', auditor: 'kms-share-auditor' }
  for (const [name, role] of Object.entries(roles)) {
    const i = byName[name]
    t.match(i, {
      InstanceId: /^i-0[0-9a-f]{16}$/,
      State: { Code: 16, Name: 'running' },
      VpcId: VPC,
      SubnetId: SUBNET,
      SecurityGroups: [{ GroupId: SG, GroupName: 'kms-share' }],
      IamInstanceProfile: { Arn: `arn:aws:iam::111122223333:instance-profile/${role}`, Id: /^AIPA/ },
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', State: 'applied' },
      NetworkInterfaces: [{ MacAddress: /^02(:[0-9a-f]{2}){5}$/, SubnetId: SUBNET, VpcId: VPC }],
      Placement: { AvailabilityZone: 'eu-west-1a' },
      PrivateIpAddress: /^10\.0\.1\.\d+$/,
    }, name)
    t.equal(lab.instances().find((x) => x.name === name)?.instanceId, i.InstanceId, `${name}'s metadata endpoint serves ${i.InstanceId}`)
  }
  const filtered = await aws('admin', ['ec2', 'describe-instances', '--filters', 'Name=tag:Name,Values=down*', 'Name=instance-state-name,Values=running'])
  t.same(filtered.json.Reservations.flatMap((res: any) => res.Instances.map((i: any) => i.InstanceId)), [byName.downloader.InstanceId], 'filters (tag wildcards, AND across filters)')
  const missing = await aws('admin', ['ec2', 'describe-instances', '--instance-ids', 'i-0000000000000dead'])
  t.equal(missing.code, 254)
  t.match(missing.stderr, "An error occurred (InvalidInstanceID.NotFound) when calling the DescribeInstances operation: The instance ID 'i-0000000000000dead' does not exist")
})

t.test('describe-vpcs, describe-subnets, describe-security-groups (the workshop reads these from metadata; keyadmin never needs them, an administrator may describe)', async (t) => {
  const vpcs = await aws('admin', ['ec2', 'describe-vpcs'])
  t.equal(vpcs.code, 0, vpcs.stderr)
  t.match(vpcs.json.Vpcs, [{ VpcId: VPC, CidrBlock: '10.0.0.0/16', State: 'available', IsDefault: false, OwnerId: '111122223333' }])
  const subnets = await aws('admin', ['ec2', 'describe-subnets', '--filters', `Name=vpc-id,Values=${VPC}`])
  t.match(subnets.json.Subnets, [{ SubnetId: SUBNET, VpcId: VPC, CidrBlock: '10.0.1.0/24', AvailabilityZone: 'eu-west-1a', State: 'available', SubnetArn: `arn:aws:ec2:eu-west-1:111122223333:subnet/${SUBNET}` }])
  const groups = await aws('admin', ['ec2', 'describe-security-groups', '--group-ids', SG])
  t.match(groups.json.SecurityGroups, [{ GroupId: SG, GroupName: 'kms-share', VpcId: VPC, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }] }])
  const none = await aws('admin', ['ec2', 'describe-subnets', '--filters', 'Name=vpc-id,Values=vpc-0000000000000beef'])
  t.same(none.json.Subnets, [], 'a filter that matches nothing answers an empty list')
  const badFilter = await aws('admin', ['ec2', 'describe-vpcs', '--filters', 'Name=colour,Values=blue'])
  t.match(badFilter.stderr, "(InvalidParameterValue) when calling the DescribeVpcs operation: The filter 'colour' is invalid")
  const unknown = await aws('admin', ['ec2', 'describe-vpcs', '--vpc-ids', 'vpc-0000000000000beef'])
  t.match(unknown.stderr, "(InvalidVpcID.NotFound) when calling the DescribeVpcs operation: The vpc ID 'vpc-0000000000000beef' does not exist")

  const denied = await aws('uploader', ['ec2', 'describe-vpcs'])
  t.not(denied.code, 0)
  // As EC2 writes it (e.g. github.com/hashicorp/terraform-provider-aws/issues/34234): its own sentence, then IAM's.
  t.match(denied.stderr, '(UnauthorizedOperation) when calling the DescribeVpcs operation: You are not authorized to perform this operation. User: arn:aws:sts::111122223333:assumed-role/kms-share-uploader/')
  t.match(denied.stderr, 'is not authorized to perform: ec2:DescribeVpcs because no identity-based policy allows the ec2:DescribeVpcs action')
  const dry = await aws('admin', ['ec2', 'describe-vpcs', '--dry-run'])
  t.match(dry.stderr, '(DryRunOperation) when calling the DescribeVpcs operation: Request would have succeeded, but DryRun flag is set.')
  // keyadmin's role lists only the EC2 calls its routes make (packages/policy/src/roles.ts).
  t.match((await aws('keyadmin', ['ec2', 'describe-vpcs'])).stderr, '(UnauthorizedOperation) when calling the DescribeVpcs operation')
  const dryDenied = await aws('uploader', ['ec2', 'describe-vpcs', '--dry-run'])
  t.match(dryDenied.stderr, '(UnauthorizedOperation)', 'DryRun still checks permissions')
})

t.test('describe-vpc-attribute / modify-vpc-attribute (DNS hostnames and support)', async (t) => {
  const read = async (attribute: string) => (await aws('admin', ['ec2', 'describe-vpc-attribute', '--vpc-id', VPC, '--attribute', attribute])).json
  t.same(await read('enableDnsHostnames'), { VpcId: VPC, EnableDnsHostnames: { Value: true } })
  t.same(await read('enableDnsSupport'), { VpcId: VPC, EnableDnsSupport: { Value: true } })
  const off = await aws('admin', ['ec2', 'modify-vpc-attribute', '--vpc-id', VPC, '--no-enable-dns-hostnames'])
  t.equal(off.code, 0, off.stderr)
  t.same(await read('enableDnsHostnames'), { VpcId: VPC, EnableDnsHostnames: { Value: false } })
  const support = await aws('admin', ['ec2', 'modify-vpc-attribute', '--vpc-id', VPC, '--enable-dns-support', '{"Value":false}'])
  t.equal(support.code, 0, support.stderr)
  const refused = await aws('admin', ['ec2', 'modify-vpc-attribute', '--vpc-id', VPC, '--enable-dns-hostnames'])
  t.match(refused.stderr, '(InvalidParameterValue)', 'DNS hostnames need DNS support')
  t.equal((await aws('admin', ['ec2', 'modify-vpc-attribute', '--vpc-id', VPC, '--enable-dns-support'])).code, 0)
  t.equal((await aws('admin', ['ec2', 'modify-vpc-attribute', '--vpc-id', VPC, '--enable-dns-hostnames'])).code, 0)
  t.same(await read('enableDnsHostnames'), { VpcId: VPC, EnableDnsHostnames: { Value: true } })
  const bad = await aws('admin', ['ec2', 'describe-vpc-attribute', '--vpc-id', 'vpc-0000000000000beef', '--attribute', 'enableDnsSupport'])
  t.match(bad.stderr, '(InvalidVpcID.NotFound)')
  const keyadmin = await aws('keyadmin', ['ec2', 'modify-vpc-attribute', '--vpc-id', VPC, '--no-enable-dns-hostnames'])
  t.match(keyadmin.stderr, `(UnauthorizedOperation) when calling the ModifyVpcAttribute operation: You are not authorized to perform this operation. User: arn:aws:sts::111122223333:assumed-role/kms-share-keyadmin/`)
  t.match(keyadmin.stderr, `on resource: arn:aws:ec2:eu-west-1:111122223333:vpc/${VPC}`)

  const recorded = lab.trail.all().filter((e) => e.eventName === 'ModifyVpcAttribute')
  t.ok(recorded.length >= 5, 'EC2 calls are recorded in CloudTrail')
  t.equal(recorded[0].eventSource, 'ec2.amazonaws.com')
})

t.test('IAM instance profiles: one per instance role; at most one role each', async (t) => {
  const got = await aws('admin', ['iam', 'get-instance-profile', '--instance-profile-name', 'kms-share-downloader'])
  t.equal(got.code, 0, got.stderr)
  t.match(got.json.InstanceProfile, { InstanceProfileName: 'kms-share-downloader', Arn: 'arn:aws:iam::111122223333:instance-profile/kms-share-downloader', InstanceProfileId: /^AIPA/, Path: '/', Roles: [{ RoleName: 'kms-share-downloader', Arn: 'arn:aws:iam::111122223333:role/kms-share-downloader' }] })
  const all = await aws('admin', ['iam', 'list-instance-profiles'])
  t.same(all.json.InstanceProfiles.map((p: any) => p.InstanceProfileName).sort(), ['KMSWorkshop-InstaceInitRole', 'kms-share-auditor', 'kms-share-downloader', 'kms-share-keyadmin', 'kms-share-uploader'])
  const forRole = await aws('admin', ['iam', 'list-instance-profiles-for-role', '--role-name', 'kms-share-uploader'])
  t.same(forRole.json.InstanceProfiles.map((p: any) => p.InstanceProfileName), ['kms-share-uploader'])

  const created = await aws('admin', ['iam', 'create-instance-profile', '--instance-profile-name', 'scratch'])
  t.equal(created.code, 0, created.stderr)
  t.match(created.json.InstanceProfile, { InstanceProfileName: 'scratch', Roles: [] })
  t.equal((await aws('admin', ['iam', 'add-role-to-instance-profile', '--instance-profile-name', 'scratch', '--role-name', 'kms-share-auditor'])).code, 0)
  const second = await aws('admin', ['iam', 'add-role-to-instance-profile', '--instance-profile-name', 'scratch', '--role-name', 'kms-share-keyadmin'])
  t.match(second.stderr, '(LimitExceeded) when calling the AddRoleToInstanceProfile operation: Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1')
  const again = await aws('admin', ['iam', 'create-instance-profile', '--instance-profile-name', 'scratch'])
  t.match(again.stderr, '(EntityAlreadyExists)')
  const missing = await aws('admin', ['iam', 'get-instance-profile', '--instance-profile-name', 'nope'])
  t.match(missing.stderr, '(NoSuchEntity) when calling the GetInstanceProfile operation: Instance Profile nope cannot be found.')
  const notEmpty = await aws('admin', ['iam', 'delete-instance-profile', '--instance-profile-name', 'scratch'])
  t.match(notEmpty.stderr, '(DeleteConflict)')
  t.equal((await aws('admin', ['iam', 'remove-role-from-instance-profile', '--instance-profile-name', 'scratch', '--role-name', 'kms-share-auditor'])).code, 0)
  t.equal((await aws('admin', ['iam', 'delete-instance-profile', '--instance-profile-name', 'scratch'])).code, 0)
  const denied = await aws('keyadmin', ['iam', 'create-instance-profile', '--instance-profile-name', 'mine'])
  t.match(denied.stderr, '(AccessDenied) when calling the CreateInstanceProfile operation: User: arn:aws:sts::111122223333:assumed-role/kms-share-keyadmin/')
})

// Flow logs are configuration in the lab (no packets, so nothing is delivered); the API answers as EC2's.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFlowLogs.html
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteFlowLogs.html
t.test('create-flow-logs, describe-flow-logs, delete-flow-logs: a missing VPC is listed as unsuccessful, not created', async (t) => {
  const created = await aws('admin', ['ec2', 'create-flow-logs', '--resource-type', 'VPC', '--resource-ids', VPC, 'vpc-0000000000000dead', '--traffic-type', 'REJECT',
    '--log-destination-type', 's3', '--log-destination', 'arn:aws:s3:::kmsworkshop-111122223333/flow/', '--tag-specifications', 'ResourceType=vpc-flow-log,Tags=[{Key=Name,Value=rejected}]'])
  t.equal(created.code, 0, created.stderr)
  t.match(created.json.FlowLogIds, [/^fl-0[0-9a-f]{16}$/])
  t.equal(created.json.FlowLogIds.length, 1)
  t.match(created.json.Unsuccessful, [{ ResourceId: 'vpc-0000000000000dead', Error: { Code: 'InvalidVpcID.NotFound' } }])
  const described = await aws('admin', ['ec2', 'describe-flow-logs', '--flow-log-ids', created.json.FlowLogIds[0]])
  t.match(described.json.FlowLogs, [{ FlowLogId: created.json.FlowLogIds[0], ResourceId: VPC, TrafficType: 'REJECT', LogDestinationType: 's3', LogDestination: 'arn:aws:s3:::kmsworkshop-111122223333/flow/', FlowLogStatus: 'ACTIVE', MaxAggregationInterval: 600, Tags: [{ Key: 'Name', Value: 'rejected' }] }])
  const badTraffic = await aws('admin', ['ec2', 'create-flow-logs', '--resource-type', 'VPC', '--resource-ids', VPC, '--traffic-type', 'SOME', '--log-destination-type', 's3', '--log-destination', 'arn:aws:s3:::b1'])
  t.match(badTraffic.stderr, /InvalidParameterValue/)
  const refused = await aws('workshop', ['ec2', 'delete-flow-logs', '--flow-log-ids', created.json.FlowLogIds[0]])
  t.match(refused.stderr, /UnauthorizedOperation.*ec2:DeleteFlowLogs/)
  const deleted = await aws('admin', ['ec2', 'delete-flow-logs', '--flow-log-ids', created.json.FlowLogIds[0], 'fl-0000000000000beef'])
  t.match(deleted.json.Unsuccessful, [{ ResourceId: 'fl-0000000000000beef', Error: { Code: 'InvalidFlowLogId.NotFound' } }])
  t.same((await aws('admin', ['ec2', 'describe-flow-logs'])).json.FlowLogs, [])
})
