// The bucket every object lives in: SSE-KMS under the share's key with S3 Bucket Keys by default, public access
// blocked, TLS only, puts that name another encryption refused, incomplete multipart uploads aborted, and server
// access logs in a bucket of their own.
import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as kms from 'aws-cdk-lib/aws-kms'
import * as s3 from 'aws-cdk-lib/aws-s3'
import { Construct } from 'constructs'
import { acknowledge } from '../nag.js'

export interface ShareBucketProps {
  bucketName: string
  keyArn: string
  /** Days after which parts of an upload nobody completed are deleted (and stop costing). */
  abortIncompleteUploadsAfterDays?: number
  /** Days server access logs are kept. */
  logRetentionDays?: number
}

export class ShareBucket extends Construct {
  readonly bucket: s3.Bucket
  readonly logs: s3.Bucket

  constructor(scope: Construct, id: string, props: ShareBucketProps) {
    super(scope, id)
    // Server access logs cannot be delivered to an SSE-KMS bucket: this one uses SSE-S3.
    this.logs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'expire-logs', expiration: Duration.days(props.logRetentionDays ?? 90) },
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    })
    acknowledge(this.logs, {
      'AwsSolutions-S1': 'This is the access-log bucket itself; logging it into itself would log every log delivery.',
    })

    const key = kms.Key.fromKeyArn(this, 'Key', props.keyArn)
    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logs,
      serverAccessLogsPrefix: 'share/',
      lifecycleRules: [{ id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(props.abortIncompleteUploadsAfterDays ?? 2) }],
      removalPolicy: RemovalPolicy.RETAIN,
    })
    // A put that asks for no encryption gets the default (SSE-KMS under the key); one that names another
    // algorithm, another key, or a customer-provided key is refused. Each deny needs its header present (Null
    // false): UploadPart carries no SSE headers, and an ...IfExists operator would hold for an absent header.
    const objects = this.bucket.arnForObjects('*')
    this.bucket.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'DenyPutsWithOtherEncryption',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObject'],
      resources: [objects],
      conditions: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' }, Null: { 's3:x-amz-server-side-encryption': 'false' } },
    }))
    this.bucket.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'DenyPutsUnderAnotherKey',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObject'],
      resources: [objects],
      conditions: { StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': props.keyArn }, Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'false' } },
    }))
    // aws:kms without a key id may mean the AWS managed key aws/s3.
    this.bucket.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'DenyKmsPutsWithoutTheKeyId',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObject'],
      resources: [objects],
      conditions: { StringEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' }, Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'true' } },
    }))
    this.bucket.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'DenyCustomerProvidedKeys',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObject'],
      resources: [objects],
      conditions: { Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' } },
    }))
  }
}
