// The synthesis-time settings (`-c name=value`): defaults, an existing VPC given by ids, and refusals that say
// which value is wrong and what is expected.
import t from 'tap'
import { App } from 'aws-cdk-lib'
import { DEFAULT_SETTINGS, SettingsError, settingsFromContext } from '../src/settings.js'

const settings = (context: Record<string, unknown>) => settingsFromContext(new App({ context }).node)

t.test('defaults: a new VPC, one NAT gateway, t3.small, one download shard, termination protection', async (t) => {
  t.same(settings({}), DEFAULT_SETTINGS)
})

t.test('an existing VPC, every id given (the CLI passes lists as comma-separated strings)', async (t) => {
  const s = settings({
    vpcId: 'vpc-0123456789abcdef0', vpcCidr: '10.0.0.0/16', availabilityZones: 'eu-west-1a,eu-west-1b',
    privateSubnetIds: 'subnet-0000000000000000a,subnet-0000000000000000b', publicSubnetIds: 'subnet-0000000000000000c,subnet-0000000000000000d',
    privateRouteTableIds: 'rtb-0000000000000000a,rtb-0000000000000000b',
  })
  t.same(s.existingVpc, {
    privateRouteTableIds: ['rtb-0000000000000000a', 'rtb-0000000000000000b'],
    vpcId: 'vpc-0123456789abcdef0', cidr: '10.0.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    privateSubnetIds: ['subnet-0000000000000000a', 'subnet-0000000000000000b'], publicSubnetIds: ['subnet-0000000000000000c', 'subnet-0000000000000000d'],
  })
  t.equal(s.vpcCidr, '10.0.0.0/16')
})

t.test('bad values are refused with the key and what is expected', async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ vpcId: 'vpc-0123456789abcdef0', vpcCidr: '10.0.0.0/16', availabilityZones: 'eu-west-1a', privateSubnetIds: 'subnet-0000000000000000a', publicSubnetIds: 'subnet-0000000000000000b' }, 'availabilityZones', /two or more zones/],
    [{ vpcId: 'vpc-0123456789abcdef0', vpcCidr: '10.0.0.0/16', availabilityZones: 'a,b', privateSubnetIds: 'subnet-0000000000000000a', publicSubnetIds: 'subnet-0000000000000000b,subnet-0000000000000000c' }, 'privateSubnetIds', /2 subnet ids/],
    [{ vpcId: 'vpc-0123456789abcdef0', vpcCidr: '10.0.0.0/16', availabilityZones: 'a,b', privateSubnetIds: 'subnet-0000000000000000a,subnet-0000000000000000b', publicSubnetIds: 'subnet-0000000000000000c,subnet-0000000000000000d' }, 'privateRouteTableIds', /2 route table ids/],
    [{ downloadShards: '0' }, 'downloadShards', /from 1 to 8/],
    [{ instanceType: 'big' }, 'instanceType', /instance type/],
    [{ keyAlias: 'alias/aws/s3' }, 'keyAlias', /not alias\/aws/],
    [{ bucketName: 'Bad_Bucket' }, 'bucketName', /bucket name/],
    [{ keyMfaUsers: 'alice,bad user' }, 'keyMfaUsers', /IAM user names/],
  ]
  for (const [context, key, expected] of cases) {
    let error: unknown
    try { settings(context) } catch (e) { error = e }
    t.ok(error instanceof SettingsError, `${key}: refused`)
    t.equal((error as SettingsError).key, key)
    t.match((error as SettingsError).message, expected)
  }
})

t.test('keyMfaUsers: the IAM users the key policy lets do sensitive operations with MFA', async (t) => {
  t.same(settings({ keyMfaUsers: 'alice,bob' }).keyMfaUsers, ['alice', 'bob'])
})

t.test('terminationProtection=false for a throw-away deployment', async (t) => {
  t.equal(settings({ terminationProtection: 'false' }).terminationProtection, false)
})
