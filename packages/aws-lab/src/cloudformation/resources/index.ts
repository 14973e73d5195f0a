// The resource types the lab deploys, each backed by lab resources. Any other type fails the
// stack with "Resource type … is not supported by aws-lab" (engine.ts) — never a silent success.
import { cdkMetadata } from './cdk.js'
import { instanceProfile, managedPolicy, policy, role } from './iam.js'
import { alias, key } from './kms.js'
import { bucket, bucketPolicy } from './s3.js'
import type { ResourceHandler } from './types.js'

export const RESOURCE_HANDLERS: Record<string, ResourceHandler> = {
  'AWS::IAM::Role': role,
  'AWS::IAM::Policy': policy,
  'AWS::IAM::ManagedPolicy': managedPolicy,
  'AWS::IAM::InstanceProfile': instanceProfile,
  'AWS::KMS::Key': key,
  'AWS::KMS::Alias': alias,
  'AWS::S3::Bucket': bucket,
  'AWS::S3::BucketPolicy': bucketPolicy,
  'AWS::CDK::Metadata': cdkMetadata,
}
