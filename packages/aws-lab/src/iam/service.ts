// IAM (query protocol): what the workshop does in the console, as API calls.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_Operations.html
import { AwsError, type AuthCheck, type Operation, type OperationContext, type ServiceDefinition } from '../core/types.js'
import { mfaArn, policyArn, roleArn, userArn } from '../core/arn.js'
import { checkTotp } from '../sts/model.js'
import type { IamModel, InstanceProfileRecord, ManagedPolicyRecord, RoleRecord, UserRecord } from './model.js'
import { randomBytes } from 'node:crypto'
import { Secret } from 'otpauth'

// The members these operations read are scalars, which the query protocol hands over as strings.
type Input = Partial<Record<string, string>>

function required(input: Input, name: string): string {
  const value = input[name]
  if (value === undefined || value === '') {
    const field = name.charAt(0).toLowerCase() + name.slice(1)
    throw new AwsError('ValidationError', `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`, 400)
  }
  return String(value)
}

const userOut = (u: UserRecord) => ({ Path: u.Path, UserName: u.UserName, UserId: u.UserId, Arn: u.Arn, CreateDate: new Date(u.CreateDate) })
// IAM returns policy documents URL-encoded in its XML, as AWS does.
const roleOut = (r: RoleRecord) => ({
  Path: r.Path,
  RoleName: r.RoleName,
  RoleId: r.RoleId,
  Arn: r.Arn,
  CreateDate: new Date(r.CreateDate),
  AssumeRolePolicyDocument: encodeURIComponent(r.AssumeRolePolicyDocument),
  Description: r.Description,
  MaxSessionDuration: r.MaxSessionDuration,
})

export function createIamService(iam: IamModel): ServiceDefinition {
  const acct = iam.accountId
  const policyOut = (p: ManagedPolicyRecord) => ({
    PolicyName: p.PolicyName,
    PolicyId: p.PolicyId,
    Arn: p.Arn,
    Path: p.Path,
    DefaultVersionId: p.DefaultVersionId,
    AttachmentCount: iam.attachmentCount(p.Arn),
    PermissionsBoundaryUsageCount: 0,
    IsAttachable: true,
    Description: p.Description,
    CreateDate: new Date(p.CreateDate),
    UpdateDate: new Date(p.UpdateDate),
  })
  /** The user an operation acts on: UserName, or the calling user when omitted (AWS's rule for self-service calls). */
  const targetUser = (input: Input, ctx: OperationContext): string => {
    if (input.UserName) return String(input.UserName)
    if (ctx.caller.userName) return ctx.caller.userName
    throw new AwsError('ValidationError', 'Must specify userName when calling with non-User credentials', 400)
  }
  const check = (op: string, resource: string): AuthCheck[] => [{ action: `iam:${op}`, resource }]
  const op = (name: string, resource: (input: Input, ctx: OperationContext) => string, run: (input: Input, ctx: OperationContext) => unknown, readOnly = false): [string, Operation<Input, unknown>] => [
    name,
    { readOnly, authorize: (input: Input, ctx: OperationContext) => check(name, resource(input, ctx)), run },
  ]
  const instanceProfileOut = (p: InstanceProfileRecord) => ({
    Path: p.Path,
    InstanceProfileName: p.InstanceProfileName,
    InstanceProfileId: p.InstanceProfileId,
    Arn: p.Arn,
    CreateDate: new Date(p.CreateDate),
    Roles: p.Roles.filter((name) => iam.state.roles[name]).map((name) => roleOut(iam.state.roles[name])),
  })
  const instanceProfileRes = (input: Input) => `arn:aws:iam::${acct}:instance-profile${input.Path ?? '/'}${required(input, 'InstanceProfileName')}`
  const userRes = (input: Input, ctx: OperationContext) => userArn(acct, targetUser(input, ctx))
  const roleRes = (input: Input) => roleArn(acct, required(input, 'RoleName'))
  const policyRes = (input: Input) => required(input, 'PolicyArn')

  const operations: Record<string, Operation<Input, unknown>> = Object.fromEntries([
    // ---- users
    op('CreateUser', (i) => userArn(acct, required(i, 'UserName'), i.Path ?? '/'), (i) => ({ User: userOut(iam.createUser(required(i, 'UserName'), i.Path ?? '/')) })),
    op('GetUser', userRes, (i, ctx) => ({ User: userOut(iam.user(targetUser(i, ctx))) }), true),
    op('ListUsers', () => `arn:aws:iam::${acct}:user/`, () => ({ Users: Object.values(iam.state.users).map(userOut), IsTruncated: false }), true),
    op('DeleteUser', userRes, (i) => void iam.deleteUser(required(i, 'UserName'))),
    // ---- access keys
    op('CreateAccessKey', userRes, (i, ctx) => {
      const key = iam.createAccessKey(targetUser(i, ctx))
      return { AccessKey: { UserName: key.UserName, AccessKeyId: key.AccessKeyId, Status: key.Status, SecretAccessKey: key.SecretAccessKey, CreateDate: new Date(key.CreateDate) } }
    }),
    op('ListAccessKeys', userRes, (i, ctx) => {
      const name = targetUser(i, ctx)
      iam.user(name)
      const keys = Object.values(iam.state.accessKeys).filter((k) => k.UserName === name)
      return { AccessKeyMetadata: keys.map((k) => ({ UserName: k.UserName, AccessKeyId: k.AccessKeyId, Status: k.Status, CreateDate: new Date(k.CreateDate) })), IsTruncated: false }
    }, true),
    op('DeleteAccessKey', userRes, (i, ctx) => void iam.deleteAccessKey(targetUser(i, ctx), required(i, 'AccessKeyId'))),
    // ---- roles
    // CreateRole's answer names MaxSessionDuration only when the request set it (recorded: LocalStack test_sts.py::test_assume_role).
    op('CreateRole', (i) => roleArn(acct, required(i, 'RoleName'), i.Path ?? '/'), (i) => ({
      Role: { ...roleOut(iam.createRole(required(i, 'RoleName'), required(i, 'AssumeRolePolicyDocument'), { path: i.Path, description: i.Description, maxSessionDuration: i.MaxSessionDuration ? Number(i.MaxSessionDuration) : undefined })), ...(i.MaxSessionDuration ? {} : { MaxSessionDuration: undefined }) },
    })),
    op('GetRole', roleRes, (i) => ({ Role: roleOut(iam.role(required(i, 'RoleName'))) }), true),
    op('ListRoles', () => `arn:aws:iam::${acct}:role/`, () => ({ Roles: Object.values(iam.state.roles).map(roleOut), IsTruncated: false }), true),
    op('DeleteRole', roleRes, (i) => void iam.deleteRole(required(i, 'RoleName'))),
    op('UpdateAssumeRolePolicy', roleRes, (i) => void iam.updateAssumeRolePolicy(required(i, 'RoleName'), required(i, 'PolicyDocument'))),
    // ---- inline policies
    op('PutRolePolicy', roleRes, (i) => void iam.putInlinePolicy('role', required(i, 'RoleName'), required(i, 'PolicyName'), required(i, 'PolicyDocument'))),
    op('GetRolePolicy', roleRes, (i) => ({ RoleName: i.RoleName, PolicyName: i.PolicyName, PolicyDocument: encodeURIComponent(iam.getInlinePolicy('role', required(i, 'RoleName'), required(i, 'PolicyName'))) }), true),
    op('DeleteRolePolicy', roleRes, (i) => void iam.deleteInlinePolicy('role', required(i, 'RoleName'), required(i, 'PolicyName'))),
    op('ListRolePolicies', roleRes, (i) => ({ PolicyNames: iam.listInlinePolicies('role', required(i, 'RoleName')), IsTruncated: false }), true),
    op('PutUserPolicy', userRes, (i) => void iam.putInlinePolicy('user', required(i, 'UserName'), required(i, 'PolicyName'), required(i, 'PolicyDocument'))),
    op('GetUserPolicy', userRes, (i) => ({ UserName: i.UserName, PolicyName: i.PolicyName, PolicyDocument: encodeURIComponent(iam.getInlinePolicy('user', required(i, 'UserName'), required(i, 'PolicyName'))) }), true),
    op('DeleteUserPolicy', userRes, (i) => void iam.deleteInlinePolicy('user', required(i, 'UserName'), required(i, 'PolicyName'))),
    op('ListUserPolicies', userRes, (i) => ({ PolicyNames: iam.listInlinePolicies('user', required(i, 'UserName')), IsTruncated: false }), true),
    // ---- managed policies and versions
    op('CreatePolicy', (i) => policyArn(acct, required(i, 'PolicyName'), i.Path ?? '/'), (i) => ({
      Policy: policyOut(iam.createPolicy(required(i, 'PolicyName'), required(i, 'PolicyDocument'), { path: i.Path, description: i.Description })),
    })),
    op('GetPolicy', policyRes, (i) => ({ Policy: policyOut(iam.policy(required(i, 'PolicyArn'))) }), true),
    op('ListPolicies', () => `arn:aws:iam::${acct}:policy/`, (i) => {
      let policies = Object.values(iam.state.policies)
      if (i.OnlyAttached === 'true') policies = policies.filter((p) => iam.attachmentCount(p.Arn) > 0)
      if (i.Scope === 'AWS') policies = []
      return { Policies: policies.map(policyOut), IsTruncated: false }
    }, true),
    op('DeletePolicy', policyRes, (i) => void iam.deletePolicy(required(i, 'PolicyArn'))),
    op('CreatePolicyVersion', policyRes, (i) => {
      const v = iam.createPolicyVersion(required(i, 'PolicyArn'), required(i, 'PolicyDocument'), String(i.SetAsDefault) === 'true')
      return { PolicyVersion: { VersionId: v.VersionId, IsDefaultVersion: v.IsDefaultVersion, CreateDate: new Date(v.CreateDate) } }
    }),
    op('GetPolicyVersion', policyRes, (i) => {
      const arn = required(i, 'PolicyArn')
      const v = iam.policyVersion(arn, required(i, 'VersionId'))
      return { PolicyVersion: { Document: encodeURIComponent(v.Document), VersionId: v.VersionId, IsDefaultVersion: iam.policy(arn).DefaultVersionId === v.VersionId, CreateDate: new Date(v.CreateDate) } }
    }, true),
    op('ListPolicyVersions', policyRes, (i) => {
      const p = iam.policy(required(i, 'PolicyArn'))
      const versions = [...p.versions].reverse().map((v) => ({ VersionId: v.VersionId, IsDefaultVersion: v.VersionId === p.DefaultVersionId, CreateDate: new Date(v.CreateDate) }))
      return { Versions: versions, IsTruncated: false }
    }, true),
    op('SetDefaultPolicyVersion', policyRes, (i) => void iam.setDefaultPolicyVersion(required(i, 'PolicyArn'), required(i, 'VersionId'))),
    op('DeletePolicyVersion', policyRes, (i) => void iam.deletePolicyVersion(required(i, 'PolicyArn'), required(i, 'VersionId'))),
    // ---- attachments
    op('AttachRolePolicy', roleRes, (i) => void iam.attachPolicy('role', required(i, 'RoleName'), required(i, 'PolicyArn'))),
    op('DetachRolePolicy', roleRes, (i) => void iam.detachPolicy('role', required(i, 'RoleName'), required(i, 'PolicyArn'))),
    op('AttachUserPolicy', userRes, (i) => void iam.attachPolicy('user', required(i, 'UserName'), required(i, 'PolicyArn'))),
    op('DetachUserPolicy', userRes, (i) => void iam.detachPolicy('user', required(i, 'UserName'), required(i, 'PolicyArn'))),
    op('ListAttachedRolePolicies', roleRes, (i) => ({
      AttachedPolicies: iam.role(required(i, 'RoleName')).attachedPolicies.map((arn) => ({ PolicyName: iam.state.policies[arn]?.PolicyName ?? arn.split('/').pop(), PolicyArn: arn })),
      IsTruncated: false,
    }), true),
    op('ListAttachedUserPolicies', userRes, (i) => ({
      AttachedPolicies: iam.user(required(i, 'UserName')).attachedPolicies.map((arn) => ({ PolicyName: iam.state.policies[arn]?.PolicyName ?? arn.split('/').pop(), PolicyArn: arn })),
      IsTruncated: false,
    }), true),
    // ---- instance profiles
    op('CreateInstanceProfile', instanceProfileRes, (i) => ({ InstanceProfile: instanceProfileOut(iam.createInstanceProfile(required(i, 'InstanceProfileName'), i.Path ?? '/')) })),
    op('GetInstanceProfile', (i) => iam.instanceProfiles[required(i, 'InstanceProfileName')]?.Arn ?? instanceProfileRes(i), (i) => ({ InstanceProfile: instanceProfileOut(iam.instanceProfile(required(i, 'InstanceProfileName'))) }), true),
    op('ListInstanceProfiles', () => `arn:aws:iam::${acct}:instance-profile/`, (i) => ({
      InstanceProfiles: Object.values(iam.instanceProfiles).filter((p) => !i.PathPrefix || p.Path.startsWith(String(i.PathPrefix))).map(instanceProfileOut),
      IsTruncated: false,
    }), true),
    op('ListInstanceProfilesForRole', roleRes, (i) => {
      const roleName = iam.role(required(i, 'RoleName')).RoleName
      return { InstanceProfiles: Object.values(iam.instanceProfiles).filter((p) => p.Roles.includes(roleName)).map(instanceProfileOut), IsTruncated: false }
    }, true),
    // AWS authorises these on the instance profile and requires iam:PassRole for the role only when launching.
    op('AddRoleToInstanceProfile', (i) => iam.instanceProfiles[required(i, 'InstanceProfileName')]?.Arn ?? instanceProfileRes(i), (i) => void iam.addRoleToInstanceProfile(required(i, 'InstanceProfileName'), required(i, 'RoleName'))),
    op('RemoveRoleFromInstanceProfile', (i) => iam.instanceProfiles[required(i, 'InstanceProfileName')]?.Arn ?? instanceProfileRes(i), (i) => void iam.removeRoleFromInstanceProfile(required(i, 'InstanceProfileName'), required(i, 'RoleName'))),
    op('DeleteInstanceProfile', (i) => iam.instanceProfiles[required(i, 'InstanceProfileName')]?.Arn ?? instanceProfileRes(i), (i) => void iam.deleteInstanceProfile(required(i, 'InstanceProfileName'))),
    // ---- virtual MFA devices
    op('CreateVirtualMFADevice', (i) => mfaArn(acct, required(i, 'VirtualMFADeviceName'), i.Path ?? '/'), (i) => {
      const seed = new Secret({ buffer: randomBytes(20).buffer }).base32
      const device = iam.createVirtualMfaDevice(required(i, 'VirtualMFADeviceName'), seed, i.Path ?? '/')
      // Base32StringSeed is a blob holding the base32 text, as AWS returns it.
      return { VirtualMFADevice: { SerialNumber: device.SerialNumber, Base32StringSeed: Buffer.from(device.Base32StringSeed) } }
    }),
    op('EnableMFADevice', userRes, (i) => {
      const device = iam.mfaDevice(required(i, 'SerialNumber'))
      const c1 = required(i, 'AuthenticationCode1'), c2 = required(i, 'AuthenticationCode2')
      if (c1 === c2 || !checkTotp(device.Base32StringSeed, c1) || !checkTotp(device.Base32StringSeed, c2)) {
        throw new AwsError('InvalidAuthenticationCode', 'Authentication code for device is not valid.', 403)
      }
      iam.enableMfaDevice(required(i, 'UserName'), device.SerialNumber)
    }),
    op('ListMFADevices', userRes, (i, ctx) => {
      const name = targetUser(i, ctx)
      const devices = Object.values(iam.state.mfaDevices).filter((d) => d.UserName === name)
      return { MFADevices: devices.map((d) => ({ UserName: d.UserName, SerialNumber: d.SerialNumber, EnableDate: new Date(d.EnableDate ?? d.CreateDate) })), IsTruncated: false }
    }, true),
    op('ListVirtualMFADevices', () => `arn:aws:iam::${acct}:mfa/`, (i) => {
      let devices = Object.values(iam.state.mfaDevices)
      if (i.AssignmentStatus === 'Assigned') devices = devices.filter((d) => d.UserName)
      if (i.AssignmentStatus === 'Unassigned') devices = devices.filter((d) => !d.UserName)
      return {
        VirtualMFADevices: devices.map((d) => ({
          SerialNumber: d.SerialNumber,
          User: d.UserName && iam.state.users[d.UserName] ? userOut(iam.state.users[d.UserName]) : undefined,
          EnableDate: d.EnableDate ? new Date(d.EnableDate) : undefined,
        })),
        IsTruncated: false,
      }
    }, true),
    op('DeactivateMFADevice', userRes, (i) => void iam.deactivateMfaDevice(required(i, 'UserName'), required(i, 'SerialNumber'))),
    op('DeleteVirtualMFADevice', (i) => required(i, 'SerialNumber'), (i) => void iam.deleteVirtualMfaDevice(required(i, 'SerialNumber'))),
  ])
  for (const operation of Object.values(operations)) {
    const run = operation.run
    // Operations without output answer an empty result element, as the query protocol does.
    operation.run = async (input: Input, ctx: OperationContext) => (await run(input, ctx)) ?? {}
  }
  return { name: 'iam', signingName: 'iam', eventSource: 'iam.amazonaws.com', accessDenied: { code: 'AccessDenied', status: 403 }, operations }
}
