// GET /network and GET /network/dns: keyadmin runs as the lab's keyadmin instance and reads its own
// network from instance metadata (IMDSv2), with the right paths (not the workshop's two wrong ones).
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-categories.html
import t from 'tap'
import { aws, instance, profileEnv, scratchDir, startKeyadminInstance, startNetworkLab } from './network-helpers.js'

const lab = await startNetworkLab(t)
const svc = await startKeyadminInstance(t, lab)
const dir = scratchDir(t)

t.test('GET /network: the keyadmin instance, as EC2 describes it', async (t) => {
  const { status, body } = await svc.call('GET', '/network')
  t.equal(status, 200, JSON.stringify(body))
  const me = instance(lab, 'keyadmin')
  t.equal(body.instanceId, me.instanceId, "keyadmin's own instance, not another's")
  const described = await aws(['ec2', 'describe-instances', '--instance-ids', me.instanceId], profileEnv(lab, 'admin', dir))
  t.equal(described.code, 0, described.stderr)
  const ec2 = described.json.Reservations[0].Instances[0]
  t.equal(body.vpcId, ec2.VpcId)
  t.equal(body.subnetId, ec2.SubnetId)
  t.same(body.securityGroupIds, ec2.SecurityGroups.map((g: any) => g.GroupId))
  t.same(body.securityGroupNames, ec2.SecurityGroups.map((g: any) => g.GroupName))
  t.equal(body.mac, ec2.NetworkInterfaces[0].MacAddress)
  t.equal(body.privateIp, ec2.PrivateIpAddress)
  t.equal(body.availabilityZone, ec2.Placement.AvailabilityZone)
  t.equal(body.region, 'eu-west-1')
  t.equal(body.accountId, '111122223333')
  t.equal(body.vpcCidr, '10.0.0.0/16')
  t.equal(body.metadataPaths.subnetId, `/latest/meta-data/network/interfaces/macs/${body.mac}/subnet-id`, 'the right path (the workshop writes network/interface:MAC/subnet-id)')
  t.equal(body.metadataPaths.securityGroupIds, `/latest/meta-data/network/interfaces/macs/${body.mac}/security-group-ids`, 'the right path (the workshop writes macs/mac:MAC/…)')
})

t.test('the workshop\'s two wrong metadata paths really are wrong (404 from IMDSv2)', async (t) => {
  const endpoint = instance(lab, 'keyadmin').metadataEndpoint.replace(/\/$/, '')
  const token = await (await fetch(`${endpoint}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' }, signal: AbortSignal.timeout(5000) })).text()
  const { body } = await svc.call('GET', '/network')
  const get = (path: string) => fetch(endpoint + path, { headers: { 'x-aws-ec2-metadata-token': token }, signal: AbortSignal.timeout(5000) })
  t.equal((await get(`/latest/meta-data/network/interface:${body.mac}/subnet-id`)).status, 404)
  t.equal((await get(`/latest/meta-data/network/interfaces/macs/mac:${body.mac}/security-group-ids`)).status, 404)
  t.equal(await (await get(body.metadataPaths.subnetId)).text(), body.subnetId)
})

t.test('scopes: no token 401, keys:read may read, only keys:admin may create endpoints', async (t) => {
  t.equal((await svc.call('GET', '/network', undefined, 'none')).status, 401)
  t.equal((await svc.call('GET', '/network', undefined, 'reader')).status, 200)
  const refused = await svc.call('POST', '/vpc-endpoints', {}, 'reader')
  t.equal(refused.status, 403)
  t.equal(refused.body.code, 'SHR_MISSING_SCOPE', JSON.stringify(refused.body))
})

t.test('GET /network/dns follows the VPC attributes and private DNS', async (t) => {
  const vpcId = (await svc.call('GET', '/network')).body.vpcId
  let dns = await svc.call('GET', '/network/dns')
  t.equal(dns.status, 200, JSON.stringify(dns.body))
  t.match(dns.body, { vpcId, enableDnsSupport: true, enableDnsHostnames: true, service: 'com.amazonaws.eu-west-1.kms', regionalName: 'kms.eu-west-1.amazonaws.com', resolvesToEndpoint: false })
  t.match(dns.body.explanation, /No available KMS endpoint with private DNS/)

  const created = await svc.call('POST', '/vpc-endpoints', { wait: true, waitSeconds: 30 })
  t.equal(created.status, 201, JSON.stringify(created.body))
  dns = await svc.call('GET', '/network/dns')
  t.equal(dns.body.resolvesToEndpoint, true)
  t.equal(dns.body.endpoint.id, created.body.id)
  t.match(dns.body.explanation, new RegExp(`resolves to ${created.body.id}`))

  const off = await aws(['ec2', 'modify-vpc-attribute', '--vpc-id', vpcId, '--no-enable-dns-hostnames'], profileEnv(lab, 'admin', dir))
  t.equal(off.code, 0, off.stderr)
  dns = await svc.call('GET', '/network/dns')
  t.match(dns.body, { enableDnsSupport: true, enableDnsHostnames: false, resolvesToEndpoint: false })
  t.match(dns.body.explanation, /DNS hostnames off/)

  const on = await aws(['ec2', 'modify-vpc-attribute', '--vpc-id', vpcId, '--enable-dns-hostnames'], profileEnv(lab, 'admin', dir))
  t.equal(on.code, 0, on.stderr)
  t.equal((await svc.call('GET', '/network/dns')).body.resolvesToEndpoint, true)
})

t.test('without ec2:DescribeVpcAttribute: a 403 naming the action and the policy type, never a 500', async (t) => {
  const version = await lab.invoke<any>('iam', 'GetRolePolicy', { RoleName: 'kms-share-keyadmin', PolicyName: 'kms-share-keyadmin' }, 'admin')
  const original = decodeURIComponent(version.PolicyDocument)
  const doc = JSON.parse(original)
  for (const s of doc.Statement) if (Array.isArray(s.Action)) s.Action = s.Action.filter((a: string) => a !== 'ec2:DescribeVpcAttribute')
  await lab.invoke('iam', 'PutRolePolicy', { RoleName: 'kms-share-keyadmin', PolicyName: 'kms-share-keyadmin', PolicyDocument: JSON.stringify(doc) }, 'admin')
  t.teardown(() => lab.invoke('iam', 'PutRolePolicy', { RoleName: 'kms-share-keyadmin', PolicyName: 'kms-share-keyadmin', PolicyDocument: original }, 'admin'))
  const denied = await svc.call('GET', '/network/dns')
  t.equal(denied.status, 403)
  t.match(denied.body, { code: 'SHR_AWS_ACCESS_DENIED', action: 'ec2:DescribeVpcAttribute', awsErrorCode: 'UnauthorizedOperation', policyType: 'identity-based policy' })
  t.match(denied.body.detail, `assumed-role/kms-share-keyadmin/${instance(lab, 'keyadmin').instanceId} is not authorized to perform: ec2:DescribeVpcAttribute`)
})

t.test('without reachable instance metadata: 503 that says what to fix', async (t) => {
  const elsewhere = await startKeyadminInstance(t, lab, { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9/' })
  const { status, body, headers } = await elsewhere.call('GET', '/network')
  t.equal(status, 503)
  t.equal(body.code, 'KADM_METADATA_UNAVAILABLE')
  t.match(body.detail, /AWS_EC2_METADATA_SERVICE_ENDPOINT/)
  t.match(headers.get('content-type'), /application\/problem\+json/)
})

t.test("the network side's KADM_ codes are unique, prefixed and documented in the README", async (t) => {
  const { NetworkErrors } = await import('../src/network/errors.js')
  const { KeyadminErrors } = await import('../src/errors.js')
  const { readFileSync } = await import('node:fs')
  const codeOf = (E: any) => new E('x').code as string
  const others = new Set(Object.values(KeyadminErrors).map(codeOf))
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const E of Object.values(NetworkErrors)) {
    const code = codeOf(E)
    t.match(code, /^KADM_[A-Z0-9_]+$/)
    t.notOk(others.has(code), `${code} is not also in src/errors.ts`)
    t.ok(readme.includes(`\`${code}\``), `${code} documented`)
  }
})
