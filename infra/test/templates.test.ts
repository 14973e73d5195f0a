// The synthesized templates (issue 23, item 4): what the deployment promises, checked on the CloudFormation
// the app writes — the roles and key policy evaluated with packages/policy's engine (the lab's), in the lab's
// account and region.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { Match } from 'aws-cdk-lib/assertions'
import { SERVICE_ROLES, evaluate, normalizePolicy, serviceRole, type Duty, type NamedPolicy, type PolicyDocument, type RequestContext } from '@kms-share/policy'
import { AWS_ONLY_STACKS, LAB_STACKS } from '../src/kms-share-app.js'
import { PLACEHOLDER_VALUES } from '../src/policies.js'
import { ACCOUNT, KEY_ARN, REGION, resolver, resourcesOfType, synthesize, type CfnTemplate } from './helpers/synth.js'

const fixtures = t.testdir()
const synth = synthesize(join(fixtures, 'default'))
const { json } = synth
const { resolve } = resolver(json)
const BUCKET = `kmsworkshop-${ACCOUNT}`
const S3_VIA = `s3.${REGION}.amazonaws.com`

/** Each role's identity policies: its inline policy, and every AWS::IAM::Policy attached to it by name. */
function identityPolicies(roleName: string): NamedPolicy[] {
  const role = resourcesOfType(json, 'AWS::IAM::Role').find((r) => resolve(r.template, r.resource.Properties.RoleName) === roleName)
  if (!role) throw new Error(`no role ${roleName}`)
  const props = resolve(role.template, role.resource.Properties)
  const inline: NamedPolicy[] = (props.Policies ?? []).map((p: any) => ({ name: p.PolicyName, document: normalizePolicy(p.PolicyDocument) }))
  const attached = resourcesOfType(json, 'AWS::IAM::Policy')
    .map((p) => resolve(p.template, p.resource.Properties))
    .filter((p) => (p.Roles ?? []).includes(roleName))
    .map((p): NamedPolicy => ({ name: p.PolicyName, document: normalizePolicy(p.PolicyDocument) }))
  return [...inline, ...attached]
}

function keyPolicy(): PolicyDocument {
  const [key] = resourcesOfType(json, 'AWS::KMS::Key')
  return normalizePolicy(resolve(key.template, key.resource.Properties.KeyPolicy))
}

// An existing key (ExistingKeyArn) has its owner's policy; at worst AWS's default, which leaves everything to IAM.
const DEFAULT_KEY_POLICY = normalizePolicy({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] })

function roleMay(duty: Duty, action: string, context: RequestContext, key: PolicyDocument): boolean {
  const roleName = serviceRole(duty).roleName
  const result = evaluate({
    request: {
      principal: { arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/i-0123456789abcdef0`, type: 'assumed-role', accountId: ACCOUNT, roleArn: `arn:aws:iam::${ACCOUNT}:role/${roleName}` },
      action,
      resource: KEY_ARN,
      context: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/${roleName}`, 'aws:PrincipalAccount': ACCOUNT, 'kms:CallerAccount': ACCOUNT, ...context },
    },
    identityPolicies: identityPolicies(roleName),
    resourcePolicy: { name: 'key-policy', document: key },
    resourceAccount: ACCOUNT,
    resourcePolicyRequired: true,
  })
  return result.decision === 'Allowed'
}

const DUTIES = SERVICE_ROLES.map((r) => r.duty)
const THROUGH_S3: RequestContext = { 'kms:ViaService': S3_VIA, 'kms:EncryptionContext:aws:s3:arn': `arn:aws:s3:::${BUCKET}/report.csv` }
const KEY_POLICIES: Array<[string, PolicyDocument]> = [['the separation-of-duties key policy', keyPolicy()], ['an existing key with the default key policy', DEFAULT_KEY_POLICY]]

t.test('no role can both GenerateDataKey and Decrypt outside kms:ViaService = s3.<region>.amazonaws.com', async (t) => {
  for (const [which, key] of KEY_POLICIES) {
    for (const duty of DUTIES) {
      const generates = ['kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext'].some((a) => roleMay(duty, a, {}, key) || roleMay(duty, a, THROUGH_S3, key))
      const decryptsDirectly = roleMay(duty, 'kms:Decrypt', {}, key) || roleMay(duty, 'kms:Decrypt', { 'kms:ViaService': `ec2.${REGION}.amazonaws.com` }, key)
      t.notOk(generates && decryptsDirectly, `${duty} under ${which}: GenerateDataKey ${generates}, Decrypt outside S3 ${decryptsDirectly}`)
    }
  }
  // The check above can fail: the uploader generates data keys and decrypts through S3, the downloader decrypts directly.
  const [, sod] = KEY_POLICIES[0]
  t.ok(roleMay('upload', 'kms:GenerateDataKey', THROUGH_S3, sod), 'the uploader generates data keys through S3')
  t.ok(roleMay('upload', 'kms:Decrypt', THROUGH_S3, sod), 'the uploader decrypts through S3 (multipart completion)')
  t.notOk(roleMay('upload', 'kms:Decrypt', {}, DEFAULT_KEY_POLICY), 'the uploader cannot decrypt directly even when the key leaves it to IAM')
  t.ok(roleMay('download', 'kms:Decrypt', THROUGH_S3, sod), 'the downloader decrypts through S3')
  t.notOk(roleMay('download', 'kms:GenerateDataKey', THROUGH_S3, DEFAULT_KEY_POLICY), 'the downloader never generates data keys')
})

const ADMIN_ACTIONS = ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:CreateGrant', 'kms:CreateAlias', 'kms:UpdateKeyDescription', 'kms:EnableKeyRotation', 'kms:DeleteImportedKeyMaterial', 'kms:TagResource']
const USE_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:GenerateDataKeyPair', 'kms:CreateGrant']

t.test('no service role administers the key', async (t) => {
  for (const [which, key] of KEY_POLICIES) {
    for (const duty of ['upload', 'download', 'audit'] as const) {
      for (const action of ADMIN_ACTIONS) t.notOk(roleMay(duty, action, {}, key), `${duty} may not ${action} (${which})`)
    }
  }
  t.ok(roleMay('keyadmin', 'kms:EnableKeyRotation', {}, KEY_POLICIES[0][1]), 'keyadmin may administer it (so the check can fail)')
})

t.test("the key's sensitive operations: only the MFA users (keyMfaUsers), only with MFA", async (t) => {
  const key = keyPolicy()
  const asUserA = (action: string, context: RequestContext) => evaluate({
    request: {
      principal: { arn: `arn:aws:iam::${ACCOUNT}:user/userA`, type: 'user', accountId: ACCOUNT },
      action, resource: KEY_ARN, context: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:user/userA`, 'aws:PrincipalAccount': ACCOUNT, ...context },
    },
    identityPolicies: [],
    resourcePolicy: { name: 'key-policy', document: key },
    resourceAccount: ACCOUNT,
    resourcePolicyRequired: true,
  }).decision
  for (const action of ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:CreateGrant']) {
    t.equal(asUserA(action, { 'aws:MultiFactorAuthPresent': 'true', 'aws:MultiFactorAuthAge': '60' }), 'Allowed', `userA with MFA: ${action}`)
    t.equal(asUserA(action, {}), 'ExplicitlyDenied', `userA without MFA: ${action}`)
    t.notOk(roleMay('keyadmin', action, {}, key), `keyadmin's role: ${action}`)
  }
  t.equal(asUserA('kms:Decrypt', { 'aws:MultiFactorAuthPresent': 'true', 'kms:ViaService': S3_VIA }), 'ExplicitlyDenied', 'the MFA administrator never uses the key either')
})

t.test("keyadmin's role never uses the key", async (t) => {
  for (const [which, key] of KEY_POLICIES) {
    for (const action of USE_ACTIONS) {
      for (const context of [{}, THROUGH_S3]) t.notOk(roleMay('keyadmin', action, context, key), `keyadmin may not ${action}${'kms:ViaService' in context ? ' through S3' : ''} (${which})`)
    }
  }
})

// The same statements, whatever order CloudFormation's JSON lists their actions and resources in.
const sorted = (doc: PolicyDocument) => ({ ...doc, Statement: doc.Statement.map((st) => Object.fromEntries(Object.entries(st).map(([k, v]) => [k, Array.isArray(v) ? [...v].sort() : v]))) })

t.test("each role's identity policy is exactly its definition's, and only EC2 may assume it", async (t) => {
  const names = { accountId: ACCOUNT, region: REGION, partition: 'aws', bucket: BUCKET }
  for (const definition of SERVICE_ROLES) {
    const [inline] = identityPolicies(definition.roleName)
    t.equal(inline.name, definition.policyName)
    t.same(sorted(inline.document), sorted(normalizePolicy(definition.document(names))), `${definition.roleName}: the definition's statements, no more`)
    const role = resourcesOfType(json, 'AWS::IAM::Role').find((r) => resolve(r.template, r.resource.Properties.RoleName) === definition.roleName)!
    t.same(role.resource.Properties.AssumeRolePolicyDocument.Statement, [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' } }], `${definition.roleName} trusts EC2 only`)
    t.equal(role.resource.Properties.ManagedPolicyArns, undefined, 'no managed policies')
    synth.templates.KmsShareIdentity.hasResourceProperties('AWS::IAM::InstanceProfile', { InstanceProfileName: definition.roleName })
  }
})

t.test('the bucket refuses plain HTTP, and puts under another encryption', async (t) => {
  const [policyResource] = resourcesOfType(json, 'AWS::S3::BucketPolicy').filter((p) => p.stack === 'KmsShareData' && JSON.stringify(p.resource.Properties.Bucket).includes('ShareBucket'))
  const bucketPolicy = normalizePolicy(resolve(policyResource.template, policyResource.resource.Properties.PolicyDocument))
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html (enforce encryption of data in transit)
  const s3Request = (action: string, resource: string, context: RequestContext) => evaluate({
    request: {
      principal: { arn: `arn:aws:sts::${ACCOUNT}:assumed-role/kms-share-downloader/i-1`, type: 'assumed-role', accountId: ACCOUNT, roleArn: `arn:aws:iam::${ACCOUNT}:role/kms-share-downloader` },
      action, resource, context: { 'aws:SecureTransport': 'true', ...context },
    },
    identityPolicies: [{ name: 'all', document: normalizePolicy({ Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }) }],
    resourcePolicy: { name: 'bucket-policy', document: bucketPolicy },
    resourceAccount: ACCOUNT,
  }).decision
  const object = `arn:aws:s3:::${BUCKET}/report.csv`
  t.equal(s3Request('s3:GetObject', object, { 'aws:SecureTransport': 'false' }), 'ExplicitlyDenied', 'GetObject over http')
  t.equal(s3Request('s3:ListBucket', `arn:aws:s3:::${BUCKET}`, { 'aws:SecureTransport': 'false' }), 'ExplicitlyDenied', 'ListBucket over http')
  t.equal(s3Request('s3:GetObject', object, {}), 'Allowed', 'GetObject over https')
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms
  const sse = (headers: RequestContext) => s3Request('s3:PutObject', object, headers)
  t.equal(sse({ 's3:x-amz-server-side-encryption': 'aws:kms', 's3:x-amz-server-side-encryption-aws-kms-key-id': KEY_ARN }), 'Allowed', 'SSE-KMS under the key')
  t.equal(sse({}), 'Allowed', 'no encryption headers: the default (SSE-KMS under the key) applies; UploadPart sends none')
  t.equal(sse({ 's3:x-amz-server-side-encryption': 'AES256' }), 'ExplicitlyDenied', 'SSE-S3')
  t.equal(sse({ 's3:x-amz-server-side-encryption': 'aws:kms' }), 'ExplicitlyDenied', 'aws:kms without the key id (aws/s3)')
  t.equal(sse({ 's3:x-amz-server-side-encryption': 'aws:kms', 's3:x-amz-server-side-encryption-aws-kms-key-id': KEY_ARN.replace('1234abcd', '9999abcd') }), 'ExplicitlyDenied', 'another key')
  t.equal(sse({ 's3:x-amz-server-side-encryption-customer-algorithm': 'AES256' }), 'ExplicitlyDenied', 'a customer-provided key')

  const bucket = synth.templates.KmsShareData
  bucket.hasResource('AWS::S3::Bucket', {
    DeletionPolicy: 'Retain',
    Properties: Match.objectLike({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 }, Status: 'Enabled' })]) },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'share/' }),
    }),
  })
  const shareBucket = resourcesOfType(json, 'AWS::S3::Bucket').find((b) => b.id.startsWith('ShareBucket'))!
  t.equal(resolve(shareBucket.template, shareBucket.resource.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID), KEY_ARN, 'encrypted under the key')
})

t.test('the key: symmetric, rotated, retained, its alias; or an existing key by ARN', async (t) => {
  synth.templates.KmsShareData.hasResource('AWS::KMS::Key', {
    DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain', Condition: 'CreateKey',
    // The policy denies the deployer PutKeyPolicy without MFA, so KMS's lockout check must be bypassed, as AWS documents for that intent.
    // https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html#KMS-CreateKey-request-BypassPolicyLockoutSafetyCheck
    Properties: Match.objectLike({ EnableKeyRotation: true, KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', PendingWindowInDays: 30, BypassPolicyLockoutSafetyCheck: true }),
  })
  // DeleteAlias is a sensitive operation (MFA only): CloudFormation, as the deployer, could not delete it, so it stays with the key.
  synth.templates.KmsShareData.hasResource('AWS::KMS::Alias', { DeletionPolicy: 'Retain', Condition: 'CreateKey', Properties: { AliasName: 'alias/kms-share', TargetKeyId: Match.anyValue() } })
  t.equal(synth.stacks.data.terminationProtection, true, 'the stateful stack is termination-protected')
  const existing = 'arn:aws:kms:eu-west-1:111122223333:key/0000aaaa-1111-2222-3333-444455556666'
  const withExisting = resolver(json, { ExistingKeyArn: existing })
  const data = json.KmsShareData
  t.notOk(withExisting.condition(data, 'CreateKey'), 'ExistingKeyArn: no key is created')
  const exportValue = (r: ReturnType<typeof resolver>) => r.resolve(data, data.Outputs!.KeyArn.Value)
  t.equal(exportValue(withExisting), existing, 'and every consumer gets the existing key')
  t.equal(exportValue(resolver(json)), KEY_ARN)
  t.match(String(data.Parameters!.ExistingKeyArn.Default), '', 'the default creates the key')
})

function launchTemplates(all: Record<string, CfnTemplate>) {
  return resourcesOfType(all, 'AWS::EC2::LaunchTemplate')
}

t.test('every instance requires IMDSv2 (hop limit 2 for the container)', async (t) => {
  // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html
  t.same(resourcesOfType(json, 'AWS::EC2::Instance'), [], 'no instances outside Auto Scaling groups')
  t.same(resourcesOfType(json, 'AWS::AutoScaling::LaunchConfiguration'), [], 'no launch configurations')
  const templates = launchTemplates(json)
  t.equal(templates.length, 4, 'one per service')
  for (const { id, resource } of templates) {
    t.same(resource.Properties.LaunchTemplateData.MetadataOptions, { HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2, HttpTokens: 'required' }, id)
    t.ok(resource.Properties.LaunchTemplateData.BlockDeviceMappings.every((b: any) => b.Ebs.Encrypted === true), `${id}: encrypted volumes`)
  }
  for (const { id, resource } of resourcesOfType(json, 'AWS::AutoScaling::AutoScalingGroup')) {
    t.ok(resource.Properties.LaunchTemplate, `${id} launches from a launch template`)
  }
})

t.test("each instance's boot script is valid bash and runs the service's image with its settings", async (t) => {
  for (const { id, template, resource } of launchTemplates(json)) {
    const script = String(resolve(template, resource.Properties.LaunchTemplateData.UserData['Fn::Base64']))
    const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' })
    t.equal(check.status, 0, `${id}: bash -n`, { stderr: check.stderr })
    t.match(script, /^#!\/bin\/bash\nset -euo pipefail\n/, `${id}: stops at the first failure`)
    t.match(script, /docker run -d --name kms-share-(upload|download|keyadmin|audit) --restart unless-stopped --env-file \/etc\/kms-share\/\w+\.env/, `${id}: runs its container`)
    t.match(script, `BUCKET='${BUCKET}'`, `${id}: the bucket`)
  }
  const upload = launchTemplates(json).find((l) => l.id.startsWith('Upload'))!
  t.match(String(resolve(upload.template, upload.resource.Properties.LaunchTemplateData.UserData['Fn::Base64'])), `KMS_KEY_ID='${KEY_ARN}'`, 'upload sends the key ARN, which the bucket policy compares')
})

t.test('each service runs as its own instance profile, its own Auto Scaling group, its own security group', async (t) => {
  const { resolve: r } = resolver(json)
  const profiles = launchTemplates(json).map(({ template, resource }) => r(template, resource.Properties.LaunchTemplateData.IamInstanceProfile.Arn))
  t.same(profiles.sort(), SERVICE_ROLES.map((d) => `arn:aws:iam::${ACCOUNT}:instance-profile/${d.roleName}`).sort())
  const groups = launchTemplates(json).map(({ resource }) => JSON.stringify(resource.Properties.LaunchTemplateData.SecurityGroupIds))
  t.equal(new Set(groups).size, 4, 'four different security groups')
  const asgs = resourcesOfType(json, 'AWS::AutoScaling::AutoScalingGroup')
  t.equal(asgs.length, 4)
  for (const { id, resource } of asgs) t.equal(resource.Properties.MinSize, '1', `${id}: one instance by default`)
  // The lab names an instance by its Name tag (endpoints.json, LAB_IMDS_BIND/OWNERS key on it); ids change per deployment.
  const names = asgs.map(({ resource }) => (resource.Properties.Tags as Array<{ Key: string; Value: string; PropagateAtLaunch: boolean }>).find((tag) => tag.Key === 'Name'))
  t.same(names.map((n) => n && { Value: n.Value, PropagateAtLaunch: n.PropagateAtLaunch }).sort((a, b) => String(a?.Value).localeCompare(String(b?.Value))),
    ['auditor', 'downloader', 'keyadmin', 'uploader'].map((Value) => ({ Value, PropagateAtLaunch: true })), 'each group names its instances after the service, at launch')
})

t.test('security groups: services out on 443 only (and Redis where they use it), in from the load balancer only', async (t) => {
  const network = json.KmsShareNetwork
  const serviceGroups = Object.entries(network.Resources).filter(([id, res]) => res.Type === 'AWS::EC2::SecurityGroup' && /^Network(Upload|Download|Keyadmin|Audit)Group/.test(id))
  t.equal(serviceGroups.length, 4)
  for (const [id, group] of serviceGroups) {
    t.same(group.Properties.SecurityGroupEgress, [{ CidrIp: '0.0.0.0/0', Description: Match.anyValue() as any, FromPort: 443, IpProtocol: 'tcp', ToPort: 443 }].map((e) => ({ ...e, Description: group.Properties.SecurityGroupEgress[0].Description })), `${id}: only 443 out`)
    t.equal(group.Properties.SecurityGroupIngress, undefined, `${id}: nothing in from the network stack`)
  }
  const edge = json.KmsShareEdge
  const ingress = Object.values(edge.Resources).filter((res) => res.Type === 'AWS::EC2::SecurityGroupIngress')
  const toServices = ingress.filter((res) => /to \w+|from the load balancer/.test(String(res.Properties.Description)) && String(res.Properties.Description).includes('load balancer'))
  t.same(toServices.map((res) => [res.Properties.FromPort, res.Properties.ToPort]).sort(), [[3001, 3001], [3002, 3002], [3003, 3003]], 'the load balancer reaches each web service on its port only')
  const redisEgress = Object.values(edge.Resources).filter((res) => res.Type === 'AWS::EC2::SecurityGroupEgress' && res.Properties.FromPort === 6379)
  t.equal(redisEgress.length, 3, 'upload, keyadmin and the audit worker reach Redis; download does not')
  t.ok(redisEgress.every((res) => res.Properties.FromPort === 6379 && !String(res.Properties.Description).startsWith('download')))
  // Page sessions are held in the memory of the instance that made them: every web target group sticks a
  // browser to one instance for the session's lifetime (8 h).
  // https://docs.aws.amazon.com/elasticloadbalancing/latest/application/sticky-sessions.html
  const targetGroups = resourcesOfType({ KmsShareEdge: edge }, 'AWS::ElasticLoadBalancingV2::TargetGroup')
  t.equal(targetGroups.length, 3, 'upload, download-0 and keyadmin')
  for (const { id, resource } of targetGroups) {
    const attributes = Object.fromEntries((resource.Properties.TargetGroupAttributes as Array<{ Key: string; Value: string }>).map((a) => [a.Key, a.Value]))
    t.match(attributes, { 'stickiness.enabled': 'true', 'stickiness.type': 'lb_cookie', 'stickiness.lb_cookie.duration_seconds': String(8 * 3600) }, `${id}: sticky for a page session's lifetime`)
  }
  synth.templates.KmsShareNetwork.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Interface', PrivateDnsEnabled: true, ServiceName: Match.anyValue() })
  synth.templates.KmsShareNetwork.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' })
})

t.test('the lab deploys four stacks whole; only the edge stack holds what only AWS provides, and nothing depends on it', async (t) => {
  const labTypes = /^AWS::(IAM::(Role|InstanceProfile|Policy)|KMS::(Key|Alias)|S3::(Bucket|BucketPolicy)|EC2::\w+|AutoScaling::AutoScalingGroup|SSM::Parameter)$/
  for (const name of LAB_STACKS) {
    const types = [...new Set(Object.values(json[name].Resources).map((r) => r.Type))]
    t.same(types.filter((type) => !labTypes.test(type)), [], `${name}: only types the lab emulates (${types.join(', ')})`)
    const text = JSON.stringify(json[name])
    t.notMatch(text, /KmsShareEdge/, `${name} imports nothing from the edge stack`)
  }
  const edgeTypes = new Set(Object.values(json[AWS_ONLY_STACKS[0]].Resources).map((r) => r.Type))
  for (const type of ['AWS::ElasticLoadBalancingV2::LoadBalancer', 'AWS::ElastiCache::ReplicationGroup', 'AWS::SecretsManager::Secret']) t.ok(edgeTypes.has(type), `the edge stack has ${type}`)
  for (const name of LAB_STACKS) {
    const deps = synth.stacks[name.replace('KmsShare', '').toLowerCase() as keyof typeof synth.stacks].dependencies.map((s) => s.stackName)
    t.ok(deps.every((d) => ([...LAB_STACKS, ...AWS_ONLY_STACKS] as readonly string[]).includes(d)), `${name} depends on ${deps.join(', ') || 'nothing'}`)
  }
  // Compute orders after the edge stack (LoadBalancer=attached reads what it published) but references nothing of it.
  const compute = resolver(json).resolve(json.KmsShareCompute, json.KmsShareCompute.Resources)
  t.notMatch(JSON.stringify(compute), /\{\{resolve:ssm/, 'with the default LoadBalancer=none no target group is read')
  const attached = resolver(json, { LoadBalancer: 'attached' }).resolve(json.KmsShareCompute, json.KmsShareCompute.Resources)
  const joined = Object.values(attached).filter((r: any) => r.Type === 'AWS::AutoScaling::AutoScalingGroup').map((r: any) => r.Properties.TargetGroupARNs)
  t.same(joined.filter(Boolean).sort(), [['{{resolve:ssm:/kms-share/edge/target-group/download-0}}'], ['{{resolve:ssm:/kms-share/edge/target-group/keyadmin}}'], ['{{resolve:ssm:/kms-share/edge/target-group/upload}}']], 'attached: each web service joins its published target group')
  const published = resourcesOfType(json, 'AWS::SSM::Parameter').map((p) => p.resource.Properties.Name)
  for (const name of ['upload', 'download-0', 'keyadmin']) t.ok(published.includes(`/kms-share/edge/target-group/${name}`), `the edge stack publishes ${name}'s target group`)
})

t.test('secrets never appear in a template: generated in Secrets Manager, read by the instance at boot', async (t) => {
  const all = JSON.stringify(json)
  for (const placeholder of PLACEHOLDER_VALUES) t.notMatch(all, placeholder, `no template keeps ${placeholder}`)
  for (const { resource } of launchTemplates(json)) {
    const userData = JSON.stringify(resource.Properties.LaunchTemplateData.UserData)
    t.notMatch(userData, /SESSION_SECRET=|AUTH_TOKENS=|resolve:secretsmanager/, 'no secret value in user data (instances read them at boot)')
  }
  synth.templates.KmsShareEdge.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
    TransitEncryptionEnabled: true, AtRestEncryptionEnabled: true,
    AuthToken: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('^\\{\\{resolve:secretsmanager:')])]) }),
  })
  // The sign-in stack's copies of Cognito's client secrets are checked in sign-in.test.ts.
  const secrets = resourcesOfType(json, 'AWS::SecretsManager::Secret').filter((s) => s.stack !== 'KmsShareSignIn').map((s) => s.resource.Properties)
  t.same(secrets.map((s) => s.Name).sort(), ['kms-share/download', 'kms-share/keyadmin', 'kms-share/redis', 'kms-share/upload'])
  t.ok(secrets.every((s) => s.GenerateSecretString && s.SecretString === undefined), 'generated by Secrets Manager, never written in the template')
})

t.test('every template deploys inline, without a bootstrap bucket', async (t) => {
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html (TemplateBody: 51,200 bytes)
  for (const [name, template] of Object.entries(json)) t.ok(JSON.stringify(template, null, 1).length < 51_200, `${name}: ${JSON.stringify(template, null, 1).length} bytes`)
  t.same(resourcesOfType(json, 'AWS::Lambda::Function'), [], 'no functions (nothing to upload as an asset)')
  for (const template of Object.values(json)) t.equal((template as any).Rules?.CheckBootstrapVersion, undefined, 'no bootstrap version check')
})

// One more synthesis, for the settings' other paths: two download shards in an existing VPC.
let variantSynth: ReturnType<typeof synthesize> | undefined
const variant = () => (variantSynth ??= synthesize(join(fixtures, 'variant'), {
  downloadShards: 2,
  vpcId: 'vpc-0123456789abcdef0', vpcCidr: '10.0.0.0/16', availabilityZones: 'eu-west-1a,eu-west-1b',
  privateSubnetIds: 'subnet-0000000000000000a,subnet-0000000000000000b', publicSubnetIds: 'subnet-0000000000000000c,subnet-0000000000000000d',
  privateRouteTableIds: 'rtb-0000000000000000a,rtb-0000000000000000b',
}))

t.test('download shards: each its own group and target group, objects routed by their key', async (t) => {
  const sharded = variant()
  const rules = resourcesOfType(sharded.json, 'AWS::ElasticLoadBalancingV2::ListenerRule')
  const regex = rules.flatMap((r) => r.resource.Properties.Conditions).filter((c: any) => c.Field === 'path-pattern')
  t.same(regex.map((c: any) => c.PathPatternConfig.RegexValues), [['^/files/[13579bdfhjlnprtvxzBDFHJLNPRTVXZ]']], 'shard 1 owns the keys that start with these; shard 0 the rest')
  t.equal(resourcesOfType(sharded.json, 'AWS::AutoScaling::AutoScalingGroup').length, 5)
  const downloads = resourcesOfType(sharded.json, 'AWS::AutoScaling::AutoScalingGroup').filter((g) => g.id.startsWith('Download'))
  t.ok(downloads.every((g) => g.resource.Properties.MaxSize === '1'), 'a shard never grows beyond the instance whose cache it is')
  t.same(downloads.map((g) => g.resource.Properties.Tags.find((tag: { Key: string }) => tag.Key === 'Name')?.Value).sort(), ['downloader', 'downloader-1'], 'shard n > 0 names its instance with its number')
})

t.test('an existing VPC by id: nothing created but the endpoints and security groups, nothing looked up', async (t) => {
  const existing = variant()
  existing.templates.KmsShareNetwork.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', RouteTableIds: ['rtb-0000000000000000a', 'rtb-0000000000000000b'] })
  const types = new Set(Object.values(existing.json.KmsShareNetwork.Resources).map((r) => r.Type))
  for (const type of ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EC2::NatGateway', 'AWS::EC2::InternetGateway']) t.notOk(types.has(type), `no ${type}`)
  existing.templates.KmsShareNetwork.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcId: 'vpc-0123456789abcdef0', VpcEndpointType: 'Interface', PrivateDnsEnabled: true, SubnetIds: ['subnet-0000000000000000a', 'subnet-0000000000000000b'] })
  const groups = resourcesOfType(existing.json, 'AWS::AutoScaling::AutoScalingGroup').map((g) => g.resource.Properties.VPCZoneIdentifier)
  t.ok(groups.every((ids) => JSON.stringify(ids) === JSON.stringify(['subnet-0000000000000000a', 'subnet-0000000000000000b'])), 'instances in the given private subnets')
  existing.templates.KmsShareEdge.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Subnets: ['subnet-0000000000000000c', 'subnet-0000000000000000d'] })
})
