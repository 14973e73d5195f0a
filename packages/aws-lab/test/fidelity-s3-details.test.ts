// S3 details through the AWS SDK v3: x-amz-request-id and x-amz-id-2 on every answer, AccessDenied with
// the resource quoted as S3 writes it, and names such as `constructor` and `__proto__` that are only names
// (buckets, object keys, metadata, IAM users and policies).
// https://docs.aws.amazon.com/AmazonS3/latest/API/RESTCommonResponseHeaders.html
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html (access denied messages)
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
import { CreateUserCommand, GetUserCommand, IAMClient, PutUserPolicyCommand, GetUserPolicyCommand } from '@aws-sdk/client-iam'
import { CreateBucketCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms'
import t from 'tap'
import { startLab } from '../src/app.js'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const dataDir = t.testdir()
const lab = await startTestLab(t, { ...WITHOUT_STACKS, dataDir })
const admin = new S3Client(lab.clientConfig('admin'))
const uploader = new S3Client(lab.clientConfig('uploader'))
const BUCKET = `kmsworkshop-${lab.accountId}`

t.test('x-amz-request-id and x-amz-id-2 on successes and errors', async (t) => {
  const put = await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'ids.txt', Body: 'x' }))
  t.ok(put.$metadata.requestId, 'x-amz-request-id on PutObject')
  t.ok(put.$metadata.extendedRequestId, 'x-amz-id-2 on PutObject')
  const list = await admin.send(new ListBucketsCommand({}))
  t.ok(list.$metadata.requestId && list.$metadata.extendedRequestId)
  const head = await admin.send(new HeadBucketCommand({ Bucket: BUCKET }))
  t.ok(head.$metadata.requestId && head.$metadata.extendedRequestId)
  const err = await admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'missing' })).catch((e) => e)
  t.equal(err.name, 'NoSuchKey')
  t.ok(err.$metadata.requestId && err.$metadata.extendedRequestId)
})

t.test('AccessDenied names the resource in double quotes, as S3 does', async (t) => {
  await t.rejects(uploader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'ids.txt' })), {
    name: 'AccessDenied',
    message: `User: ${lab.callerFor('uploader').principal.arn} is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::${BUCKET}/ids.txt" because no identity-based policy allows the s3:GetObject action`,
  })
})

t.test('a query parameter named `__proto__.x` pollutes nothing (the lab runs in this process)', async (t) => {
  const res = await fetch(lab.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=GetCallerIdentity&Version=2011-06-15&__proto__.labPolluted=yes&constructor.prototype.labPolluted=yes',
    signal: AbortSignal.timeout(10_000),
  })
  t.equal(res.status, 403, 'unsigned: refused')
  t.equal(({} as Record<string, unknown>).labPolluted, undefined, 'Object.prototype untouched')
})

t.test('an encryption context key `__proto__` is a key like any other (KMS binds it, CloudTrail records it)', async (t) => {
  const kms = new KMSClient(lab.clientConfig('admin'))
  const context = JSON.parse('{"__proto__": "p", "purpose": "x"}') as Record<string, string>
  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!
  const blob = (await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('hi'), EncryptionContext: context }))).CiphertextBlob!
  await t.rejects(kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { purpose: 'x' } })), { name: 'InvalidCiphertextException' })
  t.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))).Plaintext!).toString(), 'hi')
  const trail = new CloudTrailClient(lab.clientConfig('admin', { maxAttempts: 10 }))
  const events = (await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Encrypt' }] }))).Events!
  const recorded = JSON.parse(events[0].CloudTrailEvent!).requestParameters.encryptionContext
  t.ok(Object.hasOwn(recorded, '__proto__') && recorded['__proto__'] === 'p', 'recorded with its __proto__ key')
})

t.test('`constructor` and `__proto__` are ordinary names, and survive a restart', async (t) => {
  await t.rejects(admin.send(new HeadBucketCommand({ Bucket: 'constructor' })), { name: 'NotFound' }, 'no such bucket before it is made')
  await admin.send(new CreateBucketCommand({ Bucket: 'constructor', CreateBucketConfiguration: { LocationConstraint: lab.region as 'eu-west-1' } }))
  await admin.send(new PutObjectCommand({ Bucket: 'constructor', Key: '__proto__', Body: 'proto', Metadata: { constructor: 'meta', __proto__: 'p' } }))
  const head = await admin.send(new HeadObjectCommand({ Bucket: 'constructor', Key: '__proto__' }))
  t.equal(head.Metadata?.constructor, 'meta')
  const iam = new IAMClient(lab.clientConfig('admin'))
  for (const UserName of ['constructor', '__proto__']) {
    await iam.send(new CreateUserCommand({ UserName }))
    await iam.send(new PutUserPolicyCommand({ UserName, PolicyName: '__proto__', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }] }) }))
  }
  await lab.close()
  const again = await startLab({ dataDir, seedFile: WITHOUT_STACKS.seedFile, port: 0, quiet: true })
  t.teardown(() => again.close())
  const s3 = new S3Client({ ...lab.clientConfig('admin'), endpoint: again.endpoint })
  t.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'constructor', Key: '__proto__' }))).Body!.transformToString(), 'proto')
  t.ok((await s3.send(new ListBucketsCommand({}))).Buckets?.some((b) => b.Name === 'constructor'))
  const iam2 = new IAMClient({ ...lab.clientConfig('admin'), endpoint: again.endpoint })
  for (const UserName of ['constructor', '__proto__']) {
    t.equal((await iam2.send(new GetUserCommand({ UserName }))).User?.UserName, UserName)
    t.match(decodeURIComponent((await iam2.send(new GetUserPolicyCommand({ UserName, PolicyName: '__proto__' }))).PolicyDocument!), /s3:ListBucket/)
  }
})
