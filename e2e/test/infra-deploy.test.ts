// Issue 23: the deployment's one definition, deployed into the lab exactly as into AWS. `cdk synth` writes infra/'s
// templates; AWS CLI v2 deploys the core stacks (identity → data → network → compute) over the lab's HTTPS with
// `aws cloudformation deploy`; then the workshop's flow runs against what they made — upload on the uploader's
// Auto Scaling instance, download on the downloader's, keyadmin on its own, the audit worker on the auditor's, each
// with nothing but its instance's metadata — and delete-stack removes the stacks, keeping what the templates retain.
// https://docs.aws.amazon.com/cli/latest/reference/cloudformation/deploy/
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kms-key.html
import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:https'
import { join } from 'node:path'
import { DescribeFlowLogsCommand, DescribeVpcEndpointsCommand, EC2Client } from '@aws-sdk/client-ec2'
import { GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand, IAMClient, ListAttachedRolePoliciesCommand, ListRolePoliciesCommand } from '@aws-sdk/client-iam'
import { DescribeKeyCommand, GetKeyPolicyCommand, GetKeyRotationStatusCommand, KMSClient, ListKeysCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { DeleteBucketCommand, DeleteObjectCommand, GetBucketEncryptionCommand, HeadBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { fromIni } from '@aws-sdk/credential-providers'
import { permissionsTable, readPermissionBlocks, SERVICE_ROLES, type PolicyDocument } from '@kms-share/policy'
import { formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { aws, freePort, profileEnv, scratchDir, startTestLab } from './helpers.js'
import { startRedis } from './audit-helpers.js'
import { asReadmeDocument, CORE_STACKS, onInstance, resolvePseudo, ROOT, synthesize } from './infra-helpers.js'
import { runService, until } from './child-processes.js'

const started = Date.now()
const templates = scratchDir(t, 'kms-infra-synth-')
t.comment(`cdk synth: ${(synthesize(templates) / 1000).toFixed(1)} s`)

// The seed keeps what no deployment makes (people, the workshop's role, key and instance), and this lab deploys
// nothing at start (deploy: false): the CLI does it here. AWS's default policy on the workshop's key, since the
// seed's separation-of-duties policy names a role the stacks make (a lab that deploys at start puts it after).
const lab = await startTestLab(t, { tls: true, defaultKeyPolicy: true, deploy: false })
const home = join(lab.dataDir, 'cli-home')
mkdirSync(home)
const admin = { ...profileEnv(lab, 'admin', home), AWS_CA_BUNDLE: lab.caFile! }
// Deploying goes through the CLI, as a person does; checking what it made through SDK v3 over the same TLS (faster).
const sdk = { region: lab.region, endpoint: lab.endpoint, credentials: fromIni({ filepath: lab.credentialsFile, configFilepath: lab.configFile, profile: 'admin' }), forcePathStyle: true, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: readFileSync(lab.caFile!) }) } }
const iam = new IAMClient(sdk)
const kms = new KMSClient(sdk)
const s3 = new S3Client(sdk)
const ec2 = new EC2Client(sdk)
t.teardown(() => { for (const c of [iam, kms, s3, ec2]) c.destroy() })
const failed = (p: Promise<unknown>) => p.then(() => undefined, (err: Error) => err.name)
/** Each stack's outputs, read once after it is deployed. */
const outputs: Record<string, Record<string, string>> = {}
const outputsOf = (stack: string): Record<string, string> => outputs[stack] ?? {}
const failures = async (stack: string) => {
  const events = await aws(['cloudformation', 'describe-stack-events', '--stack-name', stack], admin)
  return (events.json?.StackEvents ?? []).filter((e: any) => /FAILED/.test(e.ResourceStatus)).map((e: any) => `${e.LogicalResourceId} ${e.ResourceType}: ${e.ResourceStatusReason}`)
}

t.test('aws cloudformation deploy of the core stacks, in order, completes', async (t) => {
  for (const stack of CORE_STACKS) {
    const at = Date.now()
    const r = await aws(['cloudformation', 'deploy', '--template-file', join(templates, `${stack}.template.json`), '--stack-name', stack, '--capabilities', 'CAPABILITY_NAMED_IAM'], admin)
    t.equal(r.code, 0, `${stack} deployed in ${Date.now() - at} ms`, { stderr: r.stderr, failures: r.code ? await failures(stack) : [] })
    if (r.code) return
  }
  const again = await aws(['cloudformation', 'deploy', '--template-file', join(templates, 'KmsShareData.template.json'), '--stack-name', 'KmsShareData', '--capabilities', 'CAPABILITY_NAMED_IAM'], admin)
  t.match(again.stdout, 'No changes to deploy. Stack KmsShareData is up to date', 'the same template again changes nothing')
  const described = await aws(['cloudformation', 'describe-stacks'], admin)
  for (const stack of described.json.Stacks as Array<{ StackName: string; StackStatus: string; Outputs?: Array<{ OutputKey: string; OutputValue: string }> }>) {
    t.equal(stack.StackStatus, 'CREATE_COMPLETE', stack.StackName)
    outputs[stack.StackName] = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]))
  }
  t.same(Object.keys(outputs).sort(), [...CORE_STACKS].sort())
})

t.test('what the stacks made is what the definition says', async (t) => {
  const data = outputsOf('KmsShareData')
  t.match(data, { KeyArn: /^arn:aws:kms:eu-west-1:111122223333:key\/[0-9a-f-]{36}$/, BucketName: 'kmsworkshop-111122223333' })
  t.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/kms-share' }))).KeyMetadata?.Arn, data.KeyArn, 'the alias names the created key')
  t.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: data.KeyArn }))).KeyRotationEnabled, true)
  // The deployer (admin) may not change the key policy without MFA: the policy's own deny, which is why the
  // template bypasses KMS's lockout check.
  const policy = (await kms.send(new GetKeyPolicyCommand({ KeyId: data.KeyArn, PolicyName: 'default' }))).Policy
  t.equal(await failed(kms.send(new PutKeyPolicyCommand({ KeyId: data.KeyArn, PolicyName: 'default', Policy: policy }))), 'AccessDeniedException')
  const encryption = await s3.send(new GetBucketEncryptionCommand({ Bucket: data.BucketName }))
  t.match(encryption.ServerSideEncryptionConfiguration?.Rules?.[0], { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: data.KeyArn }, BucketKeyEnabled: true })
  const network = outputsOf('KmsShareNetwork')
  const flowLogs = await ec2.send(new DescribeFlowLogsCommand({}))
  t.match(flowLogs.FlowLogs, [{ ResourceId: network.VpcId, TrafficType: 'REJECT', LogDestinationType: 's3', LogDestination: /^arn:aws:s3:::kmssharedata-shareaccesslogs[0-9a-z-]+\/vpc-flow-logs\/$/, FlowLogStatus: 'ACTIVE' }])
  const endpoint = await ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [network.KmsEndpointId] }))
  t.match(endpoint.VpcEndpoints?.[0], { ServiceName: 'com.amazonaws.eu-west-1.kms', PrivateDnsEnabled: true, VpcId: network.VpcId })
})

// README "Roles and their permissions" is generated from packages/policy/src/roles.ts (and held to it by the policy
// package's readme-permissions test); here the synthesized template and the roles the lab made from it must say the same.
t.test('the README\'s role permissions, the template\'s roles and the lab\'s deployed roles agree', async (t) => {
  const readme = readPermissionBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'))
  const values = { bucket: outputsOf('KmsShareData').BucketName, accountId: lab.accountId, region: lab.region }
  const identity = JSON.parse(readFileSync(join(templates, 'KmsShareIdentity.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: any }> }
  const roles = Object.values(identity.Resources).filter((r) => r.Type === 'AWS::IAM::Role').map((r) => resolvePseudo(r.Properties, { 'AWS::AccountId': values.accountId, 'AWS::Region': values.region, 'AWS::Partition': 'aws' }) as { RoleName: string; Policies: Array<{ PolicyName: string; PolicyDocument: any }> })
  t.same(roles.map((r) => r.RoleName).sort(), SERVICE_ROLES.map((r) => r.roleName).sort(), 'the template makes exactly the defined roles')
  for (const role of roles) {
    const listed = readme.get(role.RoleName)
    t.ok(listed, `the README lists ${role.RoleName}`)
    t.equal(role.Policies.length, 1, `${role.RoleName}: one inline policy`)
    const inTemplate = permissionsTable(asReadmeDocument(role.Policies[0].PolicyDocument, values) as PolicyDocument)
    t.equal(inTemplate, listed, `${role.RoleName}: the template grants what the README lists`)
    t.same((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role.RoleName }))).AttachedPolicies, [], `${role.RoleName}: no managed policy besides`)
    t.same((await iam.send(new ListRolePoliciesCommand({ RoleName: role.RoleName }))).PolicyNames, [role.Policies[0].PolicyName])
    const deployed = await iam.send(new GetRolePolicyCommand({ RoleName: role.RoleName, PolicyName: role.Policies[0].PolicyName }))
    const document = JSON.parse(decodeURIComponent(deployed.PolicyDocument!)) as Parameters<typeof asReadmeDocument>[0]
    t.equal(permissionsTable(asReadmeDocument(document, values) as PolicyDocument), listed, `${role.RoleName}: the lab's role holds what the README lists`)
  }
})

// ── the workshop's flow on the deployed instances ──

let groups: Record<string, string> | undefined
/** The instance an Auto Scaling group (by its output's name) launched, as the Auto Scaling API tells it. */
const groupInstance = async (output: string): Promise<string> => {
  if (!groups) {
    const r = await aws(['autoscaling', 'describe-auto-scaling-groups'], admin)
    groups = Object.fromEntries((r.json.AutoScalingGroups as Array<{ AutoScalingGroupName: string; Instances: Array<{ InstanceId: string }> }>).map((g) => [g.AutoScalingGroupName, g.Instances[0]?.InstanceId]))
  }
  return groups[outputsOf('KmsShareCompute')[output]]
}
const tokens = { upload: generateToken('upload'), download: generateToken('download'), keyadmin: generateToken('keyadmin') }
const authTokens = (name: keyof typeof tokens, scopes: string[]) => formatTokenEntry(`test-${name}`, scopes, hashToken(tokens[name]))
const healthy = (url: string) => async () => ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined)

t.test('the workshop: upload on the uploader\'s instance, download on the downloader\'s, keyadmin and the audit verdict', async (t) => {
  const { KeyArn: keyArn, BucketName: bucket } = outputsOf('KmsShareData')
  const [uploader, downloader, keyadmin, auditor] = await Promise.all(['UploadAutoScalingGroup', 'Download0AutoScalingGroup', 'KeyadminAutoScalingGroup', 'AuditAutoScalingGroup'].map(groupInstance))
  const redis = await startRedis(t)
  const common = { BUCKET: bucket, HOST: '127.0.0.1', LOG_LEVEL: 'warn' }
  const ports = { upload: await freePort(), download: await freePort(), keyadmin: await freePort() }
  const url = (name: keyof typeof ports) => `http://127.0.0.1:${ports[name]}`
  const services = {
    upload: runService(t, 'services/upload/dist/server.js', { ...onInstance(lab, uploader), ...common, PORT: String(ports.upload), KMS_KEY_ID: keyArn, BUCKET_KEY: 'true', AUTH_TOKENS: authTokens('upload', ['upload']), REDIS_URL: redis.urls.producer }),
    download: runService(t, 'services/download/dist/server.js', { ...onInstance(lab, downloader), ...common, PORT: String(ports.download), CACHE_DIR: scratchDir(t, 'kms-infra-cache-'), AUTH_TOKENS: authTokens('download', ['download']) }),
    keyadmin: runService(t, 'services/keyadmin/dist/server.js', { ...onInstance(lab, keyadmin), ...common, PORT: String(ports.keyadmin), AUTH_TOKENS: authTokens('keyadmin', ['keys:read', 'audit:read']), REDIS_URL: redis.urls.reader, AUDIT_VERIFY_KEY: redis.keys.verifyKey }),
    worker: runService(t, 'services/keyadmin/dist/worker.js', {
      ...onInstance(lab, auditor), BUCKET: bucket, LOG_LEVEL: 'info', REDIS_URL: redis.urls.worker, AUDIT_SIGNING_KEY: redis.keys.signingKey, AUDIT_KMS_KEY_ARN: keyArn, AUDIT_EXPECT_BUCKET_KEY: 'true',
      AUDIT_EVENT_LATENESS_SECONDS: '10', AUDIT_CLOCK_SKEW_SECONDS: '5', AUDIT_READERS_POLL_SECONDS: '1', AUDIT_BACKOFF_MS: '300',
    }),
  }
  for (const name of ['upload', 'download', 'keyadmin'] as const) await until(`${name} start`, healthy(url(name)), services[name])
  await until('the worker starts', async () => (/audit worker started/.test(services.worker.output()) ? true : undefined), services.worker)

  const body = `hello from the deployed definition ${Date.now()}\n`
  const put = await fetch(`${url('upload')}/files/deployed/SampleFile-KMS.txt`, { method: 'PUT', body, headers: { authorization: `Bearer ${tokens.upload}` }, signal: AbortSignal.timeout(30_000) })
  const putBody = await put.json() as Record<string, unknown>
  t.equal(put.status, 201, JSON.stringify(putBody))
  t.match(putBody, { kmsKeyArn: keyArn, bucketKeyEnabled: true, audit: 'queued' })

  const got = await fetch(`${url('download')}/files/deployed/SampleFile-KMS.txt`, { headers: { authorization: `Bearer ${tokens.download}` }, signal: AbortSignal.timeout(30_000) })
  t.equal(got.status, 200)
  t.equal(await got.text(), body, 'the downloader\'s instance reads it back')

  const policy = await fetch(`${url('keyadmin')}/keys/${encodeURIComponent(keyArn)}/policy`, { headers: { authorization: `Bearer ${tokens.keyadmin}` }, signal: AbortSignal.timeout(30_000) })
  const policyBody = await policy.json() as { policy: string }
  t.equal(policy.status, 200, JSON.stringify(policyBody))
  t.ok((JSON.parse(policyBody.policy) as { Statement: Array<{ Sid: string }> }).Statement.some((s) => s.Sid === 'KeyAdministrators'), 'keyadmin\'s instance reads the separation-of-duties policy the template put')

  const verdict = await until('the audit verdict', async () => {
    const r = await fetch(`${url('keyadmin')}/audit/objects/deployed/SampleFile-KMS.txt`, { headers: { authorization: `Bearer ${tokens.keyadmin}` }, signal: AbortSignal.timeout(10_000) })
    return r.status === 200 ? await r.json() as { verdict: string; reasons: string[]; signature: string; proves: string } : undefined
  }, services.worker, 45_000)
  t.equal(verdict.verdict, 'VERIFIED', verdict.reasons.join('; '))
  t.match(verdict, { signature: 'valid', proves: 'bucket' })
})

t.test('each deployed role has what its definition gives and no more', async (t) => {
  const { KeyArn: keyArn, BucketName: bucket } = outputsOf('KmsShareData')
  const [downloader, keyadmin] = await Promise.all(['Download0AutoScalingGroup', 'KeyadminAutoScalingGroup'].map(groupInstance))
  const file = join(scratchDir(t), 'intruder.txt')
  writeFileSync(file, 'not through the upload service\n')
  const [write, use] = await Promise.all([
    aws(['s3api', 'put-object', '--bucket', bucket, '--key', 'intruder.txt', '--body', file], { ...onInstance(lab, downloader), HOME: home }),
    aws(['kms', 'generate-data-key', '--key-id', keyArn, '--key-spec', 'AES_256'], { ...onInstance(lab, keyadmin), HOME: home }),
  ])
  t.match(write.stderr, /AccessDenied.*assumed-role\/kms-share-downloader\/i-0[0-9a-f]+ is not authorized to perform: s3:PutObject/)
  t.match(use.stderr, /AccessDeniedException.*kms-share-keyadmin.*kms:GenerateDataKey/, 'the key\'s administrator never uses it')
})

t.test('delete-stack, in reverse order, removes what the stacks made and keeps what they retain', async (t) => {
  const { KeyArn: keyArn, BucketName: bucket, AccessLogBucketName: logs } = outputsOf('KmsShareData')
  const { VpcId: vpc } = outputsOf('KmsShareNetwork')
  const instances = Object.keys(lab.ec2.state.instances).filter((id) => lab.ec2.state.instances[id].Tags['aws:autoscaling:groupName'])
  t.equal(instances.length, 4, 'one instance per service')
  for (const stack of [...CORE_STACKS].reverse()) {
    t.equal((await aws(['cloudformation', 'delete-stack', '--stack-name', stack], admin)).code, 0)
    const waited = await aws(['cloudformation', 'wait', 'stack-delete-complete', '--stack-name', stack], admin)
    t.equal(waited.code, 0, `${stack} deleted`, { stderr: waited.stderr, failures: waited.code ? await failures(stack) : [] })
  }
  t.same(instances.filter((id) => lab.ec2.state.instances[id] || lab.instances().some((i) => i.instanceId === id)), [], 'the instances are terminated, their metadata endpoints closed')
  t.notOk(lab.ec2.state.vpcs[vpc], 'the VPC is deleted')
  for (const role of SERVICE_ROLES) {
    t.equal(await failed(iam.send(new GetRoleCommand({ RoleName: role.roleName }))), 'NoSuchEntityException', `${role.roleName} is deleted`)
    t.equal(await failed(iam.send(new GetInstanceProfileCommand({ InstanceProfileName: role.roleName }))), 'NoSuchEntityException', 'and its instance profile')
  }
  t.same((await ec2.send(new DescribeFlowLogsCommand({}))).FlowLogs, [])
  // DeletionPolicy Retain: the key (every object needs it), its alias (deleting it needs MFA), both buckets.
  t.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.KeyState, 'Enabled', 'the key is retained')
  t.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/kms-share' }))).KeyMetadata?.Arn, keyArn, 'and its alias')
  for (const name of [bucket, logs]) t.equal(await failed(s3.send(new HeadBucketCommand({ Bucket: name }))), undefined, `bucket ${name} is retained`)
  t.equal(await failed(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'deployed/SampleFile-KMS.txt' }))), undefined, 'with its objects')
})

t.test('ExistingKeyArn (what pnpm start passes: the workshop\'s alias/ImportedCMK by ARN): no key or alias made, the bucket under that key', async (t) => {
  // A second deployment needs the retained bucket's name free (infra/README.md "Tear-down"): empty it and delete it.
  const { BucketName: bucket } = outputsOf('KmsShareData')
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'deployed/SampleFile-KMS.txt' }))
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }))
  const imported = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/ImportedCMK' }))).KeyMetadata!.Arn!
  const keysBefore = (await kms.send(new ListKeysCommand({}))).Keys?.length
  for (const [stack, extra] of [['KmsShareIdentity', []], ['KmsShareData', ['--parameter-overrides', `ExistingKeyArn=${imported}`]]] as const) {
    const r = await aws(['cloudformation', 'deploy', '--template-file', join(templates, `${stack}.template.json`), '--stack-name', stack, '--capabilities', 'CAPABILITY_NAMED_IAM', ...extra], admin)
    t.equal(r.code, 0, `${stack} deployed`, { stderr: r.stderr, failures: r.code ? await failures(stack) : [] })
  }
  const described = await aws(['cloudformation', 'describe-stacks', '--stack-name', 'KmsShareData'], admin)
  const out = Object.fromEntries((described.json.Stacks[0].Outputs as Array<{ OutputKey: string; OutputValue: string }>).map((o) => [o.OutputKey, o.OutputValue]))
  t.equal(out.KeyArn, imported, 'KeyArn is the given key')
  t.equal((await kms.send(new ListKeysCommand({}))).Keys?.length, keysBefore, 'no key created')
  const encryption = await s3.send(new GetBucketEncryptionCommand({ Bucket: out.BucketName }))
  t.equal(encryption.ServerSideEncryptionConfiguration?.Rules?.[0].ApplyServerSideEncryptionByDefault?.KMSMasterKeyID, imported)
  const resources = await aws(['cloudformation', 'list-stack-resources', '--stack-name', 'KmsShareData'], admin)
  t.notOk(resources.json.StackResourceSummaries.some((r: { ResourceType: string }) => r.ResourceType.startsWith('AWS::KMS::')), 'the key and alias resources are skipped by their condition')
  const invalid = await aws(['cloudformation', 'deploy', '--template-file', join(templates, 'KmsShareData.template.json'), '--stack-name', 'KmsShareData', '--parameter-overrides', 'ExistingKeyArn=alias/ImportedCMK'], admin)
  // The parameter's ConstraintDescription is CloudFormation's sentence for a value outside its AllowedPattern.
  t.match(invalid.stderr, /ValidationError.*Parameter 'ExistingKeyArn' a KMS key ARN \(arn:aws:kms:REGION:ACCOUNT:key\/ID\)/, 'an alias is refused by the parameter\'s pattern')
  t.comment(`synth, deploy, the workshop, delete and the existing key: ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
