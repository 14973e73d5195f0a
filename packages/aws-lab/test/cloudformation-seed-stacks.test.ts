// Issue 23, deliverable 3: the default seed keeps only what no deployment makes, and the lab deploys infra's
// synthesized core stacks at start. What the services run as — their roles (and the profiles the lab issues for
// them), their instances, the bucket — is what CloudFormation says the stacks made; the seed's separation-of-duties
// key policy, which names a role the identity stack makes, is in place once they are; a second start changes nothing.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html
// https://docs.aws.amazon.com/cli/latest/reference/cloudformation/deploy/
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { DEFAULT_SEED_FILE, WORKSPACE_TEMPLATE_DIR } from '../src/app.js'
import { labDeployment, labInstance } from '../src/testing.js'
import { startTestLab, type TestLab } from './helpers/lab.js'

const dataDir = t.testdir()
const deploy = { templateDir: WORKSPACE_TEMPLATE_DIR }
const SERVICES = { uploader: 'kms-share-uploader', downloader: 'kms-share-downloader', keyadmin: 'kms-share-keyadmin', auditor: 'kms-share-auditor' } as const

interface StackResource { LogicalResourceId: string; PhysicalResourceId: string; ResourceType: string; ResourceStatus: string }
const resources = async (lab: TestLab, stack: string) => (await lab.invoke<{ StackResources: StackResource[] }>('cloudformation', 'DescribeStackResources', { StackName: stack }, 'admin')).StackResources
const stackEvents = async (lab: TestLab) => Object.fromEntries(await Promise.all(lab.deployed.map(async (s) => [s.stackName, (await lab.invoke<{ StackEvents: unknown[] }>('cloudformation', 'DescribeStackEvents', { StackName: s.stackName }, 'admin')).StackEvents.length] as const)))

t.test('the default seed makes none of what the stacks make', async (t) => {
  const seed = parse(readFileSync(DEFAULT_SEED_FILE, 'utf8')) as { buckets: string[]; roles: Array<{ name: string }>; instances: Array<{ name: string }>; deploy: { stacks: string[] } }
  t.same(seed.buckets, [], 'no bucket')
  t.same(seed.roles.map((r) => r.name), ['KMSWorkshop-InstaceInitRole'], 'only the workshop\'s role')
  t.same(seed.instances.map((i) => i.name), ['workshop'], 'only the workshop\'s instance')
  t.same(seed.deploy.stacks, ['KmsShareIdentity', 'KmsShareData', 'KmsShareNetwork', 'KmsShareCompute'])
})

let first: { stackIds: string[]; instances: Record<string, string>; events: Record<string, number>; profiles: Record<string, string>; keyPolicy: string }

t.test('the first start deploys the core stacks; the services\' roles, instances and bucket are theirs', async (t) => {
  const lab = await startTestLab(t, { dataDir, deploy })
  t.same(lab.deployed.map((s) => [s.stackName, s.status, s.changed]), [
    ['KmsShareIdentity', 'CREATE_COMPLETE', true], ['KmsShareData', 'CREATE_COMPLETE', true], ['KmsShareNetwork', 'CREATE_COMPLETE', true], ['KmsShareCompute', 'CREATE_COMPLETE', true],
  ])
  const identity = await resources(lab, 'KmsShareIdentity')
  const roles = identity.filter((r) => r.ResourceType === 'AWS::IAM::Role').map((r) => r.PhysicalResourceId).sort()
  t.same(roles, Object.values(SERVICES).sort(), 'the identity stack made the four service roles')
  for (const [profile, role] of Object.entries(SERVICES)) {
    t.match(lab.callerFor(profile).principal.arn, `:assumed-role/${role}/`, `the ${profile} profile is a session of the stack's ${role}`)
    t.equal(labInstance(lab, profile).role, role, `the ${profile} instance serves ${role}`)
  }

  // The instances are the compute stack's Auto Scaling groups', by their Name tags.
  const groups = (await resources(lab, 'KmsShareCompute')).filter((r) => r.ResourceType === 'AWS::AutoScaling::AutoScalingGroup').map((r) => r.PhysicalResourceId)
  const instances: Record<string, string> = {}
  for (const name of Object.keys(SERVICES)) {
    const instance = lab.ec2.state.instances[labInstance(lab, name).instanceId]
    t.ok(groups.includes(instance.Tags['aws:autoscaling:groupName']), `${name} is launched by one of the compute stack's groups`)
    instances[name] = instance.InstanceId
  }
  t.equal(labInstance(lab, 'workshop').instanceId, 'i-0ab12cd34ef56d001', 'the workshop\'s instance stays the seed\'s')

  // The bucket is the data stack's, under the workshop's key (ExistingKeyArn = alias/ImportedCMK's ARN).
  const data = await resources(lab, 'KmsShareData')
  const { bucket, keyArn } = labDeployment(lab)
  t.ok(data.some((r) => r.ResourceType === 'AWS::S3::Bucket' && r.PhysicalResourceId === bucket), `${bucket} is the data stack's`)
  t.equal(bucket, 'kmsworkshop-111122223333')
  const imported = await lab.invoke<{ KeyMetadata: { Arn: string } }>('kms', 'DescribeKey', { KeyId: 'alias/ImportedCMK' }, 'admin')
  t.equal(keyArn, imported.KeyMetadata.Arn, 'the data stack took the workshop\'s key')
  t.notOk(data.some((r) => r.ResourceType === 'AWS::KMS::Key'), 'and made none')

  // The seed's key policy names kms-share-keyadmin: put once the identity stack made it.
  const policy = (await lab.invoke<{ Policy: string }>('kms', 'GetKeyPolicy', { KeyId: keyArn, PolicyName: 'default' }, 'userA')).Policy
  t.match(policy, 'arn:aws:iam::111122223333:role/kms-share-keyadmin', 'the separation-of-duties policy, naming the stack\'s keyadmin role')

  first = {
    stackIds: lab.deployed.map((s) => s.stackId),
    instances,
    events: await stackEvents(lab),
    profiles: Object.fromEntries(Object.entries(lab.profiles()).map(([name, c]) => [name, c.accessKeyId])),
    keyPolicy: policy,
  }
  await lab.close()
})

t.test('a second start changes nothing: the same stacks, instances, profiles and key policy, no stack events', async (t) => {
  const lab = await startTestLab(t, { dataDir, deploy })
  t.same(lab.deployed.map((s) => [s.stackName, s.status, s.changed]), [
    ['KmsShareIdentity', 'CREATE_COMPLETE', false], ['KmsShareData', 'CREATE_COMPLETE', false], ['KmsShareNetwork', 'CREATE_COMPLETE', false], ['KmsShareCompute', 'CREATE_COMPLETE', false],
  ])
  t.same(lab.deployed.map((s) => s.stackId), first.stackIds)
  t.same(Object.fromEntries(Object.keys(SERVICES).map((name) => [name, labInstance(lab, name).instanceId])), first.instances)
  t.same(await stackEvents(lab), first.events)
  t.same(Object.fromEntries(Object.entries(lab.profiles()).map(([name, c]) => [name, c.accessKeyId])), first.profiles, 'no profile issued again')
  t.equal((await lab.invoke<{ Policy: string }>('kms', 'GetKeyPolicy', { KeyId: labDeployment(lab).keyArn, PolicyName: 'default' }, 'userA')).Policy, first.keyPolicy)
  await lab.close()
})

t.test('without templates the service roles do not exist, and the seed\'s key policy waits for them', async (t) => {
  const lab = await startTestLab(t, { dataDir: t.testdir(), deploy: false })
  t.same(lab.deployed, [])
  t.throws(() => lab.callerFor('uploader'), /no such lab profile: uploader/)
  t.same(lab.instances().map((i) => i.name), ['workshop'])
  const key = await lab.invoke<{ KeyMetadata: { KeyId: string } }>('kms', 'DescribeKey', { KeyId: 'alias/ImportedCMK' }, 'admin')
  const policy = (await lab.invoke<{ Policy: string }>('kms', 'GetKeyPolicy', { KeyId: key.KeyMetadata.KeyId, PolicyName: 'default' }, 'admin')).Policy
  t.notMatch(policy, 'kms-share-keyadmin', 'AWS\'s default key policy until the stacks make the role it names')
})
