// The seed file (YAML) describes the account; the runner builds it through lab.invoke, so seeding
// takes the same code paths (validation, authorisation, CloudTrail) as clients.
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { findTemplate, MFA_KEY_ADMINISTRATOR, renderTemplate, serviceRole, type Duty } from '@kms-share/policy'
import { totpFor } from '../sts/model.js'
import type { IamModel } from '../iam/model.js'
import type { StsModel } from '../sts/model.js'
import type { Caller } from './types.js'
import type { Ec2Model } from '../ec2/model.js'

export interface SeedFile {
  account?: string
  region?: string
  /** The bucket's name, for `${Bucket}` placeholders. */
  bucket?: string
  /** Buckets the seed itself creates (default: `[bucket]`, as older seeds did); the default seed's is made by KmsShareData. */
  buckets?: string[]
  /** A user with `mfaKeyAdministrator: true` gets @kms-share/policy's MFA_KEY_ADMINISTRATOR identity policy. */
  users?: Array<{ name: string; profile?: string; mfaDevice?: string; mfaKeyAdministrator?: boolean; inlinePolicies?: Record<string, unknown>; managedPolicies?: string[] }>
  managedPolicies?: Array<{ name: string; description?: string; document: unknown }>
  /** A role with a `duty` takes its name, description and identity policy from @kms-share/policy's SERVICE_ROLES. */
  roles?: Array<{ name: string; duty?: Duty; description?: string; profile?: string; sessionName?: string; trustPolicy?: unknown; inlinePolicies?: Record<string, unknown>; managedPolicies?: string[] }>
  defaultTrustPolicy?: unknown
  keys?: Array<{ alias: string; description?: string; origin?: 'EXTERNAL' | 'AWS_KMS'; policy?: SeedKeyPolicy }>
  vpcEndpoints?: Array<{ id: string; vpcId?: string }>
  /** EC2 networks: each VPC with its subnets and security groups. */
  vpcs?: Array<{
    id: string
    cidr: string
    enableDnsHostnames?: boolean
    enableDnsSupport?: boolean
    tags?: Record<string, string>
    subnets?: Array<{ id: string; cidr: string; availabilityZone?: string; tags?: Record<string, string> }>
    securityGroups?: Array<{ id: string; name: string; description?: string; tags?: Record<string, string> }>
  }>
  /** Parameter Store values the account starts with (name → value), e.g. CDK's `/cdk-bootstrap/hnb659fds/version`. */
  ssmParameters?: Record<string, string>
  /** One instance per service (and the workshop's); each gets an instance profile named after its role. */
  instances?: Array<{ name: string; id: string; role?: string; subnet: string; securityGroups: string[]; privateIp: string; instanceType?: string }>
  /** Profiles for roles a deployment makes: once the role exists, the lab issues its profile a session of its own. */
  roleProfiles?: Array<{ role: string; profile: string; sessionName?: string }>
  /** The stacks the lab deploys at start when it is given their templates (`startLab({ deploy })`, LAB_TEMPLATE_DIR). */
  deploy?: SeedDeploy
}

/** A stack parameter's value: a string, or the ARN of a key the seed made, by alias (known only once seeded). */
export type SeedParameterValue = string | { keyArnOf: string }

export interface SeedDeploy {
  stacks: string[]
  parameters?: Record<string, Record<string, SeedParameterValue>>
}

/**
 * A key policy rendered from one of @kms-share/policy's templates (the function keyadmin renders) and put
 * by `appliedBy`, an IAM user with an MFA device, through an MFA session as keyadmin's MFA path would.
 */
export interface SeedKeyPolicy {
  template: string
  appliedBy: string
  parameters: Record<string, unknown>
}

/** What the lab remembers about its seed: which credentials belong to which profile. */
export interface LabSection {
  seededAt?: string
  seedFile?: string
  profiles: Record<string, { accessKeyId: string }>
  mfaDevices: Record<string, string>
  vpcEndpoints: Array<{ id: string; vpcId: string }>
  /** Seed key policies not yet put: they may name roles a deployment makes, so they go in after the deploy step. */
  pendingKeyPolicies?: Array<{ keyId: string; alias: string; policy: SeedKeyPolicy }>
  /** The role id each role profile's session was issued for (a role deleted and made again gets a new session). */
  roleProfileIds?: Record<string, string>
}

export function loadSeed(file: string, accountId: string, region: string): SeedFile {
  const raw = parseYaml(readFileSync(file, 'utf8')) as SeedFile
  const bucket = raw.bucket ?? `kmsworkshop-${accountId}`
  // Placeholders are filled in the document text, so they work in any field.
  const text = JSON.stringify(raw).replaceAll('${AccountId}', accountId).replaceAll('${Region}', region).replaceAll('${Bucket}', bucket)
  const seed = JSON.parse(text) as SeedFile
  seed.roles = seed.roles?.map((r) => withDutyPolicy(r, { accountId, region, bucket }))
  seed.users = seed.users?.map((u) => (u.mfaKeyAdministrator
    ? { ...u, inlinePolicies: { [MFA_KEY_ADMINISTRATOR.policyName]: MFA_KEY_ADMINISTRATOR.document({ accountId, region, bucket }), ...u.inlinePolicies } }
    : u))
  return seed
}

type SeedRole = NonNullable<SeedFile['roles']>[number]

// One definition of each service role: the seed names the duty, the policy comes from @kms-share/policy.
function withDutyPolicy(role: SeedRole, names: { accountId: string; region: string; bucket: string }): SeedRole {
  if (!role.duty) return role
  const def = serviceRole(role.duty)
  if (role.name !== def.roleName) throw new Error(`seed role ${role.name} has duty ${role.duty}, whose role is named ${def.roleName}`)
  if (role.inlinePolicies?.[def.policyName]) throw new Error(`seed role ${role.name}: ${def.policyName} comes from its duty; do not write it in the seed`)
  return { ...role, description: role.description ?? def.description, inlinePolicies: { [def.policyName]: def.document(names), ...role.inlinePolicies } }
}

const doc = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value))
const blob = (v: unknown) => (Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v) : Buffer.from(String(v), 'base64'))

export interface SeedContext {
  seed: SeedFile
  iam: IamModel
  sts: StsModel
  lab: LabSection
  hasService(name: string): boolean
  invoke<O = unknown>(service: string, operation: string, input: unknown, as: string | Caller): Promise<O>
  callerForAccessKey(accessKeyId: string): Caller
  warn(message: string): void
  /** Where VPCs, subnets, security groups and instances go (they have no create API in the lab). */
  ec2?: Ec2Model
  /** Leave the seed's keys with AWS's default key policy (the workshop's starting point) instead of their `policy`. */
  defaultKeyPolicy?: boolean
}

export async function runSeed(c: SeedContext): Promise<void> {
  const { seed, iam, sts, lab } = c
  const users = seed.users ?? []
  // Bootstrap: the first user (the administrator) is created directly, since someone must sign the rest.
  const [first, ...others] = users
  if (!first) throw new Error('the seed needs at least one user (the administrator)')
  iam.createUser(first.name)
  for (const [name, policy] of Object.entries(first.inlinePolicies ?? {})) iam.putInlinePolicy('user', first.name, name, doc(policy))
  const adminKey = iam.createAccessKey(first.name)
  if (first.profile) lab.profiles[first.profile] = { accessKeyId: adminKey.AccessKeyId }
  const admin = c.callerForAccessKey(adminKey.AccessKeyId)
  const call = <O = unknown>(service: string, operation: string, input: unknown) => c.invoke<O>(service, operation, input, admin)

  for (const p of seed.managedPolicies ?? []) {
    await call('iam', 'CreatePolicy', { PolicyName: p.name, PolicyDocument: doc(p.document), Description: p.description })
  }
  const policyArn = (name: string) => `arn:aws:iam::${iam.accountId}:policy/${name}`
  for (const name of first.managedPolicies ?? []) await call('iam', 'AttachUserPolicy', { UserName: first.name, PolicyArn: policyArn(name) })

  for (const u of others) {
    await call('iam', 'CreateUser', { UserName: u.name })
    for (const [name, policy] of Object.entries(u.inlinePolicies ?? {})) await call('iam', 'PutUserPolicy', { UserName: u.name, PolicyName: name, PolicyDocument: doc(policy) })
    for (const name of u.managedPolicies ?? []) await call('iam', 'AttachUserPolicy', { UserName: u.name, PolicyArn: policyArn(name) })
    const key = await call<{ AccessKey: { AccessKeyId: string } }>('iam', 'CreateAccessKey', { UserName: u.name })
    if (u.profile) lab.profiles[u.profile] = { accessKeyId: key.AccessKey.AccessKeyId }
    if (u.mfaDevice) {
      const device = await call<{ VirtualMFADevice: { SerialNumber: string; Base32StringSeed: unknown } }>('iam', 'CreateVirtualMFADevice', { VirtualMFADeviceName: u.mfaDevice })
      const seedText = blob(device.VirtualMFADevice.Base32StringSeed).toString('utf8')
      // EnableMFADevice wants two consecutive codes, as the console asks for: this step's and the next, both still
      // valid (one step either side) if the call lands in the next 30-second step, as it may on a loaded machine.
      const totp = totpFor(seedText)
      const now = Date.now()
      await call('iam', 'EnableMFADevice', {
        UserName: u.name,
        SerialNumber: device.VirtualMFADevice.SerialNumber,
        AuthenticationCode1: totp.generate({ timestamp: now }),
        AuthenticationCode2: totp.generate({ timestamp: now + 30_000 }),
      })
      lab.mfaDevices[u.name] = device.VirtualMFADevice.SerialNumber
    }
  }

  for (const r of seed.roles ?? []) {
    await call('iam', 'CreateRole', { RoleName: r.name, AssumeRolePolicyDocument: doc(r.trustPolicy ?? seed.defaultTrustPolicy), Description: r.description, MaxSessionDuration: '43200' })
    for (const [name, policy] of Object.entries(r.inlinePolicies ?? {})) await call('iam', 'PutRolePolicy', { RoleName: r.name, PolicyName: name, PolicyDocument: doc(policy) })
    for (const name of r.managedPolicies ?? []) await call('iam', 'AttachRolePolicy', { RoleName: r.name, PolicyArn: policyArn(name) })
    if (r.profile) {
      // Profile sessions never expire: they live as long as the lab's data (AWS caps AssumeRole at 12 h).
      const role = iam.role(r.name)
      const session = sts.issue({ kind: 'role', roleName: role.RoleName, roleId: role.RoleId, sessionName: r.sessionName ?? `${r.profile}-session` })
      lab.profiles[r.profile] = { accessKeyId: session.AccessKeyId }
    }
  }

  await seedEc2(c, call)

  lab.vpcEndpoints = (seed.vpcEndpoints ?? []).map((e) => ({ id: e.id, vpcId: e.vpcId ?? 'vpc-0lab0000000000001' }))

  for (const bucket of seed.buckets ?? (seed.bucket ? [seed.bucket] : [])) {
    if (c.hasService('s3')) await call('s3', 'CreateBucket', { Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: seed.region } })
    else c.warn(`S3 is not registered: bucket ${bucket} not created`)
  }

  for (const k of seed.keys ?? []) {
    if (!c.hasService('kms')) {
      c.warn(`KMS is not registered: key ${k.alias} not created`)
      continue
    }
    const created = await call<{ KeyMetadata: { KeyId: string } }>('kms', 'CreateKey', { Description: k.description, Origin: k.origin ?? 'AWS_KMS' })
    const keyId = created.KeyMetadata.KeyId
    if (k.origin === 'EXTERNAL') {
      // As the workshop does with openssl: 32 random bytes wrapped with the import public key (RSAES_OAEP_SHA_256).
      const params = await call<{ PublicKey: unknown; ImportToken: unknown }>('kms', 'GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })
      const publicKey = createPublicKey({ key: blob(params.PublicKey), format: 'der', type: 'spki' })
      const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32))
      await call('kms', 'ImportKeyMaterial', {
        KeyId: keyId,
        ImportToken: typeof params.ImportToken === 'string' ? params.ImportToken : blob(params.ImportToken).toString('base64'),
        EncryptedKeyMaterial: wrapped.toString('base64'),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      })
    }
    await call('kms', 'CreateAlias', { AliasName: k.alias, TargetKeyId: keyId })
    // Put after the deploy step (applySeedAfterDeploy): the policy may name roles the stacks make.
    if (k.policy && !c.defaultKeyPolicy) (lab.pendingKeyPolicies ??= []).push({ keyId, alias: k.alias, policy: k.policy })
  }
}

/**
 * After the start's deploy step (or on any start): each role profile whose role now exists gets a session (again,
 * when the role was made anew), and each pending seed key policy whose principals now exist is put. Answers what
 * it did, and what still waits (a key policy naming a role no stack has made yet), for the log.
 */
export async function applySeedAfterDeploy(c: Pick<SeedContext, 'seed' | 'iam' | 'sts' | 'lab' | 'invoke' | 'callerForAccessKey'>): Promise<{ profiles: string[]; keyPolicies: string[]; waiting: string[] }> {
  const { seed, iam, sts, lab } = c
  const done = { profiles: [] as string[], keyPolicies: [] as string[], waiting: [] as string[] }
  lab.roleProfileIds ??= {}
  for (const p of seed.roleProfiles ?? []) {
    const role = Object.hasOwn(iam.state.roles, p.role) ? iam.state.roles[p.role] : undefined
    if (!role || (lab.profiles[p.profile] && lab.roleProfileIds[p.profile] === role.RoleId)) continue
    // Profile sessions never expire: they live as long as the lab's data (AWS caps AssumeRole at 12 h).
    const session = sts.issue({ kind: 'role', roleName: role.RoleName, roleId: role.RoleId, sessionName: p.sessionName ?? `${p.profile}-session` })
    lab.profiles[p.profile] = { accessKeyId: session.AccessKeyId }
    lab.roleProfileIds[p.profile] = role.RoleId
    done.profiles.push(p.profile)
  }
  const waiting: NonNullable<LabSection['pendingKeyPolicies']> = []
  for (const pending of lab.pendingKeyPolicies ?? []) {
    try {
      await putSeedKeyPolicy(c, pending.keyId, pending.alias, pending.policy)
      done.keyPolicies.push(pending.alias)
    } catch (err) {
      // KMS refuses a policy naming a principal that does not exist (yet): it waits for the stacks.
      if ((err as { code?: string }).code !== 'MalformedPolicyDocumentException') throw err
      waiting.push(pending)
      done.waiting.push(pending.alias)
    }
  }
  lab.pendingKeyPolicies = waiting
  return done
}

// Put as the MFA user through a session the lab's STS issues directly: no TOTP code is spent, so the
// device's next codes stay free for the people and tests that use it.
async function putSeedKeyPolicy(c: Pick<SeedContext, 'sts' | 'lab' | 'invoke' | 'callerForAccessKey'>, keyId: string, alias: string, p: SeedKeyPolicy): Promise<void> {
  const template = findTemplate(p.template)
  if (!template) throw new Error(`seed key ${alias}: no policy template ${p.template}`)
  const { policy } = renderTemplate(template, p.parameters)
  if (!c.lab.mfaDevices[p.appliedBy]) throw new Error(`seed key ${alias}: appliedBy ${p.appliedBy} must be a seed user with an mfaDevice`)
  const session = c.sts.issue({ kind: 'user', userName: p.appliedBy, expiresAt: Date.now() + 900_000, mfaAuthTime: Date.now() })
  await c.invoke('kms', 'PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: policy }, c.callerForAccessKey(session.AccessKeyId))
}

/** VPCs, subnets, security groups; then per instance an instance profile (named after its role) and the instance. */
export async function seedEc2(c: Pick<SeedContext, 'seed' | 'iam' | 'ec2' | 'warn'>, call: (service: string, operation: string, input: unknown) => Promise<unknown>): Promise<void> {
  const { seed, ec2 } = c
  if (!ec2) {
    if (seed.vpcs?.length || seed.instances?.length) c.warn('EC2 is not available: VPCs and instances not created')
    return
  }
  for (const v of seed.vpcs ?? []) {
    ec2.addVpc({ vpcId: v.id, cidrBlock: v.cidr, enableDnsHostnames: v.enableDnsHostnames, enableDnsSupport: v.enableDnsSupport, tags: v.tags })
    for (const s of v.subnets ?? []) ec2.addSubnet({ subnetId: s.id, vpcId: v.id, cidrBlock: s.cidr, availabilityZone: s.availabilityZone, tags: s.tags })
    for (const g of v.securityGroups ?? []) ec2.addSecurityGroup({ groupId: g.id, groupName: g.name, description: g.description, vpcId: v.id, tags: g.tags })
  }
  for (const i of seed.instances ?? []) {
    if (i.role && !c.iam.instanceProfiles[i.role]) {
      await call('iam', 'CreateInstanceProfile', { InstanceProfileName: i.role })
      await call('iam', 'AddRoleToInstanceProfile', { InstanceProfileName: i.role, RoleName: i.role })
    }
    ec2.addInstance({ instanceId: i.id, name: i.name, subnetId: i.subnet, securityGroupIds: i.securityGroups, privateIpAddress: i.privateIp, instanceProfileName: i.role, instanceType: i.instanceType })
  }
}

/**
 * On a start from an existing data folder: the seed's service roles and MFA key administrator get their
 * current definitions back, so a folder seeded by an older version never keeps wider permissions than
 * packages/policy defines. Answers the names whose policy changed.
 */
export async function reapplyDefinitions(seed: SeedFile, iam: IamModel, call: (service: string, operation: string, input: unknown) => Promise<unknown>): Promise<string[]> {
  const changed: string[] = []
  const differs = (stored: string | undefined, wanted: unknown) => stored === undefined || JSON.stringify(JSON.parse(stored)) !== JSON.stringify(wanted)
  for (const r of seed.roles ?? []) {
    const role = r.duty && Object.hasOwn(iam.state.roles, r.name) ? iam.state.roles[r.name] : undefined
    if (!role || !r.duty) continue
    const { policyName } = serviceRole(r.duty)
    const wanted = r.inlinePolicies?.[policyName]
    if (!differs(role.inlinePolicies[policyName], wanted)) continue
    await call('iam', 'PutRolePolicy', { RoleName: r.name, PolicyName: policyName, PolicyDocument: doc(wanted) })
    changed.push(r.name)
  }
  for (const u of seed.users ?? []) {
    const user = u.mfaKeyAdministrator && Object.hasOwn(iam.state.users, u.name) ? iam.state.users[u.name] : undefined
    if (!user) continue
    const { policyName } = MFA_KEY_ADMINISTRATOR
    const wanted = u.inlinePolicies?.[policyName]
    if (!differs(user.inlinePolicies[policyName], wanted)) continue
    await call('iam', 'PutUserPolicy', { UserName: u.name, PolicyName: policyName, PolicyDocument: doc(wanted) })
    changed.push(u.name)
  }
  return changed
}
