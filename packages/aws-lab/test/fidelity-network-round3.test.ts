// VPC endpoints, EC2's answers and the network condition keys as AWS gives them, third round
// (issue 26 rows 6-16 and 27's shapes). One lab; endpoints are available at once (vpcEndpointPendingMs: 0).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceip (aws:SourceIp, aws:VpcSourceIp)
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVpcEndpoint.html
// https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html (ClientToken)
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcEndpoints.html (filters, ServiceRegion)
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html (GroupName: default VPC)
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/privatelink-interface-endpoints.html (S3 private DNS and the gateway endpoint)
// https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html
// https://docs.aws.amazon.com/ec2/latest/devguide/example_ec2_CreateVpcEndpoint_section.html (a gateway endpoint is available at once)
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DnsOptionsSpecification.html (the VPC's own S3 traffic takes the gateway endpoint)
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import {
  AssociateRouteTableCommand, CreateRouteTableCommand, CreateVpcCommand, CreateVpcEndpointCommand, DeleteVpcEndpointsCommand, DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand, DescribeVpcEndpointServicesCommand, DescribeVpcEndpointsCommand, DescribeVpcsCommand, DisassociateRouteTableCommand, EC2Client,
  ModifyVpcEndpointCommand,
} from '@aws-sdk/client-ec2'
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { DecodeAuthorizationMessageCommand, STSClient } from '@aws-sdk/client-sts'
import t from 'tap'
import { labInstance } from '../src/testing.js'
import { instanceCredentials, startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const lab = await startTestLab(t, { ...WITHOUT_STACKS, vpcEndpointPendingMs: 0 })
const VPC = 'vpc-0ab12cd34ef56a001'
const SUBNET = 'subnet-0ab12cd34ef56b001'
const SG = 'sg-0ab12cd34ef56c001'
const KMS_SERVICE = `com.amazonaws.${lab.region}.kms`
const S3_SERVICE = `com.amazonaws.${lab.region}.s3`
const ec2 = new EC2Client(lab.clientConfig('admin'))
const admin = new KMSClient(lab.clientConfig('admin'))
const root = `arn:aws:iam::${lab.accountId}:root`
const throughEndpoint = (id: string, profile = 'admin') => lab.clientConfig(profile, { endpoint: `${lab.endpoint}/vpce/${id}` })

/** Route tables of the seeded VPC (the seed makes none): S3 gateway endpoints name them. */
const routeTable = async (vpcId = VPC) => (await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable!.RouteTableId!
const [RTB, RTB2] = [await routeTable(), await routeTable()]

const kmsEndpoint = (await ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, VpcEndpointType: 'Interface', ServiceName: KMS_SERVICE, SubnetIds: [SUBNET], PrivateDnsEnabled: true }))).VpcEndpoint!

/** A key whose only Allow for the admin is the given condition (the account keeps administration). */
async function keyAllowingDecryptWhen(condition: Record<string, Record<string, string>>) {
  const key = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  const blob = (await admin.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob!
  await admin.send(new PutKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default', Policy: JSON.stringify({ Version: '2012-10-17', Statement: [
    { Effect: 'Allow', Principal: { AWS: root }, Action: ['kms:PutKeyPolicy', 'kms:GetKeyPolicy', 'kms:DescribeKey'], Resource: '*' },
    { Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:Decrypt', Resource: '*', Condition: condition },
  ] }) }))
  return blob
}

t.test('row 6: through a VPC endpoint aws:SourceIp is absent, so an Allow on it does not apply', async (t) => {
  const blob = await keyAllowingDecryptWhen({ IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } })
  t.equal((await admin.send(new DecryptCommand({ CiphertextBlob: blob }))).$metadata.httpStatusCode, 200, 'from 127.0.0.1 directly: allowed')
  await t.rejects(new KMSClient(throughEndpoint(kmsEndpoint.VpcEndpointId!)).send(new DecryptCommand({ CiphertextBlob: blob })), { name: 'AccessDeniedException', message: /because no resource-based policy allows the kms:Decrypt action/ })
})

t.test('row 7: through a VPC endpoint aws:VpcSourceIp is the caller\'s private address', async (t) => {
  const blob = await keyAllowingDecryptWhen({ IpAddress: { 'aws:VpcSourceIp': '10.0.0.0/16' } })
  const out = await new KMSClient(throughEndpoint(kmsEndpoint.VpcEndpointId!)).send(new DecryptCommand({ CiphertextBlob: blob }))
  t.equal(Buffer.from(out.Plaintext!).toString(), 'x')
  await t.rejects(admin.send(new DecryptCommand({ CiphertextBlob: blob })), { name: 'AccessDeniedException' }, 'not set outside an endpoint')
})

t.test('rows 8 and 9: ModifyVpcEndpoint checks security groups and private DNS, and changes what it says', async (t) => {
  const id = kmsEndpoint.VpcEndpointId!
  await t.rejects(ec2.send(new ModifyVpcEndpointCommand({ VpcEndpointId: id, AddSecurityGroupIds: ['sg-0123456789abcdef0'] })), { name: 'InvalidGroup.NotFound', message: "The security group 'sg-0123456789abcdef0' does not exist" })
  await t.rejects(ec2.send(new ModifyVpcEndpointCommand({ VpcEndpointId: id, RemoveSecurityGroupIds: [SG] })), { name: 'InvalidParameter', message: /must have at least one security group/ })
  t.same((await ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [id] }))).VpcEndpoints![0].Groups?.map((g) => g.GroupId), [SG], 'nothing changed')
  const second = (await ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, VpcEndpointType: 'Interface', ServiceName: KMS_SERVICE, SubnetIds: [SUBNET], PrivateDnsEnabled: false }))).VpcEndpoint!
  await t.rejects(ec2.send(new ModifyVpcEndpointCommand({ VpcEndpointId: second.VpcEndpointId, PrivateDnsEnabled: true })), {
    name: 'InvalidParameter',
    message: `private-dns-enabled cannot be set because there is already a conflicting DNS domain for kms.${lab.region}.amazonaws.com in the VPC ${VPC}`,
  })
  await ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [second.VpcEndpointId!] }))
})

t.test('rows 10 and 11: a ClientToken retry is the same endpoint; a deleted endpoint is still listed, deleting then deleted', async (t) => {
  const input = { VpcId: VPC, VpcEndpointType: 'Gateway' as const, ServiceName: S3_SERVICE, RouteTableIds: [RTB], ClientToken: 'retry-me' }
  const first = (await ec2.send(new CreateVpcEndpointCommand(input))).VpcEndpoint!
  const again = (await ec2.send(new CreateVpcEndpointCommand(input))).VpcEndpoint!
  t.equal(again.VpcEndpointId, first.VpcEndpointId)
  await t.rejects(ec2.send(new CreateVpcEndpointCommand({ ...input, RouteTableIds: [RTB2] })), { name: 'IdempotentParameterMismatch' })
  const extra = (await ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, VpcEndpointType: 'Interface', ServiceName: KMS_SERVICE, SubnetIds: [SUBNET], PrivateDnsEnabled: false }))).VpcEndpoint!
  await ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [extra.VpcEndpointId!] }))
  const listed = (await ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [extra.VpcEndpointId!] }))).VpcEndpoints!
  t.match(listed, [{ VpcEndpointId: extra.VpcEndpointId, State: /^(deleting|deleted)$/ }])
  await t.rejects(new KMSClient(throughEndpoint(extra.VpcEndpointId!)).send(new CreateKeyCommand({})), { name: 'InvalidVpcEndpointId.NotFound' }, 'nothing passes a deleted endpoint')
})

t.test('row 12: the documented filters are accepted', async (t) => {
  const endpoints = await ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'ip-address-type', Values: ['ipv4'] }, { Name: 'service-region', Values: [lab.region] }, { Name: 'vpc-endpoint-id', Values: [kmsEndpoint.VpcEndpointId!] }] }))
  t.equal(endpoints.VpcEndpoints?.length, 1)
  const vpc = (await ec2.send(new DescribeVpcsCommand({ VpcIds: [VPC] }))).Vpcs![0]
  t.same((await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'dhcp-options-id', Values: [vpc.DhcpOptionsId!] }] }))).Vpcs?.map((v) => v.VpcId), [VPC])
  t.same((await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'availability-zone-id', Values: ['euw1-az1'] }] }))).Subnets?.map((s) => s.SubnetId), [SUBNET])
  t.ok((await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'owner-id', Values: [lab.accountId] }] }))).SecurityGroups?.some((g) => g.GroupId === SG))
})

t.test('row 13: malformed ids are .Malformed, well-formed unknown ones .NotFound', async (t) => {
  await t.rejects(ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: ['vpce-xyz'] })), {
    name: 'InvalidVpcEndpointId.Malformed',
    message: "Invalid Id: 'vpce-xyz' (expecting 'vpce-...; the Id may only contain lowercase alphanumeric characters and a single dash')",
  })
  await t.rejects(ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-bad'] })), { name: 'InvalidVpcID.Malformed', message: 'The vpc ID vpc-bad is malformed' })
  await t.rejects(ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-0123456789abcdef0'] })), { name: 'InvalidVpcID.NotFound' })
})

t.test('row 14: GroupNames is for the default VPC; the lab\'s VPC is not one', async (t) => {
  for (const name of ['kms-share', 'no-such-group']) {
    await t.rejects(ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: [name] })), { name: 'VPCIdNotSpecified', message: 'No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.' })
  }
  t.same((await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['kms-share'] }] }))).SecurityGroups?.map((g) => g.GroupId), [SG], 'the group-name filter finds it')
})

t.test('rows 15 and 27: S3 is offered as Gateway and Interface; its interface endpoint\'s private DNS needs the gateway', async (t) => {
  const services = await ec2.send(new DescribeVpcEndpointServicesCommand({ ServiceNames: [S3_SERVICE] }))
  t.same(services.ServiceDetails?.map((d) => d.ServiceType?.[0].ServiceType).sort(), ['Gateway', 'Interface'])
  const vpcWithoutGateway = 'vpc-0ab12cd34ef56a001'
  const gateways = (await ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'vpc-endpoint-type', Values: ['Gateway'] }] }))).VpcEndpoints ?? []
  await ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: gateways.map((g) => g.VpcEndpointId!) }))
  await t.rejects(ec2.send(new CreateVpcEndpointCommand({ VpcId: vpcWithoutGateway, VpcEndpointType: 'Interface', ServiceName: S3_SERVICE, SubnetIds: [SUBNET], PrivateDnsEnabled: true })), {
    name: 'InvalidParameter',
    message: `To set PrivateDnsOnlyForInboundResolverEndpoint to true, the VPC ${VPC} must have a Gateway endpoint for the service.`,
  })
  const gateway = (await ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, VpcEndpointType: 'Gateway', ServiceName: S3_SERVICE, RouteTableIds: [RTB] }))).VpcEndpoint!
  t.match(gateway, { VpcEndpointType: 'Gateway', RouteTableIds: [RTB], DnsEntries: [], ServiceRegion: lab.region })
  const s3Interface = (await ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, VpcEndpointType: 'Interface', ServiceName: S3_SERVICE, SubnetIds: [SUBNET], PrivateDnsEnabled: true }))).VpcEndpoint!
  t.match(s3Interface, { PrivateDnsEnabled: true, ServiceRegion: lab.region })
})

t.test('S3\'s gateway endpoint: the default type, available at once, on its own VPC\'s route tables; it carries the S3 calls of instances whose subnet\'s route table it is on', async (t) => {
  await t.rejects(ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, ServiceName: S3_SERVICE, RouteTableIds: ['rtb-0123456789abcdef0'] })), { name: 'InvalidRouteTableID.NotFound' })
  const elsewhere = await routeTable((await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc!.VpcId)
  await t.rejects(ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, ServiceName: S3_SERVICE, RouteTableIds: [elsewhere] })), { name: 'InvalidParameter', message: `The route table ${elsewhere} does not belong to ${VPC}` })

  const denyPut = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }, { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: '*' }] })
  const table = await routeTable()
  const gateway = (await ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, ServiceName: S3_SERVICE, RouteTableIds: [table], PolicyDocument: denyPut }))).VpcEndpoint!
  t.match(gateway, { VpcEndpointType: 'Gateway', State: 'available', RouteTableIds: [table], SubnetIds: [], NetworkInterfaceIds: [] })
  // S3's interface endpoint with private DNS (row 15's) refuses PutObject too: a call that went through it would be refused.
  const interfaces = (await ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'service-name', Values: [S3_SERVICE] }, { Name: 'vpc-endpoint-type', Values: ['Interface'] }, { Name: 'vpc-endpoint-state', Values: ['available'] }] }))).VpcEndpoints!
  const s3Interface = interfaces.find((e) => e.PrivateDnsEnabled) ?? (await ec2.send(new CreateVpcEndpointCommand({ VpcId: VPC, VpcEndpointType: 'Interface', ServiceName: S3_SERVICE, SubnetIds: [SUBNET], PrivateDnsEnabled: true }))).VpcEndpoint!
  await ec2.send(new ModifyVpcEndpointCommand({ VpcEndpointId: s3Interface.VpcEndpointId, PolicyDocument: denyPut }))

  const { credentials } = await instanceCredentials(lab, 'workshop')
  const s3 = new S3Client({ ...lab.clientConfig('admin'), credentials })
  const put = (key: string) => s3.send(new PutObjectCommand({ Bucket: `kmsworkshop-${lab.accountId}`, Key: key, Body: 'x' }))
  t.equal((await put('gateway-before.txt')).$metadata.httpStatusCode, 200, 'the subnet uses another route table, and S3\'s interface private DNS does not answer the VPC: straight to S3')
  const association = (await ec2.send(new AssociateRouteTableCommand({ RouteTableId: table, SubnetId: SUBNET }))).AssociationId!
  t.teardown(() => ec2.send(new DisassociateRouteTableCommand({ AssociationId: association })))
  await t.rejects(put('gateway-through.txt'), { name: 'AccessDenied', message: /with an explicit deny in a VPC endpoint policy/ }, 'the subnet\'s route table is the endpoint\'s: through it')
  await ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [gateway.VpcEndpointId!] }))
  t.equal((await put('gateway-after.txt')).$metadata.httpStatusCode, 200, 'nothing passes a deleting gateway endpoint')
})

t.test('row 16: an S3 request sent through a KMS endpoint does not reach S3', async (t) => {
  const s3 = new S3Client(throughEndpoint(kmsEndpoint.VpcEndpointId!))
  await t.rejects(s3.send(new ListObjectsV2Command({ Bucket: `kmsworkshop-${lab.accountId}` })), { name: 'InvalidRequest', message: new RegExp(`serves ${KMS_SERVICE}, not s3`), $metadata: { httpStatusCode: 400 } })
})

t.test('row 27: EC2\'s UnauthorizedOperation carries an encoded authorization message that STS decodes; CloudTrail names the endpoint\'s account', async (t) => {
  const uploader = new EC2Client(lab.clientConfig('uploader'))
  const err = await uploader.send(new DescribeVpcsCommand({})).then(() => undefined, (e: Error) => e)
  t.match(err, { name: 'UnauthorizedOperation', message: /^You are not authorized to perform this operation\. User: .* is not authorized to perform: ec2:DescribeVpcs because no identity-based policy allows the ec2:DescribeVpcs action\. Encoded authorization failure message: [\w-]+$/ })
  const encoded = /Encoded authorization failure message: ([\w-]+)$/.exec(err!.message)![1]
  const decoded = JSON.parse((await new STSClient(lab.clientConfig('admin')).send(new DecodeAuthorizationMessageCommand({ EncodedMessage: encoded }))).DecodedMessage!)
  t.match(decoded, { allowed: false, explicitDeny: false, context: { action: 'ec2:DescribeVpcs', principal: { arn: /assumed-role\/kms-share-uploader\// } } })

  await new KMSClient(throughEndpoint(kmsEndpoint.VpcEndpointId!)).send(new CreateKeyCommand({ Description: 'through the endpoint' }))
  const events = (await new CloudTrailClient(lab.clientConfig('admin')).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateKey' }] }))).Events!
  const event = events.map((e) => JSON.parse(e.CloudTrailEvent!)).find((e) => e.vpcEndpointId === kmsEndpoint.VpcEndpointId)
  t.match(event, { vpcEndpointId: kmsEndpoint.VpcEndpointId, vpcEndpointAccountId: lab.accountId })
})

t.test('row 27: instance metadata lists the identity document and its signatures', async (t) => {
  // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-identity-documents.html
  const base = labInstance(lab, 'workshop').metadataEndpoint.replace(/\/$/, '')
  const token = await (await fetch(`${base}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).text()
  const read = async (path: string) => (await fetch(`${base}${path}`, { headers: { 'x-aws-ec2-metadata-token': token } })).text()
  t.same((await read('/latest/dynamic/instance-identity/')).split('\n').sort(), ['document', 'pkcs7', 'rsa2048', 'signature'])
  const document = await read('/latest/dynamic/instance-identity/document')
  t.match(JSON.parse(document), { instanceId: 'i-0ab12cd34ef56d001', region: lab.region })
  t.match(await read('/latest/dynamic/instance-identity/signature'), /^[A-Za-z0-9+/]+=*$/)
})
