// The stateful stack (lab-deployable: KMS and S3): the key and the bucket, retained when the stack is deleted
// and protected against termination. Its key policy names the roles, so the identity stack comes first.
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { serviceRole } from '@kms-share/policy'
import { ShareBucket } from '../constructs/share-bucket.js'
import { ShareKey } from '../constructs/share-key.js'
import { acknowledge } from '../nag.js'

export interface DataStackProps extends StackProps {
  bucketName: string
  keyAlias: string
  /** IAM users (with MFA devices) who perform the key's sensitive operations; they must exist before the key. */
  keyMfaUsers: string[]
  /** The export name of the key's ARN. */
  keyArnExport: string
}

export class DataStack extends Stack {
  readonly key: ShareKey
  readonly bucket: ShareBucket

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props)
    const role = (duty: 'upload' | 'download' | 'keyadmin' | 'audit') => serviceRole(duty).roleName
    this.key = new ShareKey(this, 'Key', {
      alias: props.keyAlias,
      bucketName: props.bucketName,
      templateParameters: {
        administrators: [`arn:aws:iam::\${accountId}:role/${role('keyadmin')}`],
        mfaPrincipals: props.keyMfaUsers.map((user) => `arn:aws:iam::\${accountId}:user/${user}`),
        uploaderRole: role('upload'),
        downloaderRole: role('download'),
        auditorRole: role('audit'),
      },
    })
    this.bucket = new ShareBucket(this, 'Share', { bucketName: props.bucketName, keyArn: this.key.keyArn })
    new CfnOutput(this, 'KeyArn', { value: this.key.keyArn, exportName: props.keyArnExport, description: 'The key every object is encrypted under (KMS_KEY_ID of the upload service)' })
    acknowledge(this, { 'CloudFormation-Validate::W1001': 'The output names the key only inside Fn::If on the key\'s own condition (CreateKey); otherwise ExistingKeyArn.' })
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucket.bucketName, description: 'The bucket (BUCKET of every service)' })
    new CfnOutput(this, 'AccessLogBucketName', { value: this.bucket.logs.bucketName, description: "The bucket's server access logs and the VPC's rejected-traffic flow logs" })
  }
}
