// S3 through the real AWS SDK for JavaScript v3 (default checksums) against a fresh lab.
import t from 'tap'
import { randomBytes, createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  S3Client, PutObjectCommand, GetObjectCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command,
  DeleteObjectCommand, DeleteObjectsCommand, CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, HeadBucketCommand,
  PutBucketEncryptionCommand, GetBucketEncryptionCommand, PutBucketPolicyCommand, GetBucketPolicyCommand, DeleteBucketPolicyCommand,
} from '@aws-sdk/client-s3'
import { KMSClient, DescribeKeyCommand, EncryptCommand } from '@aws-sdk/client-kms'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const BUCKET = 'kmsworkshop-111122223333'

/** The HTTP status an SDK call failed with (HEAD and 304 answers carry no error document). */
async function statusOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call
    return 200
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  }
}

// Real clients (Python CLI startups, SDK retries) on a shared, busy machine: allow more than tap's default.
t.setTimeout(10 * 60 * 1000)

t.test('S3 through SDK v3', async (t) => {
  const lab = await startTestLab(t, { ...WITHOUT_STACKS, defaultKeyPolicy: true })
  const admin = new S3Client(lab.clientConfig('admin'))
  const workshop = new S3Client(lab.clientConfig('workshop'))
  const kms = new KMSClient(lab.clientConfig('admin'))
  const cmk = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/ImportedCMK' }))).KeyMetadata!
  t.teardown(() => { admin.destroy(); workshop.destroy(); kms.destroy() })

  t.test('the seed bucket is listed', async (t) => {
    const out = await workshop.send(new ListBucketsCommand({}))
    t.ok(out.Buckets?.some((b) => b.Name === BUCKET))
    await workshop.send(new HeadBucketCommand({ Bucket: BUCKET }))
  })

  t.test('PutObject with SSE-KMS and default checksums, GetObject returns the bytes', async (t) => {
    const body = randomBytes(200_000)
    const put = await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/one.bin', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: cmk.KeyId }))
    t.equal(put.ServerSideEncryption, 'aws:kms')
    t.equal(put.SSEKMSKeyId, cmk.Arn)
    // SSE-KMS ETags are not the MD5 of the data (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html).
    t.match(put.ETag, /^"[0-9a-f]{32}"$/)
    t.not(put.ETag, `"${createHash('md5').update(body).digest('hex')}"`)
    t.ok(put.ChecksumCRC32, 'CRC32 echoed')
    const head = await workshop.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'a/one.bin' }))
    t.equal(head.ServerSideEncryption, 'aws:kms')
    t.equal(head.SSEKMSKeyId, cmk.Arn)
    t.equal(head.ContentLength, body.length)
    const get = await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'a/one.bin', ChecksumMode: 'ENABLED' }))
    t.same(Buffer.from(await get.Body!.transformToByteArray()), body)
    t.equal(get.ChecksumCRC32, put.ChecksumCRC32)
  })

  t.test('a streamed body goes as aws-chunked (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with a CRC32 trailer', async (t) => {
    const parts = [randomBytes(70_000), randomBytes(3), randomBytes(100_000)]
    const body = Readable.from(parts)
    const sent: Record<string, string>[] = []
    workshop.middlewareStack.add((next) => async (args: any) => {
      sent.push({ ...args.request.headers })
      return next(args)
    }, { step: 'finalizeRequest', name: 'captureHeaders', priority: 'low' })
    t.teardown(() => workshop.middlewareStack.remove('captureHeaders'))
    const put = await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/stream.bin', Body: body, ContentLength: 170_003 }))
    t.ok(put.ChecksumCRC32, 'trailer checksum verified and echoed')
    t.match(sent[0], { 'content-encoding': /aws-chunked/, 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-content-sha256': /^STREAMING-/ })
    t.equal(put.ServerSideEncryption, 'AES256', 'SSE-S3 by default')
    const get = await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'a/stream.bin' }))
    t.same(Buffer.from(await get.Body!.transformToByteArray()), Buffer.concat(parts))
  })

  t.test('ranges, conditional reads and writes', async (t) => {
    const body = randomBytes(300_000)
    const put = await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'r.bin', Body: body }))
    const part = await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'r.bin', Range: 'bytes=65530-131080' }))
    t.equal(part.ContentRange, `bytes 65530-131080/${body.length}`)
    t.same(Buffer.from(await part.Body!.transformToByteArray()), body.subarray(65530, 131081))
    const tail = await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'r.bin', Range: 'bytes=-10' }))
    t.same(Buffer.from(await tail.Body!.transformToByteArray()), body.subarray(-10))
    await t.rejects(workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'r.bin', Range: `bytes=${body.length}-` })), { name: 'InvalidRange', $metadata: { httpStatusCode: 416 } })
    t.equal(await statusOf(workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'r.bin', IfNoneMatch: put.ETag }))), 304)
    await t.rejects(workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'r.bin', IfMatch: '"0000"' })), { name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } })
    const ok = await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'r.bin', IfMatch: put.ETag, ResponseContentType: 'text/x-lab', ResponseContentDisposition: 'attachment' }))
    t.equal(ok.ContentType, 'text/x-lab')
    t.equal(ok.ContentDisposition, 'attachment')
    await ok.Body!.transformToByteArray()
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
    await t.rejects(workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'r.bin', Body: 'x', IfNoneMatch: '*' })), { name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } })
    await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'new.bin', Body: 'x', IfNoneMatch: '*' }))
  })

  t.test('BadDigest when the checksum does not match, and no object is left', async (t) => {
    await t.rejects(
      workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'bad.bin', Body: Buffer.from('hello'), ChecksumCRC32: 'AAAAAA==' })),
      { name: 'BadDigest', $metadata: { httpStatusCode: 400 } },
    )
    t.equal(await statusOf(workshop.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'bad.bin' }))), 404)
  })

  t.test('list with prefix, delimiter, pages', async (t) => {
    for (const k of ['l/a', 'l/b/1', 'l/b/2', 'l/c', 'l/d/x']) await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: k }))
    const top = await workshop.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'l/', Delimiter: '/' }))
    t.same(top.Contents?.map((c) => c.Key), ['l/a', 'l/c'])
    t.same(top.CommonPrefixes?.map((c) => c.Prefix), ['l/b/', 'l/d/'])
    const keys: string[] = []
    let token: string | undefined
    let pages = 0
    do {
      const page = await workshop.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'l/', MaxKeys: 2, ContinuationToken: token }))
      keys.push(...(page.Contents ?? []).map((c) => c.Key!))
      token = page.NextContinuationToken
      pages++
    } while (token)
    t.same(keys, ['l/a', 'l/b/1', 'l/b/2', 'l/c', 'l/d/x'])
    t.equal(pages, 3)
    const after = await workshop.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'l/', StartAfter: 'l/b/2' }))
    t.same(after.Contents?.map((c) => c.Key), ['l/c', 'l/d/x'])
    const del = await admin.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: 'l/a' }, { Key: 'l/c' }] } }))
    t.same(del.Deleted?.map((d) => d.Key).sort(), ['l/a', 'l/c'])
    await admin.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'l/b/1' }))
    const rest = await workshop.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'l/' }))
    t.same(rest.Contents?.map((c) => c.Key), ['l/b/2', 'l/d/x'])
  })

  t.test('CopyObject re-encrypts under the destination settings', async (t) => {
    const body = randomBytes(100_000)
    await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'copy-src', Body: body }))
    const copy = await workshop.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'copy-dst', CopySource: `${BUCKET}/copy-src`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
    t.equal(copy.ServerSideEncryption, 'aws:kms')
    t.equal(copy.SSEKMSKeyId, cmk.Arn)
    const get = await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'copy-dst' }))
    t.equal(get.ServerSideEncryption, 'aws:kms')
    t.same(Buffer.from(await get.Body!.transformToByteArray()), body)
  })

  t.test('buckets, default encryption, policies', async (t) => {
    await admin.send(new CreateBucketCommand({ Bucket: 'lab-extra', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }))
    await t.rejects(admin.send(new CreateBucketCommand({ Bucket: 'lab-extra', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })), { name: 'BucketAlreadyOwnedByYou' })
    const before = await admin.send(new GetBucketEncryptionCommand({ Bucket: 'lab-extra' }))
    t.equal(before.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm, 'AES256')
    await admin.send(new PutBucketEncryptionCommand({
      Bucket: 'lab-extra',
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: cmk.Arn }, BucketKeyEnabled: true }] },
    }))
    const enc = await admin.send(new GetBucketEncryptionCommand({ Bucket: 'lab-extra' }))
    t.same(enc.ServerSideEncryptionConfiguration?.Rules?.[0], { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: cmk.Arn }, BucketKeyEnabled: true })
    const put = await admin.send(new PutObjectCommand({ Bucket: 'lab-extra', Key: 'k', Body: 'default kms' }))
    t.equal(put.ServerSideEncryption, 'aws:kms')
    t.equal(put.BucketKeyEnabled, true)
    t.equal(put.SSEKMSKeyId, cmk.Arn)
    await t.rejects(admin.send(new DeleteBucketCommand({ Bucket: 'lab-extra' })), { name: 'BucketNotEmpty', $metadata: { httpStatusCode: 409 } })

    // The bucket policy is the resource policy: an explicit deny beats the admin's identity policy.
    const policy = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'NoReads', Effect: 'Deny', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::lab-extra/*' }],
    }
    await admin.send(new PutBucketPolicyCommand({ Bucket: 'lab-extra', Policy: JSON.stringify(policy) }))
    t.same(JSON.parse((await admin.send(new GetBucketPolicyCommand({ Bucket: 'lab-extra' }))).Policy!), policy)
    await t.rejects(admin.send(new GetObjectCommand({ Bucket: 'lab-extra', Key: 'k' })), { name: 'AccessDenied', message: /explicit deny in a resource-based policy/ })
    await t.rejects(admin.send(new PutBucketPolicyCommand({ Bucket: 'lab-extra', Policy: '{"Version":"2012-10-17","Statement":[' })), { name: 'MalformedPolicy' })
    await admin.send(new DeleteBucketPolicyCommand({ Bucket: 'lab-extra' }))
    const get = await admin.send(new GetObjectCommand({ Bucket: 'lab-extra', Key: 'k' }))
    t.equal(await get.Body!.transformToString(), 'default kms')
    await admin.send(new DeleteObjectCommand({ Bucket: 'lab-extra', Key: 'k' }))
    await admin.send(new DeleteBucketCommand({ Bucket: 'lab-extra' }))
    t.equal(await statusOf(admin.send(new HeadBucketCommand({ Bucket: 'lab-extra' }))), 404)
    await t.rejects(admin.send(new GetObjectCommand({ Bucket: 'lab-extra', Key: 'k' })), { name: 'NoSuchBucket' })
  })

  t.test('S3 condition keys and per-key DeleteObjects decisions', async (t) => {
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html
    await admin.send(new CreateBucketCommand({ Bucket: 'lab-cond', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }))
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'DenyUnencrypted', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::lab-cond/*', Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } },
        { Sid: 'OnlyHome', Effect: 'Deny', Principal: '*', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::lab-cond', Condition: { StringNotLike: { 's3:prefix': 'home/*' } } },
        { Sid: 'KeepKeep', Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::lab-cond/keep/*' },
      ],
    }
    await admin.send(new PutBucketPolicyCommand({ Bucket: 'lab-cond', Policy: JSON.stringify(policy) }))
    await t.rejects(admin.send(new PutObjectCommand({ Bucket: 'lab-cond', Key: 'home/a', Body: 'x' })), { name: 'AccessDenied', message: /s3:PutObject .* with an explicit deny in a resource-based policy/ })
    for (const Key of ['home/a', 'keep/b', 'gone/c']) {
      await admin.send(new PutObjectCommand({ Bucket: 'lab-cond', Key, Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
    }
    const home = await admin.send(new ListObjectsV2Command({ Bucket: 'lab-cond', Prefix: 'home/' }))
    t.same(home.Contents?.map((c) => c.Key), ['home/a'])
    await t.rejects(admin.send(new ListObjectsV2Command({ Bucket: 'lab-cond' })), { name: 'AccessDenied', message: /s3:ListBucket/ })
    const del = await admin.send(new DeleteObjectsCommand({ Bucket: 'lab-cond', Delete: { Objects: [{ Key: 'keep/b' }, { Key: 'gone/c' }] } }))
    t.same(del.Deleted?.map((d) => d.Key), ['gone/c'])
    t.same(del.Errors?.map((e) => [e.Key, e.Code]), [['keep/b', 'AccessDenied']])
  })

  t.test('aws:kms without a key id uses the account\'s aws/s3 managed key, usable only through S3', async (t) => {
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#aws-managed-customer-managed-keys
    const put = await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'managed.txt', Body: 'managed', ServerSideEncryption: 'aws:kms' }))
    const managed = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!
    t.equal(put.SSEKMSKeyId, managed.Arn)
    const again = await workshop.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'managed2.txt', Body: 'managed', ServerSideEncryption: 'aws:kms' }))
    t.equal(again.SSEKMSKeyId, managed.Arn, 'created once')
    t.equal(await (await workshop.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'managed.txt' }))).Body!.transformToString(), 'managed')
    await t.rejects(kms.send(new EncryptCommand({ KeyId: 'alias/aws/s3', Plaintext: Buffer.from('direct') })), { name: 'AccessDeniedException' })
  })

  t.test('an unauthorised caller gets 403 before 404', async (t) => {
    const downloader = new S3Client(lab.clientConfig('downloader'))
    t.teardown(() => downloader.destroy())
    await t.rejects(downloader.send(new PutObjectCommand({ Bucket: 'no-such-bucket-here', Key: 'k', Body: 'x' })), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })
    await t.rejects(downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'missing' })), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })
  })
})
