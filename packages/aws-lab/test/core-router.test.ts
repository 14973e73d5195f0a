// The router: protocol parsing, unknown operations, AWS's denial sentences, and calls made through
// a VPC endpoint (the /vpce/<id>/ path prefix) reaching aws:SourceVpce and CloudTrail.
// https://docs.aws.amazon.com/kms/latest/developerguide/kms-vpc-endpoint.html#vpce-policy-condition
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { unflattenQuery } from '../src/core/protocols/query.js'
import { parseRawQuery } from '../src/core/sigv4.js'
import { DEFAULT_SEED_FILE } from '../src/app.js'
import { startTestLab } from './helpers/lab.js'

const VPCE = 'vpce-1xxxxxxxx1'
const seedDir = t.testdir({})
const seedFile = join(seedDir, 'seed.yaml')
writeFileSync(seedFile, readFileSync(DEFAULT_SEED_FILE, 'utf8').replace('vpcEndpoints: []', `vpcEndpoints:\n  - id: ${VPCE}\n    vpcId: vpc-0a1b2c3d4e5f60718`))
const lab = await startTestLab(t, { seedFile, dataDir: join(seedDir, 'lab') })

// After the lab's start: a subtest queued before it can end the file's root test while the start is awaited,
// and tap then removes the test folder under the starting lab.
t.test('query protocol: members, maps and nesting', async (t) => {
  const input = unflattenQuery(parseRawQuery('Action=X&Version=1&RoleName=r&Tags.member.1.Key=a&Tags.member.1.Value=b&Tags.member.2.Key=c&Ctx.entry.1.key=k&Ctx.entry.1.value=v&Plain=a%20b'))
  t.same(input, { RoleName: 'r', Tags: [{ Key: 'a', Value: 'b' }, { Key: 'c' }], Ctx: { k: 'v' }, Plain: 'a b' })
})

t.test('unknown operations get each protocol\'s error', async (t) => {
  const sts = new STSClient(lab.clientConfig('admin'))
  t.ok((await sts.send(new GetCallerIdentityCommand({}))).Arn)
  const json = await fetch(lab.endpoint, { method: 'POST', headers: { 'x-amz-target': 'NoSuchService_2020.Op', 'content-type': 'application/x-amz-json-1.1' }, body: '{}' })
  t.equal(json.status, 400)
  t.match(await json.json(), { __type: 'UnknownOperationException' })
  const query = await fetch(lab.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=Nope&Version=1999-01-01' })
  t.equal(query.status, 400)
  t.match(await query.text(), /<Code>InvalidAction<\/Code>/)
})

t.test('through the VPC endpoint the vpce-only key policy allows; outside it denies', async (t) => {
  const admin = new KMSClient(lab.clientConfig('admin'))
  const keyId = (await admin.send(new CreateKeyCommand({ Description: 'vpce' }))).KeyMetadata!.KeyId!
  const policy = readFileSync(join(import.meta.dirname, '..', '..', 'policy', 'test', 'fixtures', 'seed-policies', 'vpce-only-data-operations.json'), 'utf8').replaceAll('your-account-id', lab.accountId)
  await admin.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy }))

  const direct = new KMSClient(lab.clientConfig('workshop'))
  await t.rejects(direct.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })), {
    name: 'AccessDeniedException',
    message: `User: arn:aws:sts::111122223333:assumed-role/KMSWorkshop-InstaceInitRole/i-0workshop1a2b3c4d5 is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:111122223333:key/${keyId} with an explicit deny in a resource-based policy`,
  })
  const viaEndpoint = new KMSClient(lab.clientConfig('workshop', { endpoint: `${lab.endpoint}/vpce/${VPCE}` }))
  const key = await viaEndpoint.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }))
  t.equal(key.Plaintext!.length, 32)

  const trail = new CloudTrailClient(lab.clientConfig('auditor', { maxAttempts: 5 }))
  const events = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'GenerateDataKey' }], MaxResults: 2 }))
  const [ok, denied] = events.Events!.map((e) => JSON.parse(e.CloudTrailEvent!))
  t.equal(ok.vpcEndpointId, VPCE)
  t.notOk(ok.errorCode)
  t.equal(denied.errorCode, 'AccessDeniedException')
  t.notOk(denied.vpcEndpointId)

  const unknown = new KMSClient(lab.clientConfig('workshop', { endpoint: `${lab.endpoint}/vpce/vpce-0000000000000dead` }))
  await t.rejects(unknown.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })), { message: "The Vpc Endpoint Id 'vpce-0000000000000dead' does not exist", $metadata: { httpStatusCode: 400 } })
})

t.test('extra services go through the same authorisation; lab.invoke acts as a profile', async (t) => {
  const ec2 = {
    name: 'ec2',
    signingName: 'ec2',
    eventSource: 'ec2.amazonaws.com',
    accessDenied: { code: 'UnauthorizedOperation', status: 403 },
    operations: {
      DescribeVpcs: { readOnly: true, authorize: () => [{ action: 'ec2:DescribeVpcs', resource: '*' }], run: () => ({ Vpcs: [{ VpcId: 'vpc-1' }] }) },
    },
  }
  const extra = await startTestLab(t, { dataDir: join(seedDir, 'extra'), extraServices: [ec2] })
  t.same(await extra.invoke('ec2', 'DescribeVpcs', {}, 'admin'), { Vpcs: [{ VpcId: 'vpc-1' }] })
  await t.rejects(extra.invoke('ec2', 'DescribeVpcs', {}, 'uploader'), {
    code: 'UnauthorizedOperation',
    status: 403,
    message: 'User: arn:aws:sts::111122223333:assumed-role/kms-share-uploader/i-0upload7e5f4a3b21 is not authorized to perform: ec2:DescribeVpcs because no identity-based policy allows the ec2:DescribeVpcs action',
  })
  const recorded = extra.trail.all().filter((e) => e.eventName === 'DescribeVpcs')
  t.same(recorded.map((e) => e.errorCode ?? 'ok'), ['ok', 'UnauthorizedOperation'], 'EC2 calls are recorded too')
})
