// S3 bucket configurations the lab applies, through the SDK: Block Public Access refusing a public
// bucket policy and public ACLs, BucketOwnerEnforced refusing ACLs, lifecycle rules aborting old
// incomplete multipart uploads and expiring old objects, and the Get/Delete answers for each.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpu-abort-incomplete-mpu-lifecycle-config.html
import t from 'tap'
import {
  CreateBucketCommand, CreateMultipartUploadCommand, GetBucketLifecycleConfigurationCommand, GetBucketVersioningCommand, GetPublicAccessBlockCommand,
  ListMultipartUploadsCommand, ListObjectsV2Command, PutBucketLifecycleConfigurationCommand, PutBucketOwnershipControlsCommand, PutBucketPolicyCommand,
  PutBucketVersioningCommand, PutObjectCommand, PutPublicAccessBlockCommand, DeletePublicAccessBlockCommand, S3Client,
} from '@aws-sdk/client-s3'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const s3 = new S3Client(lab.clientConfig('admin'))
const bucket = 'config-bucket'
await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }))
const publicPolicy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` }] })

t.test('BlockPublicPolicy refuses a public bucket policy, not one fixed to a VPC endpoint', async (t) => {
  await t.rejects(s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })), { name: 'NoSuchPublicAccessBlockConfiguration', message: 'The public access block configuration was not found' })
  await s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true } }))
  t.match((await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration, { BlockPublicPolicy: true, BlockPublicAcls: true })
  await t.rejects(s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: publicPolicy })), { name: 'AccessDenied', message: `User: arn:aws:iam::111122223333:user/admin is not authorized to perform: s3:PutBucketPolicy on resource: "arn:aws:s3:::${bucket}" because public policies are blocked by the BlockPublicPolicy block public access setting.` })
  const fixed = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*`, Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-0123456789abcdef0' } } }] })
  await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: fixed }))
  await t.rejects(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'p', Body: 'x', ACL: 'public-read' })), { name: 'AccessDenied' }, 'BlockPublicAcls refuses a public canned ACL')
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }))
  await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: publicPolicy }))
})

t.test('BucketOwnerEnforced: ACLs are off, bucket-owner-full-control alone is accepted', async (t) => {
  await s3.send(new PutBucketOwnershipControlsCommand({ Bucket: bucket, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] } }))
  await t.rejects(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl', Body: 'x', ACL: 'private' })), { name: 'AccessControlListNotSupported', message: 'The bucket does not allow ACLs' })
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'owner', Body: 'x', ACL: 'bucket-owner-full-control' }))
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain', Body: 'x' }))
})

t.test('lifecycle rules abort incomplete uploads and expire objects once their days have passed', async (t) => {
  await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [
    { ID: 'abort', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
    { ID: 'expire-tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } },
  ] } }))
  t.match((await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules, [{ ID: 'abort', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }, { ID: 'expire-tmp', Expiration: { Days: 1 } }])
  await t.rejects(s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [{ ID: 'none', Status: 'Enabled', Filter: { Prefix: '' } }] } })), { name: 'InvalidRequest', message: 'At least one action needs to be specified in a rule' })
  await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'big' }))
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'tmp/scratch', Body: 'x' }))
  const day = 86_400_000
  t.equal(lab.sweepS3Lifecycle(new Date(Date.now() + 6 * day)), 1, 'six days on: the tmp/ object expired, the upload is still young')
  t.equal((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.length, 1)
  t.equal(lab.sweepS3Lifecycle(new Date(Date.now() + 8 * day)), 1, 'eight days on: the upload is aborted')
  t.equal((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads, undefined)
  t.same((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((o) => o.Key), ['owner', 'plain'], 'other objects stay')
})

t.test('versioning is recorded and reported', async (t) => {
  t.same((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status, undefined)
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }))
  t.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status, 'Enabled')
})
