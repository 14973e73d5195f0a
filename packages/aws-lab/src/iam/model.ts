// IAM state and rules: users, roles, managed policies with versions, access keys, virtual MFA devices.
// Never sees a request; the IAM service maps API calls onto it and the core resolves callers from it.
import { parsePolicy, type NamedPolicy, type PolicyDocument } from '@kms-share/policy'
import { admitIdentityPolicy } from './admission.js'
import { AwsError, type IamDirectory, type StateStore } from '../core/types.js'
import { awsId, mfaArn, policyArn, roleArn, rootArn, secretKey, userArn } from '../core/arn.js'
import type { UserRecord, RoleRecord, PolicyVersionRecord, ManagedPolicyRecord, AccessKeyRecord, MfaDeviceRecord, InstanceProfileRecord, IamState } from './records.js'

export type { UserRecord, RoleRecord, PolicyVersionRecord, ManagedPolicyRecord, AccessKeyRecord, MfaDeviceRecord, InstanceProfileRecord, IamState } from './records.js'

const MAX_POLICY_VERSIONS = 5
const NAME = /^[\w+=,.@-]{1,128}$/

export const noSuchEntity = (message: string) => new AwsError('NoSuchEntity', message, 404)
const exists = (message: string) => new AwsError('EntityAlreadyExists', message, 409)
const validation = (message: string) => new AwsError('ValidationError', message, 400)

function now(): string {
  return new Date().toISOString()
}

/** Parse a policy document or throw IAM's MalformedPolicyDocument with the first finding. */
export function parsePolicyText(text: string, errorCode = 'MalformedPolicyDocument'): PolicyDocument {
  const result = parsePolicy(text)
  const firstError = result.findings.find((f) => f.severity === 'ERROR')
  if (!result.document || firstError) {
    const detail = firstError ? `${firstError.message}` : 'Syntax errors in policy.'
    throw new AwsError(errorCode, detail, 400)
  }
  return result.document
}

export class IamModel implements IamDirectory {
  private readonly parsed = new Map<string, PolicyDocument>()

  constructor(private readonly store: StateStore, readonly accountId: string) {}

  get state(): IamState {
    return this.store.section<IamState>('iam', () => ({ users: {}, roles: {}, policies: {}, accessKeys: {}, mfaDevices: {} }))
  }

  save(): void {
    this.store.save('iam')
  }

  /** Parsed documents are cached by text: identity policies are resolved on every request. */
  document(text: string): PolicyDocument {
    let doc = this.parsed.get(text)
    if (!doc) {
      doc = parsePolicyText(text)
      this.parsed.set(text, doc)
    }
    return doc
  }

  principalExists(arn: string): boolean {
    if (arn === '*' || !arn.startsWith('arn:')) return true
    if (arn === rootArn(this.accountId)) return true
    const parts = arn.split(':')
    if (parts[4] !== this.accountId) return /^\d{12}$/.test(parts[4] ?? '')
    const resource = parts.slice(5).join(':')
    const name = resource.split('/').pop() ?? ''
    if (resource.startsWith('user/')) return Boolean(this.state.users[name])
    if (resource.startsWith('role/')) return Boolean(this.state.roles[name])
    if (parts[2] === 'sts' && resource.startsWith('assumed-role/')) return Boolean(this.state.roles[resource.split('/')[1]])
    return false
  }

  // ---- users
  createUser(name: string, path = '/'): UserRecord {
    if (!NAME.test(name)) throw validation(`1 validation error detected: Value '${name}' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`)
    if (this.state.users[name]) throw exists(`User with name ${name} already exists.`)
    const user: UserRecord = { UserName: name, UserId: awsId('AIDA', 17), Arn: userArn(this.accountId, name, path), Path: path, CreateDate: now(), inlinePolicies: Object.create(null) as UserRecord['inlinePolicies'], attachedPolicies: [] }
    this.state.users[name] = user
    this.save()
    return user
  }

  user(name: string): UserRecord {
    const user = this.state.users[name]
    if (!user) throw noSuchEntity(`The user with name ${name} cannot be found.`)
    return user
  }

  deleteUser(name: string): void {
    const user = this.user(name)
    const keys = Object.values(this.state.accessKeys).some((k) => k.UserName === name)
    const mfa = Object.values(this.state.mfaDevices).some((d) => d.UserName === name)
    if (keys || mfa || Object.keys(user.inlinePolicies).length || user.attachedPolicies.length) {
      throw new AwsError('DeleteConflict', 'Cannot delete entity, must delete policies first.', 409)
    }
    delete this.state.users[name]
    this.save()
  }

  createAccessKey(userName: string): AccessKeyRecord {
    this.user(userName)
    if (Object.values(this.state.accessKeys).filter((k) => k.UserName === userName).length >= 2) {
      throw new AwsError('LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2', 409)
    }
    const key: AccessKeyRecord = { AccessKeyId: awsId('AKIA'), SecretAccessKey: secretKey(), UserName: userName, Status: 'Active', CreateDate: now() }
    this.state.accessKeys[key.AccessKeyId] = key
    this.save()
    return key
  }

  deleteAccessKey(userName: string, accessKeyId: string): void {
    const key = this.state.accessKeys[accessKeyId]
    if (!key || key.UserName !== userName) throw noSuchEntity(`The Access Key with id ${accessKeyId} cannot be found.`)
    delete this.state.accessKeys[accessKeyId]
    this.save()
  }

  // ---- roles
  createRole(name: string, trustPolicy: string, opts: { path?: string; description?: string; maxSessionDuration?: number } = {}): RoleRecord {
    if (!NAME.test(name)) throw validation(`1 validation error detected: Value '${name}' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`)
    if (this.state.roles[name]) throw exists(`Role with name ${name} already exists.`)
    this.document(trustPolicy)
    const path = opts.path ?? '/'
    const role: RoleRecord = {
      RoleName: name,
      RoleId: awsId('AROA', 17),
      Arn: roleArn(this.accountId, name, path),
      Path: path,
      CreateDate: now(),
      AssumeRolePolicyDocument: trustPolicy,
      Description: opts.description,
      MaxSessionDuration: opts.maxSessionDuration ?? 3600,
      inlinePolicies: Object.create(null) as RoleRecord['inlinePolicies'],
      attachedPolicies: [],
    }
    this.state.roles[name] = role
    this.save()
    return role
  }

  role(name: string): RoleRecord {
    const role = this.state.roles[name]
    if (!role) throw noSuchEntity(`The role with name ${name} cannot be found.`)
    return role
  }

  deleteRole(name: string): void {
    const role = this.role(name)
    if (Object.values(this.instanceProfiles).some((p) => p.Roles.includes(name))) throw new AwsError('DeleteConflict', 'Cannot delete entity, must remove roles from instance profile first.', 409)
    if (Object.keys(role.inlinePolicies).length || role.attachedPolicies.length) {
      throw new AwsError('DeleteConflict', 'Cannot delete entity, must delete policies first.', 409)
    }
    delete this.state.roles[name]
    this.save()
  }

  updateAssumeRolePolicy(name: string, document: string): void {
    const role = this.role(name)
    this.document(document)
    role.AssumeRolePolicyDocument = document
    this.save()
  }

  // ---- inline policies (users and roles share the shape)
  private principal(kind: 'user' | 'role', name: string): UserRecord | RoleRecord {
    return kind === 'user' ? this.user(name) : this.role(name)
  }

  putInlinePolicy(kind: 'user' | 'role', name: string, policyName: string, document: string): void {
    const entity = this.principal(kind, name)
    admitIdentityPolicy(document)
    this.document(document)
    // IAM quotas: a role's inline policies together at most 10,240 characters, a user's 2,048 (whitespace not counted).
    const limit = kind === 'role' ? 10_240 : 2_048
    const size = (text: string) => text.replace(/\s/g, '').length
    const others = Object.entries(entity.inlinePolicies).filter(([n]) => n !== policyName).reduce((sum, [, text]) => sum + size(text), 0)
    if (others + size(document) > limit) throw new AwsError('LimitExceeded', `Maximum policy size of ${limit} bytes exceeded for ${kind} ${name}`, 409)
    entity.inlinePolicies[policyName] = document
    this.save()
  }

  getInlinePolicy(kind: 'user' | 'role', name: string, policyName: string): string {
    const entity = this.principal(kind, name)
    const doc = entity.inlinePolicies[policyName]
    if (doc === undefined) throw noSuchEntity(`The ${kind} policy with name ${policyName} cannot be found.`)
    return doc
  }

  deleteInlinePolicy(kind: 'user' | 'role', name: string, policyName: string): void {
    this.getInlinePolicy(kind, name, policyName)
    delete this.principal(kind, name).inlinePolicies[policyName]
    this.save()
  }

  listInlinePolicies(kind: 'user' | 'role', name: string): string[] {
    return Object.keys(this.principal(kind, name).inlinePolicies).sort()
  }

  // ---- managed policies
  createPolicy(name: string, document: string, opts: { path?: string; description?: string } = {}): ManagedPolicyRecord {
    const path = opts.path ?? '/'
    const arn = policyArn(this.accountId, name, path)
    if (this.state.policies[arn]) throw exists(`A policy called ${name} already exists. Duplicate names are not allowed.`)
    admitIdentityPolicy(document, 'policyDocument', true)
    this.document(document)
    const time = now()
    const policy: ManagedPolicyRecord = {
      PolicyName: name,
      PolicyId: awsId('ANPA', 17),
      Arn: arn,
      Path: path,
      Description: opts.description,
      CreateDate: time,
      UpdateDate: time,
      DefaultVersionId: 'v1',
      nextVersion: 2,
      versions: [{ VersionId: 'v1', Document: document, CreateDate: time }],
    }
    this.state.policies[arn] = policy
    this.save()
    return policy
  }

  policy(arn: string): ManagedPolicyRecord {
    const policy = this.state.policies[arn]
    if (!policy) throw noSuchEntity(`Policy ${arn} does not exist or is not attachable.`)
    return policy
  }

  attachmentCount(arn: string): number {
    let count = 0
    for (const e of [...Object.values(this.state.users), ...Object.values(this.state.roles)]) if (e.attachedPolicies.includes(arn)) count++
    return count
  }

  deletePolicy(arn: string): void {
    const policy = this.policy(arn)
    if (this.attachmentCount(arn) > 0) throw new AwsError('DeleteConflict', 'Cannot delete a policy attached to entities.', 409)
    if (policy.versions.length > 1) throw new AwsError('DeleteConflict', 'This policy has more than one version. Before you delete a policy, you must delete the policy\'s versions. The default version is deleted with the policy.', 409)
    delete this.state.policies[arn]
    this.save()
  }

  createPolicyVersion(arn: string, document: string, setAsDefault: boolean): PolicyVersionRecord & { IsDefaultVersion: boolean } {
    const policy = this.policy(arn)
    if (policy.versions.length >= MAX_POLICY_VERSIONS) {
      throw new AwsError('LimitExceeded', `A managed policy can have up to ${MAX_POLICY_VERSIONS} versions. Before you create a new version, you must delete an existing version.`, 409)
    }
    admitIdentityPolicy(document, 'policyDocument', true)
    this.document(document)
    const version: PolicyVersionRecord = { VersionId: `v${policy.nextVersion++}`, Document: document, CreateDate: now() }
    policy.versions.push(version)
    if (setAsDefault) policy.DefaultVersionId = version.VersionId
    policy.UpdateDate = version.CreateDate
    this.save()
    return { ...version, IsDefaultVersion: setAsDefault }
  }

  policyVersion(arn: string, versionId: string): PolicyVersionRecord {
    const version = this.policy(arn).versions.find((v) => v.VersionId === versionId)
    if (!version) throw noSuchEntity(`Policy ${arn} version ${versionId} does not exist or is not attachable.`)
    return version
  }

  setDefaultPolicyVersion(arn: string, versionId: string): void {
    const policy = this.policy(arn)
    this.policyVersion(arn, versionId)
    policy.DefaultVersionId = versionId
    this.save()
  }

  deletePolicyVersion(arn: string, versionId: string): void {
    const policy = this.policy(arn)
    this.policyVersion(arn, versionId)
    if (policy.DefaultVersionId === versionId) throw new AwsError('DeleteConflict', 'Cannot delete the default version of a policy.', 409)
    policy.versions = policy.versions.filter((v) => v.VersionId !== versionId)
    this.save()
  }

  attachPolicy(kind: 'user' | 'role', name: string, arn: string): void {
    const entity = this.principal(kind, name)
    this.policy(arn)
    if (!entity.attachedPolicies.includes(arn)) entity.attachedPolicies.push(arn)
    this.save()
  }

  detachPolicy(kind: 'user' | 'role', name: string, arn: string): void {
    const entity = this.principal(kind, name)
    if (!entity.attachedPolicies.includes(arn)) throw noSuchEntity(`Policy ${arn} was not found.`)
    entity.attachedPolicies = entity.attachedPolicies.filter((a) => a !== arn)
    this.save()
  }

  /** The policies a user or role has right now: inline ones plus the default version of each attached one. */
  identityPolicies(kind: 'user' | 'role', name: string): NamedPolicy[] {
    const entity = kind === 'user' ? this.state.users[name] : this.state.roles[name]
    if (!entity) return []
    const out: NamedPolicy[] = []
    for (const [policyName, text] of Object.entries(entity.inlinePolicies)) out.push({ name: policyName, document: this.document(text) })
    for (const arn of entity.attachedPolicies) {
      const policy = this.state.policies[arn]
      const version = policy?.versions.find((v) => v.VersionId === policy.DefaultVersionId)
      if (policy && version) out.push({ name: policy.PolicyName, document: this.document(version.Document) })
    }
    return out
  }

  // ---- instance profiles (what EC2 hands an instance: at most one role)
  get instanceProfiles(): Record<string, InstanceProfileRecord> {
    return (this.state.instanceProfiles ??= Object.create(null) as Record<string, InstanceProfileRecord>)
  }

  createInstanceProfile(name: string, path = '/'): InstanceProfileRecord {
    if (!NAME.test(name)) throw validation(`1 validation error detected: Value '${name}' at 'instanceProfileName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`)
    if (this.instanceProfiles[name]) throw exists(`Instance Profile ${name} already exists.`)
    const profile: InstanceProfileRecord = { InstanceProfileName: name, InstanceProfileId: awsId('AIPA', 17), Arn: `arn:aws:iam::${this.accountId}:instance-profile${path}${name}`, Path: path, CreateDate: now(), Roles: [] }
    this.instanceProfiles[name] = profile
    this.save()
    return profile
  }

  instanceProfile(name: string): InstanceProfileRecord {
    const profile = this.instanceProfiles[name]
    if (!profile) throw noSuchEntity(`Instance Profile ${name} cannot be found.`)
    return profile
  }

  addRoleToInstanceProfile(name: string, roleName: string): void {
    const profile = this.instanceProfile(name)
    this.role(roleName)
    if (profile.Roles.length >= 1) throw new AwsError('LimitExceeded', 'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1', 409)
    profile.Roles.push(roleName)
    this.save()
  }

  removeRoleFromInstanceProfile(name: string, roleName: string): void {
    const profile = this.instanceProfile(name)
    if (!profile.Roles.includes(roleName)) throw noSuchEntity(`The role with name ${roleName} cannot be found.`)
    profile.Roles = profile.Roles.filter((r) => r !== roleName)
    this.save()
  }

  deleteInstanceProfile(name: string): void {
    const profile = this.instanceProfile(name)
    if (profile.Roles.length) throw new AwsError('DeleteConflict', 'Cannot delete entity, must remove roles from instance profile first.', 409)
    delete this.instanceProfiles[name]
    this.save()
  }

  // ---- virtual MFA devices
  createVirtualMfaDevice(name: string, seed: string, path = '/'): MfaDeviceRecord {
    const serial = mfaArn(this.accountId, name, path)
    if (this.state.mfaDevices[serial]) throw exists(`MFADevice entity at the same path and name already exists.`)
    const device: MfaDeviceRecord = { SerialNumber: serial, Base32StringSeed: seed, CreateDate: now() }
    this.state.mfaDevices[serial] = device
    this.save()
    return device
  }

  mfaDevice(serial: string): MfaDeviceRecord {
    const device = this.state.mfaDevices[serial]
    if (!device) throw noSuchEntity(`VirtualMFADevice with serial number ${serial} doesn't exist.`)
    return device
  }

  enableMfaDevice(userName: string, serial: string): void {
    this.user(userName)
    const device = this.mfaDevice(serial)
    if (device.UserName) throw exists('MFA Device is already in use.')
    device.UserName = userName
    device.EnableDate = now()
    this.save()
  }

  deactivateMfaDevice(userName: string, serial: string): void {
    const device = this.mfaDevice(serial)
    if (device.UserName !== userName) throw noSuchEntity(`MFA Device with serial number ${serial} does not exist.`)
    delete device.UserName
    delete device.EnableDate
    this.save()
  }

  deleteVirtualMfaDevice(serial: string): void {
    const device = this.mfaDevice(serial)
    if (device.UserName) throw new AwsError('DeleteConflict', 'MFA Device is still in use', 409)
    delete this.state.mfaDevices[serial]
    this.save()
  }
}
