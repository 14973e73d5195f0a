// What a deployment decides at synthesis time, from CDK context (`-c name=value` or cdk.json). Values only the
// deployer knows at deploy time (an existing key, the domain and its certificate, images) are CloudFormation
// parameters instead, so the lab and AWS deploy the very same templates.
import type { Node } from 'constructs'

/** An existing VPC to deploy into instead of a new one (no lookups: every id is given). */
export interface ExistingVpc {
  vpcId: string
  availabilityZones: string[]
  /** Subnets with a route to the internet (through NAT) for the instances, one per zone. */
  privateSubnetIds: string[]
  /** The private subnets' route tables, in the same order (the S3 gateway endpoint adds its route to them). */
  privateRouteTableIds: string[]
  /** Public subnets for the load balancer, one per zone. */
  publicSubnetIds: string[]
  /** The VPC's CIDR (security groups let the load balancer in from it). */
  cidr: string
}

export interface KmsShareSettings {
  /** The bucket's name, a contract the roles' and the key's policies name; default `kmsworkshop-<account>`. */
  bucketName?: string
  /** The alias of the key the deployment creates. */
  keyAlias: string
  /**
   * IAM users with MFA devices who perform the key's sensitive operations (PutKeyPolicy, ScheduleKeyDeletion…),
   * for key policy templates that name them. They must exist when the key is created; the default is the
   * workshop's userA, which only the lab has.
   */
  keyMfaUsers: string[]
  /** An existing VPC, or undefined to create one. */
  existingVpc?: ExistingVpc
  /** The new VPC's CIDR. */
  vpcCidr: string
  /** NAT gateways of a new VPC (one is the default: the instances reach AWS APIs without an endpoint, and pull images). */
  natGateways: number
  /** The EC2 instance type of every service (overridable per service with `<duty>InstanceType`). */
  instanceType: string
  instanceTypes: Partial<Record<'upload' | 'download' | 'keyadmin' | 'audit', string>>
  /** How many download shards (each its own Auto Scaling group and target group; objects routed by key). */
  downloadShards: number
  /** The most instances one service's Auto Scaling group may grow to. */
  maxInstances: number
  /** Termination protection on the stateful stack (bucket, key). */
  terminationProtection: boolean
}

export const DEFAULT_SETTINGS: KmsShareSettings = {
  keyAlias: 'alias/kms-share',
  keyMfaUsers: ['userA'],
  vpcCidr: '10.20.0.0/16',
  natGateways: 1,
  instanceType: 't3.small',
  instanceTypes: {},
  downloadShards: 1,
  maxInstances: 4,
  terminationProtection: true,
}

/** A context value that was given but cannot be used; says which and what is expected. */
export class SettingsError extends Error {
  constructor(readonly key: string, expected: string, value: unknown) {
    super(`context ${key}=${JSON.stringify(value)}: expected ${expected}`)
    this.name = 'SettingsError'
  }
}

const list = (value: unknown): string[] | undefined => {
  if (value === undefined) return undefined
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value
  if (typeof value !== 'string') return []
  return value.split(',').map((s) => s.trim()).filter(Boolean)
}

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/
const CIDR = /^\d+\.\d+\.\d+\.\d+\/\d+$/

function text(key: string, value: unknown, fallback: string, pattern: RegExp, expected: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !pattern.test(value)) throw new SettingsError(key, expected, value)
  return value
}

function integer(key: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) throw new SettingsError(key, `a whole number from ${min} to ${max}`, value)
  return n
}

function existingVpc(get: (key: string) => unknown): ExistingVpc | undefined {
  const vpcId = get('vpcId')
  if (vpcId === undefined) return undefined
  if (typeof vpcId !== 'string' || !/^vpc-[0-9a-f]{8,17}$/.test(vpcId)) throw new SettingsError('vpcId', 'a VPC id (vpc-…)', vpcId)
  const availabilityZones = list(get('availabilityZones')) ?? []
  const privateSubnetIds = list(get('privateSubnetIds')) ?? []
  const publicSubnetIds = list(get('publicSubnetIds')) ?? []
  const privateRouteTableIds = list(get('privateRouteTableIds')) ?? []
  const cidr = get('vpcCidr')
  if (availabilityZones.length < 2) throw new SettingsError('availabilityZones', 'two or more zones (the load balancer needs two), comma-separated', get('availabilityZones'))
  for (const [key, ids] of [['privateSubnetIds', privateSubnetIds], ['publicSubnetIds', publicSubnetIds]] as const) {
    if (ids.length !== availabilityZones.length || ids.some((id) => !/^subnet-[0-9a-f]{8,17}$/.test(id))) {
      throw new SettingsError(key, `${availabilityZones.length} subnet ids (subnet-…), one per zone in availabilityZones`, get(key))
    }
  }
  if (privateRouteTableIds.length !== availabilityZones.length || privateRouteTableIds.some((id) => !/^rtb-[0-9a-f]{8,17}$/.test(id))) {
    throw new SettingsError('privateRouteTableIds', `${availabilityZones.length} route table ids (rtb-…), one per private subnet`, get('privateRouteTableIds'))
  }
  if (typeof cidr !== 'string' || !CIDR.test(cidr)) throw new SettingsError('vpcCidr', "the existing VPC's CIDR, e.g. 10.0.0.0/16", cidr)
  return { vpcId, availabilityZones, privateSubnetIds, privateRouteTableIds, publicSubnetIds, cidr }
}

/** Settings from a construct tree's context (`app.node`), over the defaults; throws SettingsError on a bad value. */
export function settingsFromContext(node: Node): KmsShareSettings {
  const get = (key: string): unknown => node.tryGetContext(key)
  const bucketName = get('bucketName')
  if (bucketName !== undefined && (typeof bucketName !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName))) {
    throw new SettingsError('bucketName', 'an S3 bucket name', bucketName)
  }
  const keyAlias = get('keyAlias') ?? DEFAULT_SETTINGS.keyAlias
  if (typeof keyAlias !== 'string' || !/^alias\/[\w/-]+$/.test(keyAlias) || keyAlias.startsWith('alias/aws/')) {
    throw new SettingsError('keyAlias', 'alias/NAME (not alias/aws/…)', keyAlias)
  }
  const instanceTypes: KmsShareSettings['instanceTypes'] = {}
  for (const duty of ['upload', 'download', 'keyadmin', 'audit'] as const) {
    const key = `${duty}InstanceType`
    if (get(key) !== undefined) instanceTypes[duty] = text(key, get(key), '', INSTANCE_TYPE, 'an EC2 instance type such as t3.small')
  }
  const keyMfaUsers = list(get('keyMfaUsers')) ?? DEFAULT_SETTINGS.keyMfaUsers
  if (keyMfaUsers.length === 0 || keyMfaUsers.some((u) => !/^[\w+=,.@-]{1,64}$/.test(u))) throw new SettingsError('keyMfaUsers', 'IAM user names, comma-separated', get('keyMfaUsers'))
  const vpc = existingVpc(get)
  const protection = get('terminationProtection')
  return {
    ...(typeof bucketName === 'string' ? { bucketName } : {}),
    keyAlias,
    keyMfaUsers,
    ...(vpc ? { existingVpc: vpc } : {}),
    vpcCidr: vpc ? vpc.cidr : text('vpcCidr', get('vpcCidr'), DEFAULT_SETTINGS.vpcCidr, CIDR, 'a CIDR such as 10.20.0.0/16'),
    natGateways: integer('natGateways', get('natGateways'), DEFAULT_SETTINGS.natGateways, 0, 3),
    instanceType: text('instanceType', get('instanceType'), DEFAULT_SETTINGS.instanceType, INSTANCE_TYPE, 'an EC2 instance type such as t3.small'),
    instanceTypes,
    downloadShards: integer('downloadShards', get('downloadShards'), DEFAULT_SETTINGS.downloadShards, 1, 8),
    maxInstances: integer('maxInstances', get('maxInstances'), DEFAULT_SETTINGS.maxInstances, 1, 20),
    terminationProtection: protection === undefined ? true : !(protection === false || protection === 'false'),
  }
}
