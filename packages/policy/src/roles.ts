// The one definition of kms-share's service roles: the lab's seed, the CDK app and the READMEs all take
// each role's identity policy from here, so a permission is added or removed in one place.
import { UnknownDutyError } from './errors.js'
import { KEY_ADMIN_ACTIONS, KEY_READ_ACTIONS, MFA_SENSITIVE_ACTIONS } from './kms-actions.js'
import type { PolicyDocument, Statement } from './types.js'

/** Where a deployment lives: the values a role's policy names. */
export interface DeploymentNames {
  accountId: string
  region: string
  bucket: string
  /** `aws` unless given (`aws-cn`, `aws-us-gov`). */
  partition?: string
}

export type Duty = 'upload' | 'download' | 'keyadmin' | 'audit'

export interface ServiceRoleDefinition {
  duty: Duty
  /** The IAM role's name, e.g. `kms-share-uploader`. */
  roleName: string
  description: string
  /** The name of the role's inline identity policy. */
  policyName: string
  /** The role's identity policy for a deployment. */
  document(names: DeploymentNames): PolicyDocument
}

interface Arns {
  bucket: string
  objects: string
  keys: string
  aliases: string
  s3Service: string
}

function arns(names: DeploymentNames): Arns {
  const partition = names.partition ?? 'aws'
  // China's regions answer under amazonaws.com.cn, which kms:ViaService names.
  const suffix = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com'
  return {
    bucket: `arn:${partition}:s3:::${names.bucket}`,
    objects: `arn:${partition}:s3:::${names.bucket}/*`,
    keys: `arn:${partition}:kms:${names.region}:${names.accountId}:key/*`,
    aliases: `arn:${partition}:kms:${names.region}:${names.accountId}:alias/*`,
    s3Service: `s3.${names.region}.${suffix}`,
  }
}

const policy = (...statements: Statement[]): PolicyDocument => ({ Version: '2012-10-17', Statement: statements })
const allow = (sid: string, action: string[], resource: string[], condition?: Statement['Condition']): Statement =>
  ({ Sid: sid, Effect: 'Allow', Action: action, Resource: resource, ...(condition ? { Condition: condition } : {}) })

const uploader: ServiceRoleDefinition = {
  duty: 'upload',
  roleName: 'kms-share-uploader',
  description: 'The upload service: writes objects under SSE-KMS, never reads one.',
  policyName: 'kms-share-upload',
  document: (names) => {
    const a = arns(names)
    return policy(
      allow('WriteObjects', ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], [a.objects]),
      allow('ListBucket', ['s3:ListBucket', 's3:ListBucketMultipartUploads'], [a.bucket]),
      allow('DataKeys', ['kms:GenerateDataKey'], [a.keys]),
      // S3 decrypts a multipart upload's data key to complete it; nothing else may.
      allow('DecryptOnlyThroughS3', ['kms:Decrypt'], [a.keys], { StringEquals: { 'kms:ViaService': [a.s3Service] } }),
    )
  },
}

const downloader: ServiceRoleDefinition = {
  duty: 'download',
  roleName: 'kms-share-downloader',
  description: 'The download service: reads and decrypts objects, never writes one.',
  policyName: 'kms-share-download',
  document: (names) => {
    const a = arns(names)
    return policy(
      allow('ReadObjects', ['s3:GetObject'], [a.objects]),
      allow('ListBucket', ['s3:ListBucket'], [a.bucket]),
      allow('Decrypt', ['kms:Decrypt', 'kms:DescribeKey'], [a.keys]),
    )
  },
}

const keyadmin: ServiceRoleDefinition = {
  duty: 'keyadmin',
  roleName: 'kms-share-keyadmin',
  description: 'The key administration service: manages keys and never uses them; the sensitive operations need the MFA key administrator.',
  policyName: 'kms-share-keyadmin',
  document: (names) => {
    const a = arns(names)
    return policy(
      // Exactly what keyadmin's routes call with this role; the sensitive operations are not here at all.
      allow('KeyAdministration', [...KEY_ADMIN_ACTIONS], [a.keys]),
      // An alias needs permission on the alias (here) and on its key (above).
      allow('CreateAliases', ['kms:CreateAlias'], [a.aliases]),
      allow('KeysAndAliases', ['kms:CreateKey', 'kms:ListKeys', 'kms:ListAliases'], ['*']),
      // Before a key is disabled or deleted, the impact report says when CloudTrail last saw it used.
      allow('LastUseOfKeys', ['cloudtrail:LookupEvents'], ['*']),
      allow('VpcEndpoints', [
        'ec2:DescribeVpcAttribute', 'ec2:DescribeVpcEndpoints', 'ec2:CreateVpcEndpoint', 'ec2:ModifyVpcEndpoint', 'ec2:DeleteVpcEndpoints',
      ], ['*']),
      // Read-only IAM: who can do what with a key depends on each principal's identity policies too.
      allow('ReadIdentityPolicies', [
        'iam:ListRoles', 'iam:ListUsers', 'iam:ListRolePolicies', 'iam:GetRolePolicy', 'iam:ListAttachedRolePolicies', 'iam:ListUserPolicies',
        'iam:GetUserPolicy', 'iam:ListAttachedUserPolicies', 'iam:GetPolicy', 'iam:GetPolicyVersion',
      ], ['*']),
    )
  },
}

const auditor: ServiceRoleDefinition = {
  duty: 'audit',
  roleName: 'kms-share-auditor',
  description: 'The audit worker: reads CloudTrail and object metadata, never object content.',
  policyName: 'kms-share-audit',
  document: (names) => {
    const a = arns(names)
    return policy(
      allow('LookupEvents', ['cloudtrail:LookupEvents'], ['*']),
      allow('ListBucket', ['s3:ListBucket'], [a.bucket]),
      // HeadObject needs s3:GetObject; the auditor holds no kms:Decrypt, so it never reads content.
      allow('HeadObjects', ['s3:GetObject'], [a.objects]),
    )
  },
}

export const SERVICE_ROLES: readonly ServiceRoleDefinition[] = Object.freeze([uploader, downloader, keyadmin, auditor])

export function serviceRole(duty: Duty): ServiceRoleDefinition {
  const found = SERVICE_ROLES.find((r) => r.duty === duty)
  if (!found) throw new UnknownDutyError(JSON.stringify(duty), SERVICE_ROLES.map((r) => r.duty).join(', '))
  return found
}

/** An identity policy for people (IAM users or groups), not a service role. */
export interface PersonPolicyDefinition {
  policyName: string
  description: string
  document(names: DeploymentNames): PolicyDocument
}

/**
 * The person who performs the sensitive key operations: AWS gives MFA sessions only to IAM users, so
 * keyadmin runs those operations as this user, with the session STS GetSessionToken gives for a code.
 */
export const MFA_KEY_ADMINISTRATOR: PersonPolicyDefinition = {
  policyName: 'kms-share-mfa-key-administrator',
  description: 'The sensitive key operations, only with MFA; reading keys; the user\'s own MFA device.',
  document: (names) => {
    const a = arns(names)
    const partition = names.partition ?? 'aws'
    return policy(
      allow('SensitiveKeyOperationsWithMfa', [...MFA_SENSITIVE_ACTIONS], [a.keys, a.aliases], { Bool: { 'aws:MultiFactorAuthPresent': ['true'] } }),
      allow('ReadKeys', [...KEY_READ_ACTIONS], [a.keys]),
      allow('ListKeysAndAliases', ['kms:ListKeys', 'kms:ListAliases'], ['*']),
      allow('OwnMfaDevice', ['iam:ListMFADevices', 'iam:GetUser'], [`arn:${partition}:iam::${names.accountId}:user/\${aws:username}`]),
    )
  },
}
