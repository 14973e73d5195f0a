// The lab deploys templates when it starts (LabOptions.deploy: what `pnpm start` and the test helper are to give it
// with infra's synthesized core stacks), as `aws cloudformation deploy` would: created on the first start, untouched
// by a second start with the same templates (the change set "didn't contain changes" and is deleted), updated when
// a parameter changes; a stack that fails stops the start, naming the resource.
// https://docs.aws.amazon.com/cli/latest/reference/cloudformation/deploy/
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-changesets.html
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startTestLab } from './helpers/lab.js'

const fixtures = fileURLToPath(new URL('./fixtures/cloudformation/', import.meta.url))
const dataDir = t.testdir()
const deploy = (parameters?: Record<string, Record<string, string>>) => ({ templateDir: fixtures, stacks: ['core', 'compute'], ...(parameters ? { parameters } : {}) })
const groupMembers = (lab: Awaited<ReturnType<typeof startTestLab>>, group: string) => Object.values(lab.ec2.state.instances).filter((i) => i.Tags['aws:autoscaling:groupName'] === group).map((i) => i.InstanceId).sort()

let first: { stackIds: string[]; instances: string[]; events: number; group: string }

t.test('the first start creates the stacks in order, with their outputs; the instances get metadata endpoints', async (t) => {
  const lab = await startTestLab(t, { dataDir, deploy: deploy() })
  t.match(lab.deployed, [
    { stackName: 'core', status: 'CREATE_COMPLETE', changed: true, outputs: { KeyArn: /^arn:aws:kms:eu-west-1:111122223333:key\//, BucketName: /^core-sharebucket/ } },
    { stackName: 'compute', status: 'CREATE_COMPLETE', changed: true, outputs: { InstanceId: /^i-0/, GroupName: /^compute-/ } },
  ])
  const group = lab.deployed[1].outputs.GroupName
  const instances = [lab.deployed[1].outputs.InstanceId, ...groupMembers(lab, group)].sort()
  t.equal(instances.length, 3, 'the instance and the group\'s two')
  t.same(lab.instances().map((i) => i.instanceId).filter((id) => instances.includes(id)).sort(), instances, 'each with its metadata endpoint')
  const events = await lab.invoke<{ StackEvents: unknown[] }>('cloudformation', 'DescribeStackEvents', { StackName: 'compute' }, 'admin')
  const trail = await lab.invoke<{ Events: Array<{ CloudTrailEvent: string }> }>('cloudtrail', 'LookupEvents', { LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'ExecuteChangeSet' }] }, 'admin')
  t.equal(trail.Events.length, 2, 'CloudTrail records the deployments, made as the admin profile')
  t.match(JSON.parse(trail.Events[0].CloudTrailEvent), { userIdentity: { arn: 'arn:aws:iam::111122223333:user/admin' } })
  first = { stackIds: lab.deployed.map((s) => s.stackId), instances, events: events.StackEvents.length, group }
  await lab.close()
})

t.test('a second start with the same templates changes nothing', async (t) => {
  const lab = await startTestLab(t, { dataDir, deploy: deploy() })
  t.match(lab.deployed, [{ stackName: 'core', status: 'CREATE_COMPLETE', changed: false }, { stackName: 'compute', status: 'CREATE_COMPLETE', changed: false }])
  t.same(lab.deployed.map((s) => s.stackId), first.stackIds, 'the same stacks')
  t.same([lab.deployed[1].outputs.InstanceId, ...groupMembers(lab, first.group)].sort(), first.instances, 'the same instances')
  t.same(lab.instances().map((i) => i.instanceId).filter((id) => first.instances.includes(id)).sort(), first.instances, 'serving their metadata again')
  const events = await lab.invoke<{ StackEvents: unknown[] }>('cloudformation', 'DescribeStackEvents', { StackName: 'compute' }, 'admin')
  t.equal(events.StackEvents.length, first.events, 'no new stack events')
  // ExecuteChangeSet keeps the executed one (and deletes the others); the empty one of this start is deleted.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html
  const changeSets = await lab.invoke<{ Summaries: Array<{ ExecutionStatus: string }> }>('cloudformation', 'ListChangeSets', { StackName: 'compute' }, 'admin')
  t.same(changeSets.Summaries.map((c) => c.ExecutionStatus), ['EXECUTE_COMPLETE'], 'no empty change set left behind')
  await lab.close()
})

t.test('a changed parameter updates only that stack', async (t) => {
  const lab = await startTestLab(t, { dataDir, deploy: deploy({ compute: { Capacity: '1' } }) })
  t.match(lab.deployed, [{ stackName: 'core', changed: false }, { stackName: 'compute', status: 'UPDATE_COMPLETE', changed: true }])
  t.equal(groupMembers(lab, first.group).length, 1, 'the group scaled in')
  await lab.close()
})

t.test('a stack that does not complete stops the start, naming the resource and why', async (t) => {
  // One folder for the template and the lab's data (a second t.testdir() would empty the first).
  const templateDir = t.testdir()
  writeFileSync(join(templateDir, 'broken.template.json'), JSON.stringify({ Resources: { Queue: { Type: 'AWS::SQS::Queue' } } }))
  await t.rejects(startTestLab(t, { dataDir: join(templateDir, 'lab'), deploy: { templateDir, stacks: ['broken'] } }), { message: /^broken: ROLLBACK_COMPLETE — Queue \(AWS::SQS::Queue\): Resource type AWS::SQS::Queue is not supported by aws-lab/ })
})
