// AWS managed keys and predefined aliases, and the SSE-KMS details a learner trips on, through the
// AWS SDK v3 and AWS CLI v2.
// https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html (predefined aliases)
// https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html (aws:kms without a key id → aws/s3)
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html (SSE-KMS ETags are not an MD5 of the data)
import { createHash } from 'node:crypto'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import {
  CreateKeyCommand, DescribeKeyCommand, DisableKeyRotationCommand, GetKeyRotationStatusCommand, KMSClient, ListAliasesCommand,
  PutKeyPolicyCommand, ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import { HeadObjectCommand, PutBucketEncryptionCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import t from 'tap'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const exec = promisify(execFile)
const lab = await startTestLab(t, WITHOUT_STACKS)
const admin = new KMSClient(lab.clientConfig('admin'))
const s3 = new S3Client(lab.clientConfig('admin'))
const BUCKET = `kmsworkshop-${lab.accountId}`

t.test('ListAliases lists the predefined alias/aws/* aliases without a target until first use', async (t) => {
  const aliases = (await admin.send(new ListAliasesCommand({ Limit: 100 }))).Aliases!
  const s3alias = aliases.find((a) => a.AliasName === 'alias/aws/s3')
  t.ok(s3alias, 'alias/aws/s3 is listed')
  t.equal(s3alias!.AliasArn, `arn:aws:kms:${lab.region}:${lab.accountId}:alias/aws/s3`)
  t.equal(s3alias!.TargetKeyId, undefined, 'no target before use')
  t.ok(aliases.some((a) => a.AliasName === 'alias/aws/ebs'))
})

t.test('describe-key --key-id alias/aws/s3 (AWS CLI v2) creates and shows the AWS managed key; it refuses administration', async (t) => {
  const { stdout } = await exec('/usr/bin/aws', ['--endpoint-url', lab.endpoint, '--profile', 'admin', '--output', 'json', 'kms', 'describe-key', '--key-id', 'alias/aws/s3'], { env: lab.cliEnv(), timeout: 60_000 })
  const md = JSON.parse(stdout).KeyMetadata
  t.equal(md.KeyManager, 'AWS')
  t.equal(md.Description, 'Default key that protects my S3 objects when no other key is defined')
  const again = (await admin.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!
  t.equal(again.KeyId, md.KeyId, 'created once')
  const listed = (await admin.send(new ListAliasesCommand({ Limit: 100 }))).Aliases!.find((a) => a.AliasName === 'alias/aws/s3')
  t.equal(listed!.TargetKeyId, md.KeyId, 'the alias now has its target')
  // AWS managed keys rotate every year and their policy lets nobody administer them.
  t.equal((await admin.send(new GetKeyRotationStatusCommand({ KeyId: md.KeyId }))).KeyRotationEnabled, true)
  const denied = { name: 'AccessDeniedException', message: /because no resource-based policy allows the kms:/ }
  await t.rejects(admin.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default', Policy: '{}' })), denied)
  await t.rejects(admin.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId })), denied)
  await t.rejects(admin.send(new DisableKeyRotationCommand({ KeyId: md.KeyId })), denied)
})

t.test('SSE-KMS without a key id uses aws/s3 even when the bucket default names a key; ETags are not the MD5', async (t) => {
  const cmk = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!
  await s3.send(new PutBucketEncryptionCommand({
    Bucket: BUCKET,
    ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: cmk.Arn } }] },
  }))
  const managed = (await admin.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!
  const explicit = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'explicit-aws-kms', Body: 'x', ServerSideEncryption: 'aws:kms' }))
  t.equal(explicit.SSEKMSKeyId, managed.Arn, 'the header without a key id means aws/s3')
  const byDefault = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'bucket-default', Body: 'x' }))
  t.equal(byDefault.SSEKMSKeyId, cmk.Arn, 'no header: the bucket default')
  const md5 = `"${createHash('md5').update('x').digest('hex')}"`
  t.not(explicit.ETag, md5)
  t.equal((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'explicit-aws-kms' }))).ETag, explicit.ETag, 'stable')
  const sses3 = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'sse-s3', Body: 'x', ServerSideEncryption: 'AES256' }))
  t.equal(sses3.ETag, md5, 'SSE-S3 ETags stay the MD5')
})
