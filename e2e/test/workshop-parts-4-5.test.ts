// The workshop's parts 4 and 5 end to end, through keyadmin (running as the keyadmin instance) and
// AWS CLI v2: discover the network, create the KMS endpoint, use it, bind the key to it, and watch
// DNS hostnames decide which calls go through it.
// AWS: https://docs.aws.amazon.com/kms/latest/developerguide/vpce-connect.html (endpoint URL, private DNS),
// https://docs.aws.amazon.com/kms/latest/developerguide/vpce-policy-condition.html (aws:sourceVpce; integrated
// services' calls fail under such a policy), https://docs.aws.amazon.com/vpc/latest/userguide/vpc-dns.html.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildApp as buildUploadApp, loadUploadConfig } from '@kms-share/upload'
import { ACCOUNT, aws, BUCKET, instance, instanceEnv, nextMfaCode, profileEnv, scopedToken, scratchDir, startKeyadminInstance, startNetworkLab } from './helpers.js'

// The workshop starts from AWS's default key policy on ImportedCMK (the stack's own key policy is separation-of-duties).
const lab = await startNetworkLab(t, 1_500, { defaultKeyPolicy: true })
// As the stack runs keyadmin: its role from instance metadata, PutKeyPolicy as userA with an MFA code.
const svc = await startKeyadminInstance(t, lab, {
  AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile, AWS_CONFIG_FILE: lab.configFile,
  KEYADMIN_MFA_PROFILE: 'userA', KEYADMIN_MFA_SERIAL: `arn:aws:iam::${ACCOUNT}:mfa/userA`,
})
const withCode = async () => ({ 'x-mfa-code': await nextMfaCode(lab) })
const dir = scratchDir(t)
const workshop = profileEnv(lab, 'workshop', dir)
const workshopInstance = instanceEnv(lab, 'workshop', dir)
const admin = profileEnv(lab, 'admin', dir)
const keyId: string = (await aws(['kms', 'describe-key', '--key-id', 'alias/ImportedCMK'], admin)).json.KeyMetadata.KeyId
const keyArn = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${keyId}`
const explicitDeny = (principal: string) =>
  `User: ${principal} is not authorized to perform: kms:GenerateDataKey on resource: ${keyArn} with an explicit deny in a resource-based policy`

let network: any
let endpoint: any

t.test('part 4: discover the network from instance metadata', async (t) => {
  const res = await svc.call('GET', '/network')
  t.equal(res.status, 200, JSON.stringify(res.body))
  network = res.body
  t.equal(network.instanceId, instance(lab, 'keyadmin').instanceId)
  t.match(network, { region: 'eu-west-1', availabilityZone: 'eu-west-1a', vpcId: /^vpc-/, subnetId: /^subnet-/, securityGroupIds: [/^sg-/] })
})

t.test('part 4: create the KMS endpoint with defaults from /network, wait until it is available', async (t) => {
  const created = await svc.call('POST', '/vpc-endpoints', {})
  t.equal(created.status, 201, JSON.stringify(created.body))
  t.equal(created.headers.get('location'), `/vpc-endpoints/${created.body.id}`)
  t.match(created.body, {
    id: /^vpce-[0-9a-f]{17}$/, state: 'pending', serviceName: 'com.amazonaws.eu-west-1.kms', service: 'kms', type: 'Interface',
    vpcId: network.vpcId, subnetIds: [network.subnetId], securityGroupIds: network.securityGroupIds, privateDnsEnabled: true,
  })
  const waited = await svc.call('GET', `/vpc-endpoints/${created.body.id}?wait=true&waitSeconds=30`)
  t.equal(waited.status, 200)
  endpoint = waited.body
  t.equal(endpoint.state, 'available', 'waited for available')
  t.ok(endpoint.dnsNames.includes('kms.eu-west-1.amazonaws.com'), 'private DNS name listed')
  t.ok(endpoint.dnsNames.some((n: string) => new RegExp(`^${endpoint.id}-[0-9a-z]+\\.kms\\.eu-west-1\\.vpce\\.amazonaws\\.com$`).test(n)), 'regional endpoint name')
  t.equal(endpoint.endpointUrl, `${lab.endpoint}/vpce/${endpoint.id}`, "the lab's way to go through the endpoint")
  t.equal(endpoint.privateDnsUrl, 'https://kms.eu-west-1.amazonaws.com')

  // What the CLI sees matches what keyadmin says.
  const described = await aws(['ec2', 'describe-vpc-endpoints', '--vpc-endpoint-ids', endpoint.id], admin)
  t.equal(described.code, 0, described.stderr)
  t.equal(described.json.VpcEndpoints[0].State, 'available')
  t.same(described.json.VpcEndpoints[0].DnsEntries.map((d: any) => d.DnsName), endpoint.dnsNames)
  const listed = await svc.call('GET', '/vpc-endpoints')
  t.same(listed.body.endpoints.map((e: any) => e.id), [endpoint.id])
})

t.test('part 4: list keys through the endpoint URL (AWS CLI v2)', async (t) => {
  const through = await aws(['kms', 'list-keys', '--endpoint-url', endpoint.endpointUrl], workshop)
  t.equal(through.code, 0, through.stderr)
  t.ok(through.json.Keys.some((k: any) => k.KeyId === keyId), 'ImportedCMK listed')
  // An endpoint that does not exist is refused, so the URL really selects the endpoint.
  const wrong = await aws(['kms', 'list-keys', '--endpoint-url', `${lab.endpoint}/vpce/vpce-0123456789abcdef0`], workshop)
  t.not(wrong.code, 0)
})

t.test('part 5: the endpoint-only key policy, applied through keyadmin', async (t) => {
  const rendered = await svc.call('POST', `/vpc-endpoints/${endpoint.id}/key-policy`, undefined, 'reader')
  t.equal(rendered.status, 200, JSON.stringify(rendered.body))
  const doc = JSON.parse(rendered.body.policy)
  const deny = doc.Statement.find((s: any) => s.Effect === 'Deny')
  t.same(deny.Condition.StringNotEquals['aws:SourceVpce'], [endpoint.id], 'bound to the endpoint just created')
  t.same(deny.Condition.Bool['aws:ViaAWSService'], ['false'], 'calls AWS services make for the caller are exempt')
  t.notOk(rendered.body.findings.some((f: any) => f.code === 'VPCE_DENY_BLOCKS_AWS_SERVICES'))
  const workshopFinding = rendered.body.workshopVersion.findings.find((f: any) => f.code === 'VPCE_DENY_BLOCKS_AWS_SERVICES')
  t.ok(workshopFinding, "the workshop's version is flagged")
  t.match(workshopFinding.message, /SSE-KMS/)
  t.match(rendered.body.workshopVersion.policy, endpoint.id)

  // The generic templates route renders the same policy for the same endpoint.
  const viaTemplates = await svc.call('POST', '/policy-templates/vpce-only', { parameters: { vpceIds: [endpoint.id] } })
  t.equal(viaTemplates.status, 200, JSON.stringify(viaTemplates.body))
  t.same(JSON.parse(viaTemplates.body.policy), doc)

  const applied = await svc.call('PUT', `/keys/${encodeURIComponent('alias/ImportedCMK')}/policy`, { policy: rendered.body.policy }, 'admin', await withCode())
  t.equal(applied.status, 200, JSON.stringify(applied.body))
  t.equal(applied.body.applied, true)
})

t.test('part 5: generate-data-key refused outside the endpoint with the explicit-deny sentence, accepted through it', async (t) => {
  const outside = await aws(['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256'], workshop)
  t.not(outside.code, 0)
  t.match(outside.stderr, 'An error occurred (AccessDeniedException) when calling the GenerateDataKey operation')
  t.match(outside.stderr, explicitDeny(`arn:aws:sts::${ACCOUNT}:assumed-role/KMSWorkshop-InstaceInitRole/i-0workshop1a2b3c4d5`))

  const through = await aws(['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256', '--endpoint-url', endpoint.endpointUrl], workshop)
  t.equal(through.code, 0, through.stderr)
  t.equal(through.json.KeyId, keyArn)
  t.equal(Buffer.from(through.json.Plaintext, 'base64').length, 32)

  // CloudTrail names the endpoint for the call that came through it.
  const events = await aws(['cloudtrail', 'lookup-events', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=GenerateDataKey'], admin)
  t.equal(events.code, 0, events.stderr)
  const records = events.json.Events.map((e: any) => JSON.parse(e.CloudTrailEvent))
  t.ok(records.some((r: any) => r.vpcEndpointId === endpoint.id && !r.errorCode), 'the accepted call came through the endpoint')
})

t.test('part 5: uploads through the upload service keep working (SSE-KMS is exempt)', async (t) => {
  const { AUTH_TOKENS, auth } = scopedToken('upload', ['upload'])
  const config = loadUploadConfig({
    AWS_PROFILE: 'uploader', AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile, AWS_CONFIG_FILE: lab.configFile, AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint, BUCKET, KMS_KEY_ID: 'alias/ImportedCMK', PORT: '0', LOG_LEVEL: 'silent', AUTH_TOKENS,
  })
  const upload = await buildUploadApp(config)
  t.teardown(() => upload.close())
  await upload.listen({ host: '127.0.0.1', port: 0 })
  const { port } = upload.server.address() as { port: number }
  const put = await fetch(`http://127.0.0.1:${port}/files/vpce-only-upload.txt`, { method: 'PUT', headers: auth, body: 'still works', signal: AbortSignal.timeout(30_000) })
  const body = await put.json()
  t.equal(put.status, 201, JSON.stringify(body))
  t.equal(body.kmsKeyArn, keyArn, 'encrypted under ImportedCMK')
  const head = await aws(['s3api', 'head-object', '--bucket', BUCKET, '--key', 'vpce-only-upload.txt'], admin)
  t.equal(head.json.ServerSideEncryption, 'aws:kms')
  t.equal(head.json.SSEKMSKeyId, keyArn)
})

t.test("the workshop's own part 5 policy breaks SSE-KMS uploads for its role; keyadmin's version does not", async (t) => {
  const file = join(dir, 'sample.txt')
  writeFileSync(file, 'SampleFile-KMS\n')
  const putObject = () => aws(['s3api', 'put-object', '--bucket', BUCKET, '--key', 'workshop-role-upload.txt', '--body', file, '--server-side-encryption', 'aws:kms', '--ssekms-key-id', keyId], workshop)
  const ok = await putObject()
  t.equal(ok.code, 0, `under keyadmin's policy: ${ok.stderr}`)

  const rendered = await svc.call('POST', `/vpc-endpoints/${endpoint.id}/key-policy`)
  const applied = await svc.call('PUT', `/keys/${encodeURIComponent('alias/ImportedCMK')}/policy`, { policy: rendered.body.workshopVersion.policy }, 'admin', await withCode())
  t.equal(applied.status, 200, JSON.stringify(applied.body))
  t.ok(applied.body.findings.some((f: any) => f.code === 'VPCE_DENY_BLOCKS_AWS_SERVICES'), 'applied with the finding shown')
  const refused = await putObject()
  t.not(refused.code, 0)
  t.match(refused.stderr, /AccessDenied/)
  t.match(refused.stderr, 'kms:GenerateDataKey')

  const back = await svc.call('PUT', `/keys/${encodeURIComponent('alias/ImportedCMK')}/policy`, { policy: rendered.body.policy }, 'admin', await withCode())
  t.equal(back.status, 200)
  t.equal((await putObject()).code, 0, "keyadmin's version again")
})

t.test('part 5: on the instance, DNS hostnames decide whether the usual KMS name goes through the endpoint', async (t) => {
  // Private DNS on, DNS hostnames on: the regional name reaches the endpoint, no --endpoint-url needed (beyond the lab's own).
  const before = await aws(['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256'], workshopInstance)
  t.equal(before.code, 0, before.stderr)
  t.equal((await svc.call('GET', '/network/dns')).body.resolvesToEndpoint, true)

  const off = await aws(['ec2', 'modify-vpc-attribute', '--vpc-id', network.vpcId, '--no-enable-dns-hostnames'], admin)
  t.equal(off.code, 0, off.stderr)
  const dns = await svc.call('GET', '/network/dns')
  t.match(dns.body, { enableDnsHostnames: false, resolvesToEndpoint: false })

  const outside = await aws(['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256'], workshopInstance)
  t.not(outside.code, 0, 'DNS hostnames off: the call goes outside the endpoint and is denied')
  t.match(outside.stderr, explicitDeny(`arn:aws:sts::${ACCOUNT}:assumed-role/KMSWorkshop-InstaceInitRole/${instance(lab, 'workshop').instanceId}`))
  const through = await aws(['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256', '--endpoint-url', endpoint.endpointUrl], workshopInstance)
  t.equal(through.code, 0, `forcing the endpoint URL still works: ${through.stderr}`)

  const on = await aws(['ec2', 'modify-vpc-attribute', '--vpc-id', network.vpcId, '--enable-dns-hostnames'], admin)
  t.equal(on.code, 0, on.stderr)
  t.equal((await aws(['kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256'], workshopInstance)).code, 0)
})

t.test('logs: endpoint changes recorded, tokens never', async (t) => {
  const text = svc.logs.join('')
  t.match(text, `"vpcEndpointId":"${endpoint.id}"`)
  t.notMatch(text, svc.tokens.admin)
  t.notMatch(text, svc.tokens.reader)
})
