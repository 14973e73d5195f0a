// VPC endpoints through keyadmin: create (defaults or given), wait, list, change the policy and private
// DNS, delete; EC2's refusals as problems; and services pinned to an endpoint with AWS_ENDPOINT_URL_KMS /
// AWS_ENDPOINT_URL_S3, whose endpoint policy then applies to them (the upload service pinned to an S3
// endpoint: e2e/test/vpc-endpoint-upload.test.ts).
// AWS: https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html,
// https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html (endpoint policies),
// https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html (AWS_ENDPOINT_URL_<SERVICE>).
import t from 'tap'
import type { VpcEndpoint } from '@aws-sdk/client-ec2'
import { ACCOUNT, aws, profileEnv, scratchDir, startKeyadminInstance, startNetworkLab } from './network-helpers.js'

const lab = await startNetworkLab(t, 800)
const svc = await startKeyadminInstance(t, lab)
const dir = scratchDir(t)
const workshop = profileEnv(lab, 'workshop', dir)
const network = (await svc.call('GET', '/network')).body

const denyListKeys = (principal = '*') => JSON.stringify({
  Statement: [
    { Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' },
    { Effect: 'Deny', Principal: { AWS: principal }, Action: 'kms:ListKeys', Resource: '*' },
  ],
})

t.test('create with explicit parameters, no private DNS; waiting answers available', async (t) => {
  const created = await svc.call('POST', '/vpc-endpoints', {
    vpcId: network.vpcId, subnetIds: [network.subnetId], securityGroupIds: network.securityGroupIds, privateDns: false, wait: true, waitSeconds: 20, tags: { Name: 'kms-no-dns' },
  })
  t.equal(created.status, 201, JSON.stringify(created.body))
  t.match(created.body, { state: 'available', privateDnsEnabled: false, tags: { Name: 'kms-no-dns' } })
  t.notOk(created.body.dnsNames.includes('kms.eu-west-1.amazonaws.com'), 'no private DNS name')
  t.notOk('privateDnsUrl' in created.body)
  t.same(JSON.parse(created.body.policy).Statement[0], { Action: '*', Effect: 'Allow', Principal: '*', Resource: '*' }, "AWS's default: full access")

  // A second KMS endpoint with private DNS is fine (this one has none); a third is refused by EC2.
  const withDns = await svc.call('POST', '/vpc-endpoints', {})
  t.equal(withDns.status, 201)
  const conflict = await svc.call('POST', '/vpc-endpoints', {})
  t.equal(conflict.status, 400)
  t.match(conflict.body, { code: 'KADM_EC2_REJECTED', awsErrorCode: 'InvalidParameter', action: 'ec2:CreateVpcEndpoint' })
  t.match(conflict.body.detail, /conflicting DNS domain/)

  const all = await svc.call('GET', '/vpc-endpoints?service=kms')
  t.equal(all.body.vpcId, network.vpcId)
  t.same(all.body.endpoints.map((e: any) => e.id).sort(), [created.body.id, withDns.body.id].sort())
  t.equal((await svc.call('GET', '/vpc-endpoints?service=s3')).body.endpoints.length, 0)
  t.equal((await svc.call('GET', '/vpc-endpoints?vpcId=all')).body.endpoints.length, 2)

  for (const id of [created.body.id, withDns.body.id]) t.equal((await svc.call('DELETE', `/vpc-endpoints/${id}`)).status, 204)
  t.equal((await svc.call('GET', '/vpc-endpoints')).body.endpoints.length, 0)
})

t.test('PATCH: the endpoint policy applies to calls through it; null resets it; private DNS off and on', async (t) => {
  const { body: e } = await svc.call('POST', '/vpc-endpoints', { wait: true, waitSeconds: 20 })
  t.equal(e.state, 'available')
  const listThrough = () => aws(['kms', 'list-keys', '--endpoint-url', e.endpointUrl], workshop)
  t.equal((await listThrough()).code, 0)

  const patched = await svc.call('PATCH', `/vpc-endpoints/${e.id}`, { policy: denyListKeys() })
  t.equal(patched.status, 200, JSON.stringify(patched.body))
  t.same(JSON.parse(patched.body.policy), JSON.parse(denyListKeys()))
  const refused = await listThrough()
  t.not(refused.code, 0)
  t.match(refused.stderr, /AccessDeniedException/)
  t.match(refused.stderr, 'kms:ListKeys')
  t.match(refused.stderr, /VPC endpoint policy/)
  t.equal((await aws(['kms', 'list-keys'], workshop)).code, 0, 'outside the endpoint its policy does not apply')

  const reset = await svc.call('PATCH', `/vpc-endpoints/${e.id}`, { policy: null })
  t.same(JSON.parse(reset.body.policy).Statement[0], { Action: '*', Effect: 'Allow', Principal: '*', Resource: '*' })
  t.equal((await listThrough()).code, 0)

  const noDns = await svc.call('PATCH', `/vpc-endpoints/${e.id}`, { privateDns: false })
  t.equal(noDns.body.privateDnsEnabled, false)
  t.equal((await svc.call('PATCH', `/vpc-endpoints/${e.id}`, { privateDns: true })).body.privateDnsEnabled, true)

  t.equal((await svc.call('PATCH', `/vpc-endpoints/${e.id}`, {})).status, 400, 'an empty change is refused')
  const unparsable = await svc.call('PATCH', `/vpc-endpoints/${e.id}`, { policy: '{"Statement": [' })
  t.equal(unparsable.status, 422, 'a policy that does not parse')
  t.equal(unparsable.body.code, 'KADM_POLICY_INVALID')
  t.ok(unparsable.body.findings.some((f: any) => f.severity === 'ERROR'), 'with the findings that say where')
  const noEffect = await svc.call('POST', '/vpc-endpoints', { policy: JSON.stringify({ Statement: [{ Principal: '*', Action: '*', Resource: '*' }] }) })
  t.equal(noEffect.status, 422, 'checked before EC2 creates anything')
  t.equal((await svc.call('GET', '/vpc-endpoints')).body.endpoints.length, 1)
  t.equal((await svc.call('DELETE', `/vpc-endpoints/${e.id}`)).status, 204)
})

t.test('EC2 refusals and unknown endpoints as problems', async (t) => {
  const unknown = 'vpce-0123456789abcdef0'
  for (const [method, body] of [['GET', undefined], ['PATCH', { privateDns: false }], ['DELETE', undefined], ['POST', undefined]] as const) {
    const path = method === 'POST' ? `/vpc-endpoints/${unknown}/key-policy` : `/vpc-endpoints/${unknown}`
    const res = await svc.call(method, path, body)
    t.equal(res.status, 404, `${method} ${path}`)
    t.equal(res.body.code, 'KADM_VPC_ENDPOINT_NOT_FOUND')
    t.match(res.body.detail, unknown)
  }
  t.equal((await svc.call('GET', '/vpc-endpoints/not-an-id')).status, 400, 'ids are checked before EC2 is asked')
  const badSubnet = await svc.call('POST', '/vpc-endpoints', { subnetIds: ['subnet-0123456789abcdef0'] })
  t.equal(badSubnet.status, 400)
  t.equal(badSubnet.body.code, 'KADM_EC2_REJECTED')
  t.equal(badSubnet.body.awsErrorCode, 'InvalidSubnetID.NotFound')
  const typo = await svc.call('POST', '/vpc-endpoints', { privateDNS: true })
  t.equal(typo.status, 400, 'unknown members are refused, not ignored')
})

t.test('waiting is bounded: a pending endpoint comes back pending when waitSeconds pass', async (t) => {
  const slowLab = await startNetworkLab(t, 60_000)
  const slow = await startKeyadminInstance(t, slowLab)
  const started = Date.now()
  const created = await slow.call('POST', '/vpc-endpoints', { wait: true, waitSeconds: 2 })
  t.equal(created.status, 201)
  t.equal(created.body.state, 'pending')
  t.ok(Date.now() - started < 10_000, 'answered within the wait bound')
})

t.test('a service pinned to an endpoint with AWS_ENDPOINT_URL_KMS: its calls go through, and the endpoint policy applies', async (t) => {
  // Private DNS off: on the instance, only a client given the endpoint URL goes through it.
  const { body: e } = await svc.call('POST', '/vpc-endpoints', { privateDns: false, wait: true, waitSeconds: 20 })
  const pinned = await startKeyadminInstance(t, lab, { AWS_ENDPOINT_URL_KMS: e.endpointUrl })
  t.equal((await pinned.call('GET', '/keys')).status, 200)
  t.equal((await pinned.call('GET', `/vpc-endpoints/${e.id}`)).body.endpointUrl, e.endpointUrl, 'endpoint URLs stay the lab base + /vpce/<id>')
  const role = `arn:aws:iam::${ACCOUNT}:role/kms-share-keyadmin`
  t.equal((await svc.call('PATCH', `/vpc-endpoints/${e.id}`, { policy: denyListKeys(role) })).status, 200)
  const refused = await pinned.call('GET', '/keys')
  t.equal(refused.status, 403, JSON.stringify(refused.body))
  t.match(refused.body, { code: 'SHR_AWS_ACCESS_DENIED', action: 'kms:ListKeys', policyType: 'VPC endpoint policy' })
  t.equal((await svc.call('GET', '/keys')).status, 200, 'the unpinned keyadmin is not affected')

  // With private DNS on, the unpinned keyadmin (on its instance, calling KMS's usual name) goes through it too.
  t.equal((await svc.call('PATCH', `/vpc-endpoints/${e.id}`, { privateDns: true })).status, 200)
  t.equal((await svc.call('GET', '/keys')).status, 403, 'private DNS sends the instance through the endpoint')
  t.equal((await svc.call('DELETE', `/vpc-endpoints/${e.id}`)).status, 204)
  t.equal((await svc.call('GET', '/keys')).status, 200)
})

t.test('against AWS (no endpoint variables) the endpoint URL is https:// and the regional vpce DNS name', async (t) => {
  const { endpointOut } = await import('../src/network/endpoints.js')
  // The shape CreateVpcEndpoint answers (the workshop's part 4 output, ids made up).
  const e: VpcEndpoint = {
    VpcEndpointId: 'vpce-0a1b2c3d4e5f60718', VpcEndpointType: 'Interface', VpcId: 'vpc-0ab12cd34ef56a001', ServiceName: 'com.amazonaws.eu-west-1.kms',
    State: 'Available', PrivateDnsEnabled: true, SubnetIds: ['subnet-0ab12cd34ef56b001'], Groups: [{ GroupId: 'sg-0ab12cd34ef56c001', GroupName: 'kms-share' }],
    DnsEntries: [
      { DnsName: 'vpce-0a1b2c3d4e5f60718-1a2b3c4d.kms.eu-west-1.vpce.amazonaws.com', HostedZoneId: 'Z38GZ743OKFT7T' },
      { DnsName: 'eu-west-1a.vpce-0a1b2c3d4e5f60718-1a2b3c4d.kms.eu-west-1.vpce.amazonaws.com', HostedZoneId: 'Z38GZ743OKFT7T' },
      { DnsName: 'kms.eu-west-1.amazonaws.com', HostedZoneId: 'ZONEIDPENDING' },
    ],
  }
  const aws = endpointOut(e, undefined)
  t.equal(aws.endpointUrl, 'https://vpce-0a1b2c3d4e5f60718-1a2b3c4d.kms.eu-west-1.vpce.amazonaws.com', 'the regional name, not the zonal one')
  t.equal(aws.privateDnsUrl, 'https://kms.eu-west-1.amazonaws.com')
  t.equal(endpointOut(e, 'http://127.0.0.1:4566/').endpointUrl, 'http://127.0.0.1:4566/vpce/vpce-0a1b2c3d4e5f60718')
  t.equal(endpointOut(e, 'http://127.0.0.1:4566/vpce/vpce-0ffffffffffffffff').endpointUrl, 'http://127.0.0.1:4566/vpce/vpce-0a1b2c3d4e5f60718', 'a service pinned to another endpoint still names this one')
})
