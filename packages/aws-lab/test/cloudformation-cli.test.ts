// The lab's CloudFormation through AWS CLI v2, as a person deploys to AWS: `aws cloudformation deploy`
// of CDK-shaped templates (test/fixtures/cloudformation) over HTTPS with the lab's CA, then the
// created resources used as AWS would use them — the instance's role through its own metadata
// endpoint, S3 and KMS through the stack's VPC endpoints — an update that scales the Auto Scaling
// group in, and delete-stack with the CLI's waiter.
// https://docs.aws.amazon.com/cli/latest/reference/cloudformation/deploy/
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-changesets.html
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/walkthrough-crossstackref.html
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { awsCli, cliInstanceEnv, cliProfileEnv } from '../src/testing.js'
import { startTestLab } from './helpers/lab.js'

const fixtures = fileURLToPath(new URL('./fixtures/cloudformation/', import.meta.url))
const lab = await startTestLab(t, { tls: true, vpcEndpointPendingMs: 100, deploy: false })
// The CLI's home beside the lab's data (a second t.testdir() would empty the lab's folder).
const home = join(lab.dataDir, 'cli-home')
mkdirSync(home)
const admin = { ...cliProfileEnv(lab, 'admin', home), AWS_CA_BUNDLE: lab.caFile! }
const deploy = (template: string, stack: string, extra: string[] = []) =>
  awsCli(['cloudformation', 'deploy', '--template-file', join(fixtures, template), '--stack-name', stack, '--capabilities', 'CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM', ...extra], admin)
const outputs = async (stack: string): Promise<Record<string, string>> => {
  const r = await awsCli(['cloudformation', 'describe-stacks', '--stack-name', stack], admin)
  return Object.fromEntries((r.json.Stacks[0].Outputs as Array<{ OutputKey: string; OutputValue: string }>).map((o) => [o.OutputKey, o.OutputValue]))
}

t.test('deploy creates the core stack; a second deploy with no change reports "No changes to deploy"', async (t) => {
  const first = await deploy('core.template.json', 'core')
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, 'Successfully created/updated stack - core')
  const stack = (await awsCli(['cloudformation', 'describe-stacks', '--stack-name', 'core'], admin)).json.Stacks[0]
  t.match(stack, { StackStatus: 'CREATE_COMPLETE', StackId: /^arn:aws:cloudformation:eu-west-1:111122223333:stack\/core\/[0-9a-f-]{36}$/, Parameters: [{ ParameterKey: 'BootstrapVersion', ParameterValue: '/cdk-bootstrap/hnb659fds/version', ResolvedValue: '28' }] })
  const out = await outputs('core')
  t.match(out, { KeyArn: /^arn:aws:kms:eu-west-1:111122223333:key\//, BucketName: /^core-sharebucket9a1f2c3d-[a-z0-9]{13}$/ })

  const again = await deploy('core.template.json', 'core')
  t.equal(again.code, 0, again.stderr)
  t.match(again.stdout, 'No changes to deploy. Stack core is up to date')

  const resources = await awsCli(['cloudformation', 'list-stack-resources', '--stack-name', 'core'], admin)
  t.same(resources.json.StackResourceSummaries.map((r: any) => r.ResourceStatus).filter((s: string) => s !== 'CREATE_COMPLETE'), [], 'every resource CREATE_COMPLETE')
  t.ok(resources.json.StackResourceSummaries.some((r: any) => r.LogicalResourceId === 'CDKMetadata' && r.ResourceType === 'AWS::CDK::Metadata'), 'AWS::CDK::Metadata is accepted and recorded')
  const template = await awsCli(['cloudformation', 'get-template', '--stack-name', 'core'], admin)
  t.equal(template.json.TemplateBody.Description, 'kms-share lab fixture: key, bucket, role', 'get-template returns the template as deployed')
})

t.test('the stack made real resources: the bucket applies its configurations and policy, the key rotates', async (t) => {
  const { BucketName: bucket, KeyArn: keyArn } = await outputs('core')
  const encryption = await awsCli(['s3api', 'get-bucket-encryption', '--bucket', bucket], admin)
  t.match(encryption.json.ServerSideEncryptionConfiguration.Rules[0], { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: true })
  const pab = await awsCli(['s3api', 'get-public-access-block', '--bucket', bucket], admin)
  t.same(pab.json.PublicAccessBlockConfiguration, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true })
  const lifecycle = await awsCli(['s3api', 'get-bucket-lifecycle-configuration', '--bucket', bucket], admin)
  t.match(lifecycle.json.Rules, [{ ID: 'abort-incomplete', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }])
  const ownership = await awsCli(['s3api', 'get-bucket-ownership-controls', '--bucket', bucket], admin)
  t.match(ownership.json.OwnershipControls.Rules, [{ ObjectOwnership: 'BucketOwnerEnforced' }])
  const rotation = await awsCli(['kms', 'get-key-rotation-status', '--key-id', keyArn], admin)
  t.equal(rotation.json.KeyRotationEnabled, true)
  // The bucket policy from the template is enforced: plain HTTP is refused by its DenyInsecureTransport.
  const plain = await awsCli(['s3api', 'list-objects-v2', '--bucket', bucket, '--endpoint-url', lab.httpEndpoint], admin)
  t.equal(plain.code, 254)
  t.match(plain.stderr, /AccessDenied.*with an explicit deny in a resource-based policy/)
  // BlockPublicPolicy holds: a public policy is refused.
  const publicPolicy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` }] })
  const refused = await awsCli(['s3api', 'put-bucket-policy', '--bucket', bucket, '--policy', publicPolicy], admin)
  t.match(refused.stderr, 'because public policies are blocked by the BlockPublicPolicy block public access setting')
})

t.test('the compute stack imports core\'s exports; its instance and group serve the created role through their own metadata', async (t) => {
  const r = await deploy('compute.template.json', 'compute')
  t.equal(r.code, 0, r.stderr)
  const out = await outputs('compute')
  const { BucketName: bucket, KeyArn: keyArn } = await outputs('core')
  t.match(out, { NatAddress: /^203\.0\.113\.\d+$/, InstanceId: /^i-0[0-9a-f]{16}$/, InstancePrivateIp: /^10\.20\.0\.\d+$/, KmsEndpointId: /^vpce-/, KmsEndpointDns: /^Z38GZ743OKFT7T:vpce-[0-9a-f]+-[0-9a-f]{8}\.kms\.eu-west-1\.vpce\.amazonaws\.com$/ })
  const app = lab.instances().find((i) => i.instanceId === out.InstanceId)
  t.ok(app, 'the instance has a metadata endpoint')
  t.equal(app!.name, 'fixture-app', 'named after its Name tag in endpoints.json')
  const group = lab.instances().filter((i) => lab.ec2.state.instances[i.instanceId]?.Tags['aws:autoscaling:groupName'] === out.GroupName)
  t.equal(group.length, 2, 'the group launched its desired capacity, each with an endpoint')

  // The role, as the instance gets it: through its metadata, with no other credentials.
  const dir = t.testdir()
  const onInstance = { ...cliInstanceEnv(lab, 'fixture-app', dir), AWS_CA_BUNDLE: lab.caFile! }
  const who = await awsCli(['sts', 'get-caller-identity'], onInstance)
  t.match(who.json.Arn, new RegExp(`^arn:aws:sts::111122223333:assumed-role/core-AppRole3C4D5E6F-[A-Z0-9]{13}/${out.InstanceId}$`))
  const file = join(dir, 'hello.txt')
  writeFileSync(file, 'hello from the fixture instance\n')
  const put = await awsCli(['s3api', 'put-object', '--bucket', bucket, '--key', 'hello.txt', '--body', file], onInstance)
  t.equal(put.code, 0, put.stderr)
  t.match(put.json, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, BucketKeyEnabled: true })
  const get = await awsCli(['s3api', 'get-object', '--bucket', bucket, '--key', 'hello.txt', join(dir, 'back.txt')], onInstance)
  t.equal(get.code, 0, get.stderr)
  const dataKey = await awsCli(['kms', 'generate-data-key', '--key-id', keyArn, '--key-spec', 'AES_256'], onInstance)
  t.equal(dataKey.code, 0, dataKey.stderr)
  const refused = await awsCli(['s3api', 'delete-object', '--bucket', bucket, '--key', 'hello.txt'], onInstance)
  t.match(refused.stderr, /AccessDenied.*s3:DeleteObject.*because no identity-based policy allows the s3:DeleteObject action/, 'the role has what its template gives, no more')
  // The instance reaches KMS through the stack's interface endpoint (private DNS), as CloudTrail shows.
  const events = await awsCli(['cloudtrail', 'lookup-events', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=GenerateDataKey', '--max-results', '5'], admin)
  const mine = events.json.Events.map((e: any) => JSON.parse(e.CloudTrailEvent)).find((e: any) => e.userIdentity.arn?.endsWith(`/${out.InstanceId}`) && !e.userIdentity.invokedBy)
  t.equal(mine?.vpcEndpointId, out.KmsEndpointId)
})

t.test('an update scales the group in: the terminated instance\'s metadata endpoint closes', async (t) => {
  const before = (await outputs('compute')).GroupName
  const members = () => Object.values(lab.ec2.state.instances).filter((i) => i.Tags['aws:autoscaling:groupName'] === before).map((i) => i.InstanceId)
  const was = members()
  const r = await deploy('compute.template.json', 'compute', ['--parameter-overrides', 'Capacity=1'])
  t.equal(r.code, 0, r.stderr)
  const now = members()
  t.equal(now.length, 1)
  const gone = was.find((id) => !now.includes(id))!
  await lab.cloudformation.idle((await awsCli(['cloudformation', 'describe-stacks', '--stack-name', 'compute'], admin)).json.Stacks[0].StackId)
  t.notOk(lab.instances().some((i) => i.instanceId === gone), 'no endpoint for the terminated instance')
  const events = await awsCli(['cloudformation', 'describe-stack-events', '--stack-name', 'compute'], admin)
  t.match(events.json.StackEvents.slice(0, 3).map((e: any) => [e.LogicalResourceId, e.ResourceStatus]), [['compute', 'UPDATE_COMPLETE'], ['compute', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS'], ['GroupASG1A2B3C4D', 'UPDATE_COMPLETE']])
})

t.test('CloudTrail records the CloudFormation calls and the calls CloudFormation made for the caller', async (t) => {
  // LookupEvents allows two calls per second per account and Region (the lab throttles as AWS does:
  // https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html), so these
  // back-to-back lookups retry a ThrottlingException as the CLI does by default (awsCli turns retries off).
  const lookup = async (name: string) => {
    const r = await awsCli(['cloudtrail', 'lookup-events', '--lookup-attributes', `AttributeKey=EventName,AttributeValue=${name}`, '--max-results', '50'], { ...admin, AWS_RETRY_MODE: 'standard', AWS_MAX_ATTEMPTS: '5' })
    if (r.code !== 0) throw new Error(`lookup-events ${name}: ${r.stderr}`)
    return r.json.Events.map((e: any) => JSON.parse(e.CloudTrailEvent))
  }
  const created = await lookup('CreateChangeSet')
  t.match(created[0], { eventSource: 'cloudformation.amazonaws.com', userIdentity: { arn: 'arn:aws:iam::111122223333:user/admin' }, requestParameters: { stackName: /^(core|compute)$/, changeSetType: /CREATE|UPDATE/ } })
  const roles = (await lookup('CreateRole')).filter((e: any) => e.userIdentity.invokedBy === 'cloudformation.amazonaws.com')
  t.equal(roles.length, 1)
  t.match(roles[0], { eventSource: 'iam.amazonaws.com', sourceIPAddress: 'cloudformation.amazonaws.com', userAgent: 'cloudformation.amazonaws.com', userIdentity: { arn: 'arn:aws:iam::111122223333:user/admin' } })
  const vpcs = (await lookup('CreateVpc')).filter((e: any) => e.userIdentity.invokedBy === 'cloudformation.amazonaws.com')
  t.equal(vpcs.length, 1)
})

t.test('delete-stack and the CLI\'s waiter remove what the stacks made; a retained key stays, the others are scheduled for deletion', async (t) => {
  const { KeyArn: keyArn, KeptKeyId: keptKey, BucketName: bucket } = await outputs('core')
  const { InstanceId: instance, VpcId: vpc } = await outputs('compute')
  // core's exports are in use by compute: AWS refuses to delete the exporter first.
  const early = await awsCli(['cloudformation', 'delete-stack', '--stack-name', 'core'], admin)
  t.equal(early.code, 0)
  const waitedEarly = await awsCli(['cloudformation', 'wait', 'stack-delete-complete', '--stack-name', 'core'], admin)
  t.not(waitedEarly.code, 0)
  const failed = (await awsCli(['cloudformation', 'describe-stacks', '--stack-name', 'core'], admin)).json.Stacks[0]
  t.match(failed, { StackStatus: 'DELETE_FAILED', StackStatusReason: /^Export core-(KeyArn|BucketName) cannot be deleted as it is in use by compute$/ })

  // A bucket with objects in it does not delete, in AWS as here: empty it first.
  t.equal((await awsCli(['s3api', 'delete-object', '--bucket', bucket, '--key', 'hello.txt'], admin)).code, 0)
  for (const stack of ['compute', 'core']) {
    t.equal((await awsCli(['cloudformation', 'delete-stack', '--stack-name', stack], admin)).code, 0)
    const waited = await awsCli(['cloudformation', 'wait', 'stack-delete-complete', '--stack-name', stack], admin)
    t.equal(waited.code, 0, waited.stderr)
  }
  t.notOk(lab.ec2.state.instances[instance], 'the instance is terminated')
  t.notOk(lab.ec2.state.vpcs[vpc], 'the VPC is deleted')
  t.notOk(lab.instances().some((i) => i.instanceId === instance))
  const key = await awsCli(['kms', 'describe-key', '--key-id', keyArn], admin)
  t.equal(key.json.KeyMetadata.KeyState, 'PendingDeletion')
  const days = (Date.parse(key.json.KeyMetadata.DeletionDate) - Date.now()) / 86_400_000
  t.ok(days > 6.9 && days <= 7, `deletion in the template's PendingWindowInDays (7), not 30: ${days}`)
  const kept = await awsCli(['kms', 'describe-key', '--key-id', keptKey], admin)
  t.equal(kept.json.KeyMetadata.KeyState, 'Enabled', 'DeletionPolicy Retain keeps the key')
  t.match((await awsCli(['s3api', 'head-bucket', '--bucket', bucket], admin)).stderr, /404/)
  const listed = await awsCli(['cloudformation', 'list-stacks', '--stack-status-filter', 'DELETE_COMPLETE'], admin)
  t.same(listed.json.StackSummaries.map((s: any) => s.StackName).sort(), ['compute', 'core'])
  const gone = await awsCli(['cloudformation', 'describe-stacks', '--stack-name', 'core'], admin)
  t.match(gone.stderr, /An error occurred \(ValidationError\) when calling the DescribeStacks operation.*: Stack with id core does not exist/)
})
