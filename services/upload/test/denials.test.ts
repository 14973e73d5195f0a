// Separation of duties, as AWS (the lab) enforces it; the service only makes the denial visible.
// Denial sentences: https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
// Multipart SSE-KMS needs kms:Decrypt to complete: https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
import t from 'tap'
import { GetRolePolicyCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam'
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3'
import { BUCKET, clientsAs, formParts, postForm, startTestLab, startUpload, eventually } from './helpers.js'

const MiB = 1024 * 1024
const B = 'denialBoundary0123456789'

t.test('the upload service run as the downloader: 403 naming what AWS denied', async (t) => {
  const lab = await startTestLab(t)
  const { api } = await startUpload(t, lab, 'downloader')
  const put = await api('/files/not-allowed.txt', { method: 'PUT', body: 'x' })
  t.equal(put.status, 403)
  t.equal(put.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  const problem: any = await put.json()
  t.match(problem, {
    type: 'urn:kms-share:problem:SHR_AWS_ACCESS_DENIED',
    status: 403,
    code: 'SHR_AWS_ACCESS_DENIED',
    awsErrorCode: 'AccessDenied',
    action: /^(s3:PutObject|kms:GenerateDataKey)$/,
    detail: /is not authorized to perform: (s3:PutObject|kms:GenerateDataKey)/,
  })
  t.match(problem.detail, /assumed-role\/kms-share-downloader\//, "AWS's sentence names the caller")
  const form = await postForm(api, formParts(B, [{ name: 'file', filename: 'x.txt', body: 'x' }]), B)
  t.match(form, { status: 403, json: { code: 'SHR_AWS_ACCESS_DENIED', action: /^(s3:PutObject|kms:GenerateDataKey)$/ } })
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())
  t.equal((await admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'not-allowed.txt' })).catch((e: Error) => e) as Error).name, 'NotFound')
})

t.test('an uploader without kms:Decrypt via S3: PUT still works, multipart says why it cannot complete', async (t) => {
  const lab = await startTestLab(t)
  const iam = new IAMClient({ region: lab.region, endpoint: lab.endpoint, credentials: clientsAs(lab, 'admin').s3.config.credentials })
  t.teardown(() => iam.destroy())
  const current = await iam.send(new GetRolePolicyCommand({ RoleName: 'kms-share-uploader', PolicyName: 'kms-share-upload' }))
  const doc = JSON.parse(decodeURIComponent(current.PolicyDocument!))
  const withoutDecrypt = { ...doc, Statement: doc.Statement.filter((s: { Sid?: string }) => s.Sid !== 'DecryptOnlyThroughS3') }
  t.ok(withoutDecrypt.Statement.length < doc.Statement.length, 'the seed grants Decrypt via S3, and we took it away')
  await iam.send(new PutRolePolicyCommand({ RoleName: 'kms-share-uploader', PolicyName: 'kms-share-upload', PolicyDocument: JSON.stringify(withoutDecrypt) }))

  const { api } = await startUpload(t, lab, 'uploader', { MULTIPART_PART_BYTES: String(5 * MiB) })
  const put = await api('/files/encrypt-only.txt', { method: 'PUT', body: 'GenerateDataKey is enough' })
  t.equal(put.status, 201, 'a single PutObject needs only kms:GenerateDataKey')

  const r = await postForm(api, formParts(B, [{ name: 'file', filename: 'big.bin', body: Buffer.alloc(11 * MiB) }]), B)
  t.equal(r.status, 403)
  t.match(r.json, {
    code: 'UPL_MULTIPART_NEEDS_DECRYPT',
    awsErrorCode: 'AccessDenied',
    action: 'kms:Decrypt',
    detail: /kms:Decrypt, which S3 needs to complete a multipart SSE-KMS upload.*kms:ViaService.*is not authorized to perform: kms:Decrypt/s,
  })
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())
  await eventually(async () => ((await admin.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).length === 0, 'the multipart upload was aborted', 15_000)
})
