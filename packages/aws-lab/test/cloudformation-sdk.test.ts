// The lab's CloudFormation through the AWS SDK v3: CloudFormation's errors for bad templates
// (with its sentences), intrinsic functions, conditions, mappings and pseudo parameters in YAML,
// rollback of a failed create and of a failed update, change sets, and authorisation as AWS does
// it — CloudFormation acts with the caller's permissions, or with the role it is given.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
import t from 'tap'
import {
  CloudFormationClient, CreateChangeSetCommand, CreateStackCommand, DeleteChangeSetCommand, DeleteStackCommand, DescribeChangeSetCommand, DescribeStackEventsCommand,
  DescribeStackResourceCommand, DescribeStacksCommand, ExecuteChangeSetCommand, GetTemplateSummaryCommand, ListChangeSetsCommand, ListExportsCommand, ValidateTemplateCommand,
  waitUntilChangeSetCreateComplete, waitUntilStackCreateComplete, waitUntilStackDeleteComplete, waitUntilStackUpdateComplete, type Parameter,
} from '@aws-sdk/client-cloudformation'
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, GetRoleCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam'
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const lab = await startTestLab(t, WITHOUT_STACKS)
const cfn = new CloudFormationClient(lab.clientConfig('admin'))
const iam = new IAMClient(lab.clientConfig('admin'))
const waiter = { client: cfn, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }

const json = (resources: Record<string, unknown>, more: Record<string, unknown> = {}) => JSON.stringify({ Resources: resources, ...more })
const role = (extra: Record<string, unknown> = {}) => ({ Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }, ...extra } })

/** CreateChangeSet's refusal (a ValidationError and its sentence), or undefined when it was accepted. */
async function refusal(body: string, client = cfn, capabilities: Array<'CAPABILITY_IAM'> = ['CAPABILITY_IAM'], parameters: Parameter[] = []) {
  try {
    await client.send(new CreateChangeSetCommand({ StackName: `bad-${Date.now()}`, ChangeSetName: 'cs', ChangeSetType: 'CREATE', TemplateBody: body, Capabilities: capabilities, Parameters: parameters }))
    return undefined
  } catch (err) {
    return { name: (err as Error).name, message: (err as Error).message }
  }
}

/** Creates a stack through a change set and waits; the stack as DescribeStacks shows it. */
async function create(name: string, body: string, client = cfn, extra: { RoleARN?: string; Parameters?: Parameter[] } = {}) {
  const cs = await client.send(new CreateChangeSetCommand({ StackName: name, ChangeSetName: 'create', ChangeSetType: 'CREATE', TemplateBody: body, Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'], ...extra }))
  await waitUntilChangeSetCreateComplete({ ...waiter, client }, { ChangeSetName: cs.Id!, StackName: name })
  await client.send(new ExecuteChangeSetCommand({ ChangeSetName: cs.Id!, StackName: name }))
  await waitUntilStackCreateComplete({ ...waiter, client }, { StackName: name }).catch(() => undefined)
  return (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]
}

const events = async (name: string) => (await cfn.send(new DescribeStackEventsCommand({ StackName: name }))).StackEvents!.map((e) => [e.LogicalResourceId, e.ResourceStatus, e.ResourceStatusReason ?? ''])

t.test('bad templates get CloudFormation\'s ValidationError and its sentence', async (t) => {
  t.same(await refusal(json({ A: { Type: 'AWS::KMS::Key', Properties: { Description: { Ref: 'Missing' } } } })), { name: 'ValidationError', message: 'Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template' })
  t.same(await refusal(json({ A: { Type: 'AWS::KMS::Key', Properties: { Description: { 'Fn::GetAtt': ['Nope', 'Arn'] } } } })), { name: 'ValidationError', message: 'Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template' })
  t.same(await refusal(json({ A: { Type: 'AWS::KMS::Key', DependsOn: 'Ghost' } })), { name: 'ValidationError', message: 'Template format error: Unresolved resource dependencies [Ghost] in the Resources block of the template' })
  t.same(await refusal(json({ A: { Type: 'AWS::KMS::Key' } }, { Outputs: { X: { Value: { Ref: 'B' } } } })), { name: 'ValidationError', message: 'Template format error: Unresolved resource dependencies [B] in the Outputs block of the template' })
  t.same(await refusal(json({
    A: { Type: 'AWS::KMS::Key', Properties: { Description: { 'Fn::GetAtt': ['B', 'Arn'] } } },
    B: { Type: 'AWS::KMS::Key', Properties: { Description: { 'Fn::Sub': '${A.Arn}' } } },
    C: { Type: 'AWS::KMS::Key' },
  })), { name: 'ValidationError', message: 'Circular dependency between resources: [A, B]' })
  t.same(await refusal('{"Resources": {"A": {"Type": "AWS::KMS::Key",}}'), { name: 'ValidationError', message: 'Template format error: JSON not well-formed. (line 1, column 46)' })
  t.same(await refusal('Resources:\n  A:\n    Type: [AWS::KMS::Key\n'), { name: 'ValidationError', message: 'Template format error: YAML not well-formed. (line 4, column 1)' })
  t.match(await refusal(json({ A: { Type: 'AWS::KMS::Key', Properties: { Description: { 'Fn::Frobnicate': 'x' } } } })), { name: 'ValidationError', message: /^Template format error: Encountered unsupported function: Fn::Frobnicate Supported functions are: \[Fn::Base64, Fn::GetAtt/ })
  t.same(await refusal(json({})), { name: 'ValidationError', message: 'Template format error: At least one Resources member must be defined.' })
  t.same(await refusal(json({ A: { Properties: {} } })), { name: 'ValidationError', message: 'Template format error: [/Resources/A] Every Resources object must contain a Type member.' })
  t.same(await refusal(json({ A: { Type: 'NotAType' } })), { name: 'ValidationError', message: 'Template format error: Unrecognized resource types: [NotAType]' })
  t.same(await refusal(json({ R: role() }), cfn, []), { name: 'InsufficientCapabilitiesException', message: 'Requires capabilities : [CAPABILITY_IAM]' })
  t.same(await refusal(json({ R: role({ RoleName: 'named' }) })), { name: 'InsufficientCapabilitiesException', message: 'Requires capabilities : [CAPABILITY_NAMED_IAM]' })
  t.same(await refusal(json({ A: { Type: 'AWS::KMS::Key' } }, { Parameters: { P: { Type: 'String' } } })), { name: 'ValidationError', message: 'Parameters: [P] must have values' })
  t.same(await refusal(json({ A: { Type: 'AWS::KMS::Key' } }, { Parameters: { P: { Type: 'String', AllowedValues: ['a', 'b'] } } }), cfn, [], [{ ParameterKey: 'P', ParameterValue: 'c' }]), { name: 'ValidationError', message: "Parameter 'P' must be one of AllowedValues" })
  t.same(await refusal(json({ A: { Type: 'AWS::KMS::Key' } }, { Parameters: { P: { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/not/there' } } }), cfn, []), { name: 'ValidationError', message: 'Unable to fetch parameters [/not/there] from parameter store for this account.' })
  t.same(await refusal(json({ A: { Type: 'AWS::KMS::Key' } }, { Parameters: { V: { Type: 'AWS::EC2::VPC::Id', Default: 'vpc-0123456789abcdef0' } } }), cfn, []), { name: 'ValidationError', message: 'Parameter value vpc-0123456789abcdef0 for parameter name V does not exist.' })
  const validated = await cfn.send(new ValidateTemplateCommand({ TemplateBody: json({ R: role() }, { Description: 'd', Parameters: { P: { Type: 'String', Default: 'x', NoEcho: true } } }) }))
  t.match(validated, { Description: 'd', Capabilities: ['CAPABILITY_IAM'], CapabilitiesReason: 'The following resource(s) require capabilities: [AWS::IAM::Role]', Parameters: [{ ParameterKey: 'P', DefaultValue: 'x', NoEcho: true }] })
  await t.rejects(cfn.send(new ValidateTemplateCommand({ TemplateBody: '{"Resources": ' })), { name: 'ValidationError', message: 'Template format error: JSON not well-formed. (line 1, column 15)' })
})

t.test('CDK\'s CheckBootstrapVersion rule reads the bootstrap version from Parameter Store, which a person can set', async (t) => {
  const body = json({ A: { Type: 'AWS::KMS::Key' } }, {
    Parameters: { BootstrapVersion: { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/cdk-bootstrap/hnb659fds/version' } },
    Rules: { CheckBootstrapVersion: { Assertions: [{ Assert: { 'Fn::Not': [{ 'Fn::Contains': [['1', '2', '3', '4', '5'], { Ref: 'BootstrapVersion' }] }] }, AssertDescription: "CDK bootstrap stack version 6 required. Please run 'cdk bootstrap' with a recent version of the CDK CLI." }] } },
  })
  const ssm = new SSMClient(lab.clientConfig('admin'))
  t.equal((await ssm.send(new GetParameterCommand({ Name: '/cdk-bootstrap/hnb659fds/version' }))).Parameter?.Value, '28', 'seeded')
  t.equal(await refusal(body, cfn, []), undefined, 'version 28 passes the rule')
  await ssm.send(new PutParameterCommand({ Name: '/cdk-bootstrap/hnb659fds/version', Value: '5', Type: 'String', Overwrite: true }))
  t.same(await refusal(body, cfn, []), { name: 'ValidationError', message: "CDK bootstrap stack version 6 required. Please run 'cdk bootstrap' with a recent version of the CDK CLI." })
  await ssm.send(new PutParameterCommand({ Name: '/cdk-bootstrap/hnb659fds/version', Value: '28', Type: 'String', Overwrite: true }))
  await t.rejects(ssm.send(new PutParameterCommand({ Name: '/aws/service/mine', Value: 'x', Type: 'String' })), { name: 'ValidationException' }, '/aws is AWS\'s')
  const ami = await ssm.send(new GetParameterCommand({ Name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' }))
  t.match(ami.Parameter, { Value: /^ami-0[0-9a-f]{16}$/, DataType: 'aws:ec2:image' })
})

t.test('YAML with short forms: intrinsic functions, conditions, mappings and pseudo parameters resolve as CloudFormation resolves them', async (t) => {
  const body = `
Parameters:
  Env: { Type: String, Default: prod, AllowedValues: [prod, dev] }
  Names: { Type: CommaDelimitedList, Default: "a,b,c" }
Mappings:
  Sizes: { prod: { Count: "3" }, dev: { Count: "1" } }
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Or [!Equals [a, a], !Condition IsDev]]
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      Description: !Sub 'key of \${AWS::StackName} in \${AWS::Region}'
  DevOnly:
    Type: AWS::KMS::Key
    Condition: IsDev
  Alias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: !Join ['', [alias/, !Ref 'AWS::StackName', '-', !Select [1, !Ref Names]]]
      TargetKeyId: !GetAtt Key.Arn
Outputs:
  Sub: { Value: !Sub ['\${Name}:\${Key.Arn}:\${!Literal}', { Name: !Select [2, !Split [',', 'x,y,z']] }] }
  Count: { Value: !FindInMap [Sizes, !Ref Env, Count] }
  If: { Value: !If [IsProd, prod-value, !Ref 'AWS::NoValue'] }
  Both: { Value: !If [Both, both-hold, neither] }
  Base64: { Value: !Base64 hello }
  Cidr: { Value: !Join [' ', !Cidr ['10.0.0.0/16', 3, 8]] }
  Azs: { Value: !Join [',', !GetAZs ''] }
  Pseudo: { Value: !Sub '\${AWS::AccountId} \${AWS::Partition} \${AWS::URLSuffix}' }
  StackId: { Value: !Ref 'AWS::StackId' }
  Alias: { Value: !Ref Alias, Export: { Name: !Sub '\${AWS::StackName}-alias' } }
  DevOnly: { Value: dev, Condition: IsDev }
`
  const stack = await create('yaml', body)
  t.equal(stack.StackStatus, 'CREATE_COMPLETE', JSON.stringify(await events('yaml')))
  const out = Object.fromEntries(stack.Outputs!.map((o) => [o.OutputKey, o.OutputValue]))
  const keyArn = out.Sub.split(':').slice(1, -1).join(':')
  t.match(keyArn, /^arn:aws:kms:eu-west-1:111122223333:key\/[0-9a-f-]{36}$/)
  t.same(out, {
    Sub: `z:${keyArn}:\${Literal}`,
    Count: '3',
    If: 'prod-value',
    Both: 'both-hold',
    Base64: 'aGVsbG8=',
    Cidr: '10.0.0.0/24 10.0.1.0/24 10.0.2.0/24',
    Azs: 'eu-west-1a,eu-west-1b,eu-west-1c',
    Pseudo: '111122223333 aws amazonaws.com',
    StackId: stack.StackId,
    Alias: 'alias/yaml-b',
  })
  const resources = (await cfn.send(new DescribeStacksCommand({ StackName: 'yaml' }))).Stacks![0]
  t.ok(resources, 'described')
  const key = await cfn.send(new DescribeStackResourceCommand({ StackName: 'yaml', LogicalResourceId: 'Key' }))
  t.match(key.StackResourceDetail, { ResourceType: 'AWS::KMS::Key', ResourceStatus: 'CREATE_COMPLETE', PhysicalResourceId: keyArn.split('/')[1] })
  await t.rejects(cfn.send(new DescribeStackResourceCommand({ StackName: 'yaml', LogicalResourceId: 'DevOnly' })), { message: 'Resource DevOnly does not exist for stack yaml' }, 'a resource whose condition is false is not created')
  t.match((await cfn.send(new ListExportsCommand({}))).Exports, [{ Name: 'yaml-alias', Value: 'alias/yaml-b', ExportingStackId: stack.StackId }])
  const summary = await cfn.send(new GetTemplateSummaryCommand({ StackName: 'yaml' }))
  t.match(summary, { ResourceTypes: ['AWS::KMS::Key', 'AWS::KMS::Alias'], Parameters: [{ ParameterKey: 'Env', DefaultValue: 'prod', ParameterConstraints: { AllowedValues: ['prod', 'dev'] } }, { ParameterKey: 'Names' }] })
})

t.test('a resource type the lab does not emulate fails the stack, naming the type, and what was made is rolled back', async (t) => {
  const body = json({
    MadeFirst: role(),
    Balancer: { Type: 'AWS::ElasticLoadBalancingV2::LoadBalancer', Properties: { Subnets: ['subnet-0ab12cd34ef56b001'] }, DependsOn: 'MadeFirst' },
  })
  const stack = await create('unsupported', body)
  t.equal(stack.StackStatus, 'ROLLBACK_COMPLETE')
  const ev = await events('unsupported')
  t.match(ev.find((e) => e[0] === 'Balancer' && e[1] === 'CREATE_FAILED'), ['Balancer', 'CREATE_FAILED', 'Resource type AWS::ElasticLoadBalancingV2::LoadBalancer is not supported by aws-lab'])
  t.match(ev.find((e) => e[1] === 'ROLLBACK_IN_PROGRESS'), ['unsupported', 'ROLLBACK_IN_PROGRESS', 'The following resource(s) failed to create: [Balancer]. Rollback requested by user.'])
  const made = ev.find((e) => e[0] === 'MadeFirst' && e[1] === 'DELETE_COMPLETE')
  t.ok(made, 'the role made before the failure was deleted')
  const physical = (await cfn.send(new DescribeStackResourceCommand({ StackName: 'unsupported', LogicalResourceId: 'MadeFirst' }))).StackResourceDetail!.PhysicalResourceId!
  await t.rejects(iam.send(new GetRoleCommand({ RoleName: physical })), { name: 'NoSuchEntityException' })
  await t.rejects(waitUntilStackCreateComplete(waiter, { StackName: 'unsupported' }), /ROLLBACK_COMPLETE|FAILURE/, 'the CLI\'s and SDK\'s waiter fail on ROLLBACK_COMPLETE')
  // A stack in ROLLBACK_COMPLETE can only be deleted, as in AWS.
  await t.rejects(cfn.send(new CreateChangeSetCommand({ StackName: 'unsupported', ChangeSetName: 'again', TemplateBody: body, Capabilities: ['CAPABILITY_IAM'] })), { message: /is in ROLLBACK_COMPLETE state and can not be updated/ })
  await cfn.send(new DeleteStackCommand({ StackName: 'unsupported' }))
  await waitUntilStackDeleteComplete(waiter, { StackName: 'unsupported' })
})

t.test('change sets: an update shows its changes, executes, and a failed update rolls back to what was there', async (t) => {
  const v1 = json({ Key: { Type: 'AWS::KMS::Key', Properties: { Description: 'v1' } }, Alias: { Type: 'AWS::KMS::Alias', Properties: { AliasName: 'alias/cs-a', TargetKeyId: { Ref: 'Key' } } } })
  await create('changes', v1)
  const v2 = json({ Key: { Type: 'AWS::KMS::Key', Properties: { Description: 'v2' } }, Alias: { Type: 'AWS::KMS::Alias', Properties: { AliasName: 'alias/cs-b', TargetKeyId: { Ref: 'Key' } } }, Extra: { Type: 'AWS::KMS::Key' } })
  const cs = await cfn.send(new CreateChangeSetCommand({ StackName: 'changes', ChangeSetName: 'v2', TemplateBody: v2 }))
  const described = await cfn.send(new DescribeChangeSetCommand({ ChangeSetName: 'v2', StackName: 'changes' }))
  t.match(described, { Status: 'CREATE_COMPLETE', ExecutionStatus: 'AVAILABLE', ChangeSetId: cs.Id })
  const byId = Object.fromEntries(described.Changes!.map((c) => [c.ResourceChange!.LogicalResourceId, c.ResourceChange]))
  t.match(byId, {
    Key: { Action: 'Modify', Replacement: 'False', Details: [{ Target: { Attribute: 'Properties', Name: 'Description', RequiresRecreation: 'Never' } }] },
    Alias: { Action: 'Modify', Replacement: 'True', Details: [{ Target: { Name: 'AliasName', RequiresRecreation: 'Always' } }] },
    Extra: { Action: 'Add', ResourceType: 'AWS::KMS::Key' },
  })
  t.same((await cfn.send(new ListChangeSetsCommand({ StackName: 'changes' }))).Summaries!.map((s) => s.ChangeSetName).sort(), ['create', 'v2'])
  await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: cs.Id }))
  await waitUntilStackUpdateComplete(waiter, { StackName: 'changes' })
  const aliases = (await cfn.send(new DescribeStackResourceCommand({ StackName: 'changes', LogicalResourceId: 'Alias' }))).StackResourceDetail!
  t.equal(aliases.PhysicalResourceId, 'alias/cs-b', 'the alias was replaced')

  // v3 keeps Key and Alias, drops Extra, and adds a type the lab does not emulate: the update fails and rolls back.
  const v3 = json({ Key: { Type: 'AWS::KMS::Key', Properties: { Description: 'v3' } }, Alias: { Type: 'AWS::KMS::Alias', Properties: { AliasName: 'alias/cs-b', TargetKeyId: { Ref: 'Key' } } }, Queue: { Type: 'AWS::SQS::Queue', DependsOn: 'Key' } })
  const cs3 = await cfn.send(new CreateChangeSetCommand({ StackName: 'changes', ChangeSetName: 'v3', TemplateBody: v3 }))
  await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: cs3.Id }))
  await t.rejects(waitUntilStackUpdateComplete(waiter, { StackName: 'changes' }))
  const after = (await cfn.send(new DescribeStacksCommand({ StackName: 'changes' }))).Stacks![0]
  t.equal(after.StackStatus, 'UPDATE_ROLLBACK_COMPLETE')
  const ev = await events('changes')
  t.ok(ev.some((e) => e[0] === 'Queue' && e[1] === 'CREATE_FAILED' && e[2] === 'Resource type AWS::SQS::Queue is not supported by aws-lab'))
  t.ok(ev.some((e) => e[0] === 'Key' && e[1] === 'UPDATE_COMPLETE'), 'Key was updated back')
  const key = (await cfn.send(new DescribeStackResourceCommand({ StackName: 'changes', LogicalResourceId: 'Extra' }))).StackResourceDetail!
  t.equal(key.ResourceStatus, 'CREATE_COMPLETE', 'Extra, which v3 would have removed, is still there')
  const deleted = await cfn.send(new DeleteChangeSetCommand({ ChangeSetName: 'v2', StackName: 'changes' }))
  t.ok(deleted)
})

t.test('CloudFormation acts with the caller\'s permissions, or with the role it is given', async (t) => {
  // The uploader has no CloudFormation permissions at all.
  const uploader = new CloudFormationClient(lab.clientConfig('uploader'))
  t.match(await refusal(json({ K: { Type: 'AWS::KMS::Key' } }), uploader), { name: 'AccessDenied', message: /kms-share-uploader\/.* is not authorized to perform: cloudformation:CreateChangeSet on resource: arn:aws:cloudformation:eu-west-1:111122223333:stack\/bad-\d+\/\* because no identity-based policy allows/ })

  // A deployer with cloudformation:* (and the SSM read CDK templates need) but no IAM: creating a role fails as the deployer.
  await iam.send(new CreateUserCommand({ UserName: 'deployer' }))
  await iam.send(new PutUserPolicyCommand({ UserName: 'deployer', PolicyName: 'cfn', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [
    { Effect: 'Allow', Action: ['cloudformation:*', 'ssm:GetParameters'], Resource: '*' },
    { Effect: 'Allow', Action: 'iam:PassRole', Resource: 'arn:aws:iam::111122223333:role/cfn-exec', Condition: { StringEquals: { 'iam:PassedToService': 'cloudformation.amazonaws.com' } } },
  ] }) }))
  const key = await iam.send(new CreateAccessKeyCommand({ UserName: 'deployer' }))
  const deployer = new CloudFormationClient({ ...lab.clientConfig('admin'), credentials: { accessKeyId: key.AccessKey!.AccessKeyId!, secretAccessKey: key.AccessKey!.SecretAccessKey! } })
  const body = json({ R: role() })
  const denied = await create('as-caller', body, deployer)
  t.equal(denied.StackStatus, 'ROLLBACK_COMPLETE')
  const reason = (await events('as-caller')).find((e) => e[0] === 'R' && e[1] === 'CREATE_FAILED')![2]
  t.match(reason, /^Resource handler returned message: "User: arn:aws:iam::111122223333:user\/deployer is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::111122223333:role\/as-caller-R-[A-Z0-9]{13} because no identity-based policy allows the iam:CreateRole action \(Service: Iam, Status Code: 403, Request ID: [0-9a-f-]{36}\)" \(RequestToken: [0-9a-f-]{36}, HandlerErrorCode: AccessDenied\)$/)

  // With a service role CloudFormation may assume, the same deployer's stack succeeds, made by the role.
  await iam.send(new CreateRoleCommand({ RoleName: 'cfn-exec', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'cloudformation.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }))
  await iam.send(new PutRolePolicyCommand({ RoleName: 'cfn-exec', PolicyName: 'iam', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }] }) }))
  const asRole = await create('as-role', body, deployer, { RoleARN: 'arn:aws:iam::111122223333:role/cfn-exec' })
  t.match(asRole, { StackStatus: 'CREATE_COMPLETE', RoleARN: 'arn:aws:iam::111122223333:role/cfn-exec' })
  const trail = lab.trail.all().filter((e) => e.eventName === 'CreateRole' && (e.userIdentity as { invokedBy?: string }).invokedBy === 'cloudformation.amazonaws.com').pop()
  t.match(trail?.userIdentity, { type: 'AssumedRole', arn: 'arn:aws:sts::111122223333:assumed-role/cfn-exec/AWSCloudFormation' })

  // A role CloudFormation is not trusted to assume is refused, as AWS refuses it.
  await iam.send(new CreateRoleCommand({ RoleName: 'not-for-cfn', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }))
  await t.rejects(cfn.send(new CreateStackCommand({ StackName: 'bad-role', TemplateBody: body, Capabilities: ['CAPABILITY_IAM'], RoleARN: 'arn:aws:iam::111122223333:role/not-for-cfn' })), { name: 'ValidationError', message: 'Role arn:aws:iam::111122223333:role/not-for-cfn is invalid or cannot be assumed' })
  // Passing a role needs iam:PassRole.
  await t.rejects(deployer.send(new CreateStackCommand({ StackName: 'pass', TemplateBody: body, Capabilities: ['CAPABILITY_IAM'], RoleARN: 'arn:aws:iam::111122223333:role/not-for-cfn' })), { name: 'AccessDenied', message: /not authorized to perform: iam:PassRole on resource: arn:aws:iam::111122223333:role\/not-for-cfn/ })
})
