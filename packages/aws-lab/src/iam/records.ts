// The records IAM keeps in the lab's state: users, roles, managed policies with versions, access keys,
// virtual MFA devices, instance profiles.

export interface UserRecord {
  UserName: string
  UserId: string
  Arn: string
  Path: string
  CreateDate: string
  inlinePolicies: Record<string, string>
  attachedPolicies: string[]
}

export interface RoleRecord {
  RoleName: string
  RoleId: string
  Arn: string
  Path: string
  CreateDate: string
  AssumeRolePolicyDocument: string
  Description?: string
  MaxSessionDuration: number
  inlinePolicies: Record<string, string>
  attachedPolicies: string[]
}

export interface PolicyVersionRecord {
  VersionId: string
  Document: string
  CreateDate: string
}

export interface ManagedPolicyRecord {
  PolicyName: string
  PolicyId: string
  Arn: string
  Path: string
  Description?: string
  CreateDate: string
  UpdateDate: string
  DefaultVersionId: string
  nextVersion: number
  versions: PolicyVersionRecord[]
}

export interface AccessKeyRecord {
  AccessKeyId: string
  SecretAccessKey: string
  UserName: string
  Status: 'Active' | 'Inactive'
  CreateDate: string
}

export interface MfaDeviceRecord {
  SerialNumber: string
  Base32StringSeed: string
  UserName?: string
  EnableDate?: string
  CreateDate: string
}

export interface InstanceProfileRecord {
  InstanceProfileName: string
  InstanceProfileId: string
  Arn: string
  Path: string
  CreateDate: string
  /** Role names; AWS allows at most one. */
  Roles: string[]
}

export interface IamState {
  users: Record<string, UserRecord>
  roles: Record<string, RoleRecord>
  policies: Record<string, ManagedPolicyRecord>
  accessKeys: Record<string, AccessKeyRecord>
  mfaDevices: Record<string, MfaDeviceRecord>
  /** Absent in data folders made before instance profiles existed. */
  instanceProfiles?: Record<string, InstanceProfileRecord>
}
