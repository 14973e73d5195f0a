// Issue 22, row 3: names that are Object.prototype's own (`constructor`, `__proto__`, `toString` …)
// sent to every route of every package that walks a map with what the caller gave — the lab's
// instance metadata, its operation dispatch (KMS/CloudTrail targets, query actions), its KMS keys,
// aliases and grants, S3 buckets, keys and uploads, IAM entities, EC2 ids and filters, SigV4 access
// key ids and policy operators; upload's and download's files and cache entries; keyadmin's keys,
// aliases, templates, VPC endpoints, simulation and validation. Each must answer as for any unknown
// name (AWS's not-found/invalid errors, 404/400 problems), never a 500, and every process lives on.
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html (IMDS 404s)
// https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html#API_DescribeKey_Errors (NotFoundException)
// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (NoSuchBucket, NoSuchKey, NoSuchUpload)
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html#API_GetRole_Errors (NoSuchEntity)
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html (InvalidInstanceID.*, InvalidParameterValue, InvalidAction)
import t from 'tap'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import { DescribeInstancesCommand, DescribeSubnetsCommand, DescribeVpcEndpointsCommand, EC2Client } from '@aws-sdk/client-ec2'
import { GetInstanceProfileCommand, GetPolicyCommand, GetRoleCommand, GetUserCommand, IAMClient, ListRolePoliciesCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam'
import { DescribeKeyCommand, GetKeyPolicyCommand, KMSClient, PutKeyPolicyCommand, RevokeGrantCommand } from '@aws-sdk/client-kms'
import { GetObjectCommand, HeadBucketCommand, ListPartsCommand, S3Client } from '@aws-sdk/client-s3'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp as buildUploadApp, loadUploadConfig } from '@kms-share/upload'
import { startRedis } from './audit-helpers.js'
import { awsEnv, BUCKET, instance, KEY_ALIAS, labDeployment, startDownload, startKeyadminInstance, startTestLab } from './helpers.js'

const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'prototype', 'valueOf']

// AWS's default key policy on alias/ImportedCMK: the admin puts key policies below without MFA (the stack's policy would refuse it).
const lab = await startTestLab(t, { defaultKeyPolicy: true })
const clientConfig = { region: lab.region, endpoint: lab.endpoint, credentials: lab.profiles().admin, maxAttempts: 1 }
const kms = new KMSClient(clientConfig)
const s3 = new S3Client({ ...clientConfig, forcePathStyle: true })
const iam = new IAMClient(clientConfig)
const sts = new STSClient(clientConfig)
const ec2 = new EC2Client(clientConfig)
// LookupEvents allows two calls a second, as in AWS: the SDK's retries wait out the throttling.
const cloudtrail = new CloudTrailClient({ ...clientConfig, maxAttempts: 6 })
t.teardown(() => { for (const c of [kms, s3, iam, sts, ec2, cloudtrail]) c.destroy() })
const keyId = (await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))).KeyMetadata!.KeyId!
const keyPolicy = (await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!

// The services as deployed: tokens required (the scopes each route needs).
const tokens = { upload: generateToken(), download: generateToken(), keyadmin: generateToken() }
const upload = await buildUploadApp(loadUploadConfig({
  ...awsEnv(lab, 'uploader'), BUCKET, KMS_KEY_ID: labDeployment(lab).keyArn, PORT: '0', LOG_LEVEL: 'silent',
  AUTH_TOKENS: formatTokenEntry('t', ['upload'], hashToken(tokens.upload)),
}))
t.teardown(() => upload.close())
await upload.listen({ port: 0, host: '127.0.0.1' })
const uploadUrl = `http://127.0.0.1:${(upload.server.address() as { port: number }).port}`
const download = await startDownload(t, lab, 'downloader', { AUTH_TOKENS: formatTokenEntry('t', ['download', 'cache:admin'], hashToken(tokens.download)), LOG_LEVEL: 'warn' })
// With Redis, so the audit routes (verdicts and readers per object key) are there too.
const redis = await startRedis(t)
const keyadmin = await startKeyadminInstance(t, lab, { REDIS_URL: redis.urls.reader, AUDIT_VERIFY_KEY: redis.keys.verifyKey, AUTH_TOKENS: formatTokenEntry('t', ['keys:read', 'keys:admin', 'audit:read'], hashToken(tokens.keyadmin)) })

interface Answer {
  status: number
  /** AWS's error code, or the problem's code. */
  code?: string
}

/** What an AWS SDK call answered: its HTTP status and AWS error code. */
async function sdk(client: { send(command: any): Promise<unknown> }, command: unknown): Promise<Answer> {
  try {
    await client.send(command)
    return { status: 200 }
  } catch (err) {
    const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } }
    return { status: e.$metadata?.httpStatusCode ?? 0, code: e.Code ?? e.name }
  }
}

/** The same command with its operation renamed on the wire (X-Amz-Target, or the query's Action). */
function renamed<C extends { middlewareStack: { add(fn: any, options: object): void } }>(command: C, operation: string): C {
  command.middlewareStack.add((next: (args: any) => Promise<unknown>) => async (args: { request: unknown }) => {
    const request = args.request as { headers: Record<string, string>; body?: unknown }
    const target = request.headers['x-amz-target']
    if (target) request.headers['x-amz-target'] = `${target.split('.')[0]}.${operation}`
    if (typeof request.body === 'string') {
      request.body = request.body.replace(/^Action=[^&]*/, `Action=${encodeURIComponent(operation)}`)
      request.headers['content-length'] = String(Buffer.byteLength(request.body as string))
    }
    return next(args)
  }, { step: 'build', name: 'renameOperation' })
  return command
}

async function http(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) })
  const text = await res.text()
  let code: string | undefined
  if (text && (res.headers.get('content-type') ?? '').includes('json')) code = (JSON.parse(text) as { code?: string }).code
  return { status: res.status, code }
}

const workshop = instance(lab, 'workshop')
const imdsToken = await (await fetch(new URL('latest/api/token', workshop.metadataEndpoint), { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).text()
const imds = (path: string) => http(new URL(path, workshop.metadataEndpoint).href, { headers: { 'x-aws-ec2-metadata-token': imdsToken } })
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const policyWithOperator = (name: string) => JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${lab.accountId}:root` }, Action: 'kms:*', Resource: '*', Condition: { [name]: { 'aws:PrincipalAccount': lab.accountId } } }],
})
const enc = encodeURIComponent

/** route → what it answers for `name`, and the statuses (and codes) any unknown name gets there. */
const ROUTES: Array<{ route: string; call: (name: string) => Promise<Answer>; expect: number[]; codes?: string[] }> = [
  // The lab's instance metadata (the issue's crash: `segment in node`).
  { route: 'IMDS /latest/meta-data/NAME', call: (n) => imds(`latest/meta-data/${n}`), expect: [404] },
  { route: 'IMDS /latest/NAME', call: (n) => imds(`latest/${n}`), expect: [404] },
  { route: 'IMDS /NAME', call: (n) => imds(n), expect: [404] },
  { route: 'IMDS …/iam/security-credentials/NAME', call: (n) => imds(`latest/meta-data/iam/security-credentials/${n}`), expect: [404] },
  { route: 'IMDS …/network/interfaces/macs/NAME/vpc-id', call: (n) => imds(`latest/meta-data/network/interfaces/macs/${n}/vpc-id`), expect: [404] },
  { route: 'IMDS /latest/dynamic/instance-identity/NAME', call: (n) => imds(`latest/dynamic/instance-identity/${n}`), expect: [404] },
  // The lab's APIs.
  { route: 'KMS X-Amz-Target TrentService.NAME', call: (n) => sdk(kms, renamed(new DescribeKeyCommand({ KeyId: keyId }), n)), expect: [400], codes: ['UnknownOperationException'] },
  { route: 'KMS DescribeKey KeyId=NAME', call: (n) => sdk(kms, new DescribeKeyCommand({ KeyId: n })), expect: [400], codes: ['NotFoundException'] },
  { route: 'KMS DescribeKey KeyId=alias/NAME', call: (n) => sdk(kms, new DescribeKeyCommand({ KeyId: `alias/${n}` })), expect: [400], codes: ['NotFoundException'] },
  { route: 'KMS RevokeGrant GrantId=NAME', call: (n) => sdk(kms, new RevokeGrantCommand({ KeyId: keyId, GrantId: n })), expect: [400], codes: ['NotFoundException', 'InvalidGrantIdException'] },
  { route: 'KMS PutKeyPolicy with condition operator NAME', call: (n) => sdk(kms, new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policyWithOperator(n) })), expect: [400], codes: ['MalformedPolicyDocumentException'] },
  { route: 'CloudTrail X-Amz-Target …LookupEvents→NAME', call: (n) => sdk(cloudtrail, renamed(new LookupEventsCommand({}), n)), expect: [400], codes: ['UnknownOperationException'] },
  { route: 'CloudTrail LookupEvents AttributeKey=NAME', call: (n) => sdk(cloudtrail, new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: n as never, AttributeValue: 'x' }] })), expect: [400], codes: ['InvalidLookupAttributesException'] },
  { route: 'S3 HeadBucket NAME', call: (n) => sdk(s3, new HeadBucketCommand({ Bucket: n })), expect: [400, 404] },
  { route: 'S3 GetObject Key=NAME', call: (n) => sdk(s3, new GetObjectCommand({ Bucket: BUCKET, Key: n })), expect: [404], codes: ['NoSuchKey'] },
  { route: 'S3 ListParts UploadId=NAME', call: (n) => sdk(s3, new ListPartsCommand({ Bucket: BUCKET, Key: 'x', UploadId: n })), expect: [404], codes: ['NoSuchUpload'] },
  { route: 'STS Action=NAME', call: (n) => sdk(sts, renamed(new GetCallerIdentityCommand({}), n)), expect: [400], codes: ['InvalidAction'] },
  { route: 'IAM Action=NAME', call: (n) => sdk(iam, renamed(new GetUserCommand({}), n)), expect: [400], codes: ['InvalidAction'] },
  { route: 'IAM GetRole NAME', call: (n) => sdk(iam, new GetRoleCommand({ RoleName: n })), expect: [404], codes: ['NoSuchEntity', 'NoSuchEntityException'] },
  { route: 'IAM GetUser NAME', call: (n) => sdk(iam, new GetUserCommand({ UserName: n })), expect: [404], codes: ['NoSuchEntity', 'NoSuchEntityException'] },
  { route: 'IAM ListRolePolicies NAME', call: (n) => sdk(iam, new ListRolePoliciesCommand({ RoleName: n })), expect: [404], codes: ['NoSuchEntity', 'NoSuchEntityException'] },
  { route: 'IAM GetPolicy …:policy/NAME', call: (n) => sdk(iam, new GetPolicyCommand({ PolicyArn: `arn:aws:iam::${lab.accountId}:policy/${n}` })), expect: [404], codes: ['NoSuchEntity', 'NoSuchEntityException'] },
  { route: 'IAM GetInstanceProfile NAME', call: (n) => sdk(iam, new GetInstanceProfileCommand({ InstanceProfileName: n })), expect: [404], codes: ['NoSuchEntity', 'NoSuchEntityException'] },
  { route: 'IAM PutRolePolicy with condition operator NAME', call: (n) => sdk(iam, new PutRolePolicyCommand({ RoleName: 'kms-share-uploader', PolicyName: 'probe', PolicyDocument: policyWithOperator(n).replace(/"Principal":\{[^}]*\},/, '') })), expect: [400], codes: ['MalformedPolicyDocument', 'MalformedPolicyDocumentException'] },
  { route: 'EC2 Action=NAME', call: (n) => sdk(ec2, renamed(new DescribeSubnetsCommand({}), n)), expect: [400], codes: ['InvalidAction'] },
  { route: 'EC2 DescribeInstances InstanceId=NAME', call: (n) => sdk(ec2, new DescribeInstancesCommand({ InstanceIds: [n] })), expect: [400], codes: ['InvalidInstanceID.Malformed', 'InvalidInstanceID.NotFound'] },
  { route: 'EC2 DescribeVpcEndpoints VpcEndpointId=NAME', call: (n) => sdk(ec2, new DescribeVpcEndpointsCommand({ VpcEndpointIds: [n] })), expect: [400], codes: ['InvalidVpcEndpointId.Malformed', 'InvalidVpcEndpointId.NotFound'] },
  { route: 'EC2 DescribeSubnets Filter Name=NAME', call: (n) => sdk(ec2, new DescribeSubnetsCommand({ Filters: [{ Name: n, Values: ['*'] }] })), expect: [400], codes: ['InvalidParameterValue'] },
  {
    route: 'EC2 DescribeSubnets Filter Name=tag:NAME matches nothing',
    call: async (n) => {
      const out = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: `tag:${n}`, Values: ['*'] }] }))
      return { status: out.Subnets?.length === 0 ? 200 : 500, code: `${out.Subnets?.length} subnets` }
    },
    expect: [200],
  },
  { route: 'SigV4 access key id NAME', call: (n) => sdk(new STSClient({ ...clientConfig, credentials: { accessKeyId: n, secretAccessKey: 'x' } }), new GetCallerIdentityCommand({})), expect: [403], codes: ['InvalidClientTokenId'] },
  // upload: a name is just a name (stored under a prefix, so download's 404 below stays true).
  { route: 'upload PUT /files/probe/NAME', call: (n) => http(`${uploadUrl}/files/probe/${enc(n)}`, { method: 'PUT', headers: bearer(tokens.upload), body: n }), expect: [201] },
  { route: 'upload POST /files key=probe/form/NAME', call: (n) => { const f = new FormData(); f.set('key', `probe/form/${n}`); f.set('file', new Blob([n]), n); return http(`${uploadUrl}/files`, { method: 'POST', headers: bearer(tokens.upload), body: f }) }, expect: [201] },
  { route: 'upload GET /NAME', call: (n) => http(`${uploadUrl}/${enc(n)}`, { headers: bearer(tokens.upload) }), expect: [404] },
  { route: 'upload GET /files?cursor=NAME', call: (n) => http(`${uploadUrl}/files?cursor=${enc(n)}`, { headers: bearer(tokens.upload) }), expect: [200, 400] },
  // download: files and cache entries.
  { route: 'download GET /files/NAME', call: (n) => http(`${download.url}/files/${enc(n)}`, { headers: bearer(tokens.download) }), expect: [404], codes: ['SHR_AWS_NO_SUCH_KEY'] },
  { route: 'download HEAD /files/NAME', call: (n) => http(`${download.url}/files/${enc(n)}`, { method: 'HEAD', headers: bearer(tokens.download) }), expect: [404] },
  { route: 'download GET /files/probe/NAME (uploaded above)', call: (n) => http(`${download.url}/files/probe/${enc(n)}`, { headers: bearer(tokens.download) }), expect: [200] },
  { route: 'download GET /files?cursor=NAME', call: (n) => http(`${download.url}/files?cursor=${enc(n)}`, { headers: bearer(tokens.download) }), expect: [200, 400] },
  { route: 'download DELETE /cache/NAME', call: (n) => http(`${download.url}/cache/${enc(n)}`, { method: 'DELETE', headers: bearer(tokens.download) }), expect: [404], codes: ['DWN_CACHE_ENTRY_NOT_FOUND'] },
  { route: 'download DELETE /cache/localfile-NAME', call: (n) => http(`${download.url}/cache/localfile-${enc(n)}`, { method: 'DELETE', headers: bearer(tokens.download) }), expect: [404], codes: ['DWN_CACHE_ENTRY_NOT_FOUND'] },
  // keyadmin.
  { route: 'keyadmin GET /keys/NAME', call: (n) => http(`${keyadmin.url}/keys/${enc(n)}`, { headers: bearer(tokens.keyadmin) }), expect: [404] },
  { route: 'keyadmin GET /keys/alias%2FNAME/policy', call: (n) => http(`${keyadmin.url}/keys/${enc(`alias/${n}`)}/policy`, { headers: bearer(tokens.keyadmin) }), expect: [404] },
  { route: 'keyadmin GET /keys/NAME/access', call: (n) => http(`${keyadmin.url}/keys/${enc(n)}/access`, { headers: bearer(tokens.keyadmin) }), expect: [404] },
  { route: 'keyadmin GET /keys/NAME/tags', call: (n) => http(`${keyadmin.url}/keys/${enc(n)}/tags`, { headers: bearer(tokens.keyadmin) }), expect: [404] },
  { route: 'keyadmin DELETE /aliases/alias%2FNAME', call: (n) => http(`${keyadmin.url}/aliases/${enc(`alias/${n}`)}`, { method: 'DELETE', headers: bearer(tokens.keyadmin) }), expect: [404] },
  { route: 'keyadmin POST /policy-templates/NAME', call: (n) => http(`${keyadmin.url}/policy-templates/${enc(n)}`, { method: 'POST', headers: { ...bearer(tokens.keyadmin), 'content-type': 'application/json' }, body: '{}' }), expect: [404], codes: ['KADM_TEMPLATE_NOT_FOUND'] },
  { route: 'keyadmin GET /vpc-endpoints/NAME', call: (n) => http(`${keyadmin.url}/vpc-endpoints/${enc(n)}`, { headers: bearer(tokens.keyadmin) }), expect: [400, 404] },
  { route: 'keyadmin POST /policies/simulate action NAME', call: (n) => http(`${keyadmin.url}/policies/simulate`, { method: 'POST', headers: { ...bearer(tokens.keyadmin), 'content-type': 'application/json' }, body: JSON.stringify({ key: KEY_ALIAS, principal: `arn:aws:iam::${lab.accountId}:root`, action: n }) }), expect: [400] },
  { route: 'keyadmin POST /policies/simulate context key NAME', call: (n) => http(`${keyadmin.url}/policies/simulate`, { method: 'POST', headers: { ...bearer(tokens.keyadmin), 'content-type': 'application/json' }, body: `{"key":"${KEY_ALIAS}","principal":"arn:aws:iam::${lab.accountId}:root","action":"kms:Decrypt","context":{"${n}":"x"}}` }), expect: [400] },
  { route: 'keyadmin POST /policies/simulate policy with operator NAME', call: (n) => http(`${keyadmin.url}/policies/simulate`, { method: 'POST', headers: { ...bearer(tokens.keyadmin), 'content-type': 'application/json' }, body: JSON.stringify({ policy: policyWithOperator(n), principal: `arn:aws:iam::${lab.accountId}:root`, action: 'kms:Decrypt' }) }), expect: [200] },
  { route: 'keyadmin POST /policies/validate with operator NAME', call: (n) => http(`${keyadmin.url}/policies/validate`, { method: 'POST', headers: { ...bearer(tokens.keyadmin), 'content-type': 'application/json' }, body: JSON.stringify({ policy: policyWithOperator(n) }) }), expect: [200] },
  { route: 'keyadmin PUT /keys/:key/policy with operator NAME', call: (n) => http(`${keyadmin.url}/keys/${keyId}/policy`, { method: 'PUT', headers: { ...bearer(tokens.keyadmin), 'content-type': 'application/json' }, body: JSON.stringify({ policy: policyWithOperator(n) }) }), expect: [422], codes: ['KADM_POLICY_INVALID'] },
  { route: 'keyadmin GET /audit/objects/NAME', call: (n) => http(`${keyadmin.url}/audit/objects/${enc(n)}`, { headers: bearer(tokens.keyadmin) }), expect: [404], codes: ['KADM_AUDIT_NO_VERDICT'] },
  { route: 'keyadmin GET /audit?cursor=NAME', call: (n) => http(`${keyadmin.url}/audit?cursor=${enc(n)}`, { headers: bearer(tokens.keyadmin) }), expect: [200, 400] },
  { route: 'keyadmin GET /keys/NAME/rotation', call: (n) => http(`${keyadmin.url}/keys/${enc(n)}/rotation`, { headers: bearer(tokens.keyadmin) }), expect: [404] },
  { route: 'keyadmin GET /auth/NAME', call: (n) => http(`${keyadmin.url}/auth/${enc(n)}`), expect: [401, 404] },
]

t.test('every path-walking route answers an Object.prototype name as any unknown name', async (t) => {
  for (const { route, call, expect, codes } of ROUTES) {
    for (const name of NAMES) {
      let answer: Answer
      try {
        answer = await call(name)
      } catch (err) {
        t.fail(`${route.replace('NAME', name)}: ${(err as Error).message}`)
        continue
      }
      const ok = expect.includes(answer.status) && (!codes || answer.status < 300 || codes.includes(answer.code ?? ''))
      t.ok(ok, `${route.replace('NAME', name)} → ${answer.status}${answer.code ? ` ${answer.code}` : ''}`)
    }
  }
})

t.test('every process is alive and unchanged afterwards', async (t) => {
  t.equal((await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))).KeyMetadata?.KeyId, keyId, 'the lab answers')
  t.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy, keyPolicy, 'no probe changed the key policy')
  t.equal((await imds('latest/meta-data/instance-id')).status, 200, 'the metadata service answers')
  for (const url of [uploadUrl, download.url, keyadmin.url]) t.equal((await http(`${url}/healthz`)).status, 200, `${url} answers`)
})
