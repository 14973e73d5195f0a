// Issue 4's "Done when", through AWS CLI v2 (/usr/bin/aws) as a workshop user would run it.
// SSE-KMS calls KMS as the caller: https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
// Denial sentences: https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
// VPC endpoint conditions and AWS services: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-aws.html
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const run = promisify(execFile)
const BUCKET = 'kmsworkshop-111122223333'

// Real clients (Python CLI startups, SDK retries) on a shared, busy machine: allow more than tap's default.
t.setTimeout(10 * 60 * 1000)

t.test('the workshop experiment through AWS CLI v2', async (t) => {
  const lab = await startTestLab(t, { ...WITHOUT_STACKS, defaultKeyPolicy: true })
  const dir = join(lab.dataDir, 'cli-work')
  mkdirSync(dir)
  const env = lab.cliEnv()
  const aws = async (profile: string, ...args: string[]) => {
    try {
      const { stdout, stderr } = await run('/usr/bin/aws', ['--profile', profile, '--endpoint-url', lab.endpoint, '--output', 'json', ...args], { env, maxBuffer: 64 * 1024 * 1024 })
      return { code: 0, stdout, stderr }
    } catch (err: any) {
      return { code: err.code as number, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') }
    }
  }
  const json = async (profile: string, ...args: string[]) => {
    const r = await aws(profile, ...args)
    if (r.code !== 0) throw new Error(`aws ${args.join(' ')} failed: ${r.stderr}`)
    return r.stdout.trim() ? JSON.parse(r.stdout) : {}
  }

  const key = (await json('admin', 'kms', 'describe-key', '--key-id', 'alias/ImportedCMK')).KeyMetadata
  const sample = join(dir, 'SampleFile-KMS.txt')
  writeFileSync(sample, 'Sample file for the KMS workshop\n'.repeat(100))

  const put = await json('workshop', 's3api', 'put-object', '--bucket', BUCKET, '--key', 'SampleFile-KMS.txt', '--body', sample, '--server-side-encryption', 'aws:kms', '--ssekms-key-id', key.KeyId)
  t.equal(put.ServerSideEncryption, 'aws:kms')

  const head = await json('workshop', 's3api', 'head-object', '--bucket', BUCKET, '--key', 'SampleFile-KMS.txt')
  t.equal(head.ServerSideEncryption, 'aws:kms')
  t.equal(head.SSEKMSKeyId, key.Arn)

  const out = join(dir, 'out.txt')
  await json('workshop', 's3api', 'get-object', '--bucket', BUCKET, '--key', 'SampleFile-KMS.txt', out)
  t.same(readFileSync(out), readFileSync(sample), 'get-object returns the same bytes')

  t.test('CloudTrail shows the GenerateDataKey S3 made as the caller', async (t) => {
    const events = (await json('admin', 'cloudtrail', 'lookup-events', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=GenerateDataKey')).Events as Array<{ CloudTrailEvent: string }>
    const records = events.map((e) => JSON.parse(e.CloudTrailEvent))
    const mine = records.find((r) => r.requestParameters?.encryptionContext?.['aws:s3:arn'] === `arn:aws:s3:::${BUCKET}/SampleFile-KMS.txt`)
    t.ok(mine, 'event with the object ARN as encryption context')
    t.same(mine.requestParameters.encryptionContext, { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/SampleFile-KMS.txt` })
    t.equal(mine.userIdentity.invokedBy, 'fas.s3.amazonaws.com')
    t.match(mine.userIdentity.arn, /assumed-role\/KMSWorkshop-InstaceInitRole\//)
    t.notOk(mine.vpcEndpointId, 'S3 calls never carry a VPC endpoint')
  })

  t.test('a 24 MiB aws s3 cp round-trips (multipart)', async (t) => {
    const big = join(dir, 'big.bin')
    const data = randomBytes(24 * 1024 * 1024)
    writeFileSync(big, data)
    const up = await aws('workshop', 's3', 'cp', big, `s3://${BUCKET}/big.bin`, '--sse', 'aws:kms', '--sse-kms-key-id', key.KeyId)
    t.equal(up.code, 0, up.stderr)
    const head = await json('workshop', 's3api', 'head-object', '--bucket', BUCKET, '--key', 'big.bin')
    t.match(head.ETag, /-3"$/, 'multipart ETag')
    t.equal(head.ContentLength, data.length)
    t.equal(head.SSEKMSKeyId, key.Arn)
    const back = join(dir, 'big.back')
    const down = await aws('workshop', 's3', 'cp', `s3://${BUCKET}/big.bin`, back)
    t.equal(down.code, 0, down.stderr)
    t.ok(readFileSync(back).equals(data), 'same bytes')
    const ls = await aws('workshop', 's3', 'ls', `s3://${BUCKET}/`)
    t.match(ls.stdout, /big\.bin/)
    // An S3-to-S3 copy this size goes as UploadPartCopy, re-encrypted under the destination's key.
    // The CLI also reads the source's tags (s3:GetObjectTagging), which the workshop role lacks: copy as admin.
    const copy = await aws('admin', 's3', 'cp', `s3://${BUCKET}/big.bin`, `s3://${BUCKET}/big-copy.bin`)
    t.equal(copy.code, 0, copy.stderr)
    const copied = await json('workshop', 's3api', 'head-object', '--bucket', BUCKET, '--key', 'big-copy.bin')
    t.match(copied.ETag, /-3"$/)
    t.equal(copied.ServerSideEncryption, 'AES256')
    const back2 = join(dir, 'big.copy')
    t.equal((await aws('workshop', 's3', 'cp', `s3://${BUCKET}/big-copy.bin`, back2)).code, 0)
    t.ok(readFileSync(back2).equals(data), 'copy has the same bytes')
  })

  t.test('without kms:Decrypt, put still works and get fails with AWS sentence', async (t) => {
    const policyArn = `arn:aws:iam::${lab.accountId}:policy/KMS-Workshop-EncDecPermissions`
    const doc = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'KmsUseNoDecrypt', Effect: 'Allow', Action: ['kms:Encrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey', 'kms:List*'], Resource: '*' }],
    }
    await json('admin', 'iam', 'create-policy-version', '--policy-arn', policyArn, '--policy-document', JSON.stringify(doc), '--set-as-default')
    const put2 = await aws('workshop', 's3api', 'put-object', '--bucket', BUCKET, '--key', 'SampleFile-KMS.txt', '--body', sample, '--server-side-encryption', 'aws:kms', '--ssekms-key-id', key.KeyId)
    t.equal(put2.code, 0, put2.stderr)
    const get = await aws('workshop', 's3api', 'get-object', '--bucket', BUCKET, '--key', 'SampleFile-KMS.txt', join(dir, 'denied.txt'))
    t.not(get.code, 0)
    t.match(get.stderr, /An error occurred \(AccessDenied\) when calling the GetObject operation: User: arn:aws:sts::111122223333:assumed-role\/KMSWorkshop-InstaceInitRole\/\S+ is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:111122223333:key\/\S+ because no identity-based policy allows the kms:Decrypt action/)
    // HeadObject does not decrypt, so it still works.
    const head2 = await aws('workshop', 's3api', 'head-object', '--bucket', BUCKET, '--key', 'SampleFile-KMS.txt')
    t.equal(head2.code, 0)
  })

  t.test("the workshop's aws:SourceVpce key policy also blocks SSE-KMS uploads", async (t) => {
    const fixture = readFileSync(new URL('../../policy/test/fixtures/seed-policies/vpce-only-data-operations.json', import.meta.url), 'utf8')
    const policy = fixture.replace(/your-account-id/g, lab.accountId).replace(/vpce-1xxxxxxxx1/g, 'vpce-0a1b2c3d4e5f67890')
    const r = await aws('admin', 'kms', 'put-key-policy', '--key-id', key.KeyId, '--policy-name', 'default', '--policy', policy)
    t.equal(r.code, 0, r.stderr)
    const put3 = await aws('workshop', 's3api', 'put-object', '--bucket', BUCKET, '--key', 'vpce.txt', '--body', sample, '--server-side-encryption', 'aws:kms', '--ssekms-key-id', key.KeyId)
    t.not(put3.code, 0)
    t.match(put3.stderr, /\(AccessDenied\) when calling the PutObject operation: User: \S+ is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:\S+ with an explicit deny in a resource-based policy/)
    const head3 = await aws('workshop', 's3api', 'head-object', '--bucket', BUCKET, '--key', 'vpce.txt')
    t.not(head3.code, 0, 'no object was stored')
  })
})
