// Each policy template rendered by keyadmin, checked by a dry run of PUT /keys/:key/policy and applied
// (separation-of-duties through keyadmin with an MFA code; the others by the lab's administrator, so the
// file spends one code, not one per template), then exercised by the roles it names doing real SSE-KMS work through S3 (and direct KMS calls
// that the template must refuse). SSE-KMS: S3 calls GenerateDataKey/Decrypt as the caller,
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
import t from 'tap'
import { DecryptCommand, EncryptCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3'
import { createKmsClient } from '@kms-share/shared'
import { startTestLab, WITHOUT_STACKS } from '@kms-share/aws-lab/testing'
import { ACCOUNT, BUCKET, awsEnv, failure, getAs, kmsAs, putAs, s3As, startKeyadmin, type Lab } from './helpers.js'

const VPCE = 'vpce-0123456789abcdef0'
// The default seed plus one VPC endpoint, so vpce-only can be exercised through it.
// Each template is tried on keys of its own, in the bucket: the deployed bucket's policy refuses any key but the
// share's, so this lab makes the service roles and a plain bucket itself (WITHOUT_STACKS).
const lab: Lab = await startTestLab(t, { ...WITHOUT_STACKS, seed: (text) => text.replace('vpcEndpoints: []', `vpcEndpoints:\n  - id: ${VPCE}\n    vpcId: vpc-0lab0000000000001`) })
const svc = await startKeyadmin(t, lab)
const clients: KMSClient[] = []
t.teardown(() => clients.forEach((c) => c.destroy()))
const kms = (profile: string) => {
  const c = kmsAs(lab, profile)
  clients.push(c)
  return c
}

async function freshKey(): Promise<string> {
  const out = await svc.call('POST', '/keys', { description: 'templates test' })
  if (out.status !== 201) throw new Error(JSON.stringify(out.body))
  return out.body.keyId
}

async function apply(t: Tap, keyId: string, name: string, parameters: Record<string, unknown> = {}, through: 'keyadmin' | 'admin' = 'admin'): Promise<string> {
  const rendered = await svc.call('POST', `/policy-templates/${name}`, { parameters })
  t.equal(rendered.status, 200, rendered.status === 200 ? `${name} renders` : JSON.stringify(rendered.body))
  t.same(rendered.body.findings.filter((f: any) => f.severity === 'ERROR' || f.severity === 'SECURITY_WARNING'), [], `${name}: no errors or security warnings`)
  const dry = await svc.call('PUT', `/keys/${keyId}/policy?dryRun=true`, { policy: rendered.body.policy })
  t.equal(dry.body.lockout?.allowed, true, `${name}: the MFA key administrator could still change it`)
  if (through === 'keyadmin') {
    const put = await svc.sensitive('PUT', `/keys/${keyId}/policy`, { policy: rendered.body.policy })
    t.equal(put.status, 200, put.status === 200 ? `${name} applied` : JSON.stringify(put.body))
  } else {
    await kms('admin').send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: rendered.body.policy }))
  }
  return rendered.body.policy
}
// Just the assertions apply() makes (tap's own types do not narrow to a structural subset).
type Tap = { equal: (...args: any[]) => unknown; same: (...args: any[]) => unknown }

/** A ciphertext made while the key still had its default policy, for direct-Decrypt checks later. */
async function ciphertextUnder(keyId: string, context?: Record<string, string>): Promise<Uint8Array> {
  const out = await kms('workshop').send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('secret'), ...(context ? { EncryptionContext: context } : {}) }))
  return out.CiphertextBlob!
}

async function multipartAs(profile: string, key: string, keyId: string): Promise<void> {
  const s3 = s3As(lab, profile)
  try {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }))
    const part = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 'm') }))
    // S3 decrypts the upload's data key (kms:Decrypt as the caller) to complete it.
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))
  } finally {
    s3.destroy()
  }
}

t.test('GET /policy-templates lists every template with this deployment\'s defaults', async (t) => {
  const { status, body } = await svc.call('GET', '/policy-templates')
  t.equal(status, 200)
  t.same(body.templates.map((x: any) => x.name), ['default', 'separation-of-duties', 'account-only', 'single-role', 'encryption-context', 'mfa-sensitive', 'vpce-only'])
  const sod = body.templates.find((x: any) => x.name === 'separation-of-duties')
  const param = (n: string) => sod.parameters.find((p: any) => p.name === n)
  t.equal(param('accountId').default, ACCOUNT)
  t.equal(param('region').default, 'eu-west-1')
  t.equal(param('bucket').default, BUCKET)
  t.same(param('administrators').default, [`arn:aws:iam::${ACCOUNT}:role/kms-share-keyadmin`, `arn:aws:iam::${ACCOUNT}:user/userA`])
  t.same(param('mfaPrincipals').default, [`arn:aws:iam::${ACCOUNT}:user/userA`], 'the MFA user, from keyadmin\'s MFA path')
  t.equal(param('auditorRole').default, 'kms-share-auditor')
  t.equal(param('uploaderRole').default, 'kms-share-uploader')
  t.equal(body.templates.find((x: any) => x.name === 'single-role').parameters.find((p: any) => p.name === 'roleName').required, true)
  const missing = await svc.call('POST', '/policy-templates/single-role', { parameters: {} })
  t.equal(missing.status, 400)
  t.equal(missing.body.code, 'KADM_TEMPLATE_PARAMETERS')
  t.match(missing.body.detail, /roleName: required/)
  const unknown = await svc.call('POST', '/policy-templates/no-such-template', {})
  t.equal(unknown.status, 404)
  t.equal(unknown.body.code, 'KADM_TEMPLATE_NOT_FOUND')
})

t.test('default: IAM policies decide; the services work through S3', async (t) => {
  const keyId = await freshKey()
  await apply(t, keyId, 'default')
  await putAs(lab, 'uploader', 'default/a.txt', 'default template', keyId)
  t.equal(await getAs(lab, 'downloader', 'default/a.txt'), 'default template')
  const ct = await ciphertextUnder(keyId)
  t.equal(Buffer.from((await kms('workshop').send(new DecryptCommand({ CiphertextBlob: ct }))).Plaintext!).toString(), 'secret')
})

t.test('separation-of-duties: uploads (single and multipart) and downloads work; nobody uses the key directly', async (t) => {
  const keyId = await freshKey()
  const ct = await ciphertextUnder(keyId)
  await apply(t, keyId, 'separation-of-duties', {}, 'keyadmin')
  await putAs(lab, 'uploader', 'sod/single.txt', 'separation of duties', keyId)
  await multipartAs('uploader', 'sod/multipart.bin', keyId)
  t.equal(await getAs(lab, 'downloader', 'sod/single.txt'), 'separation of duties')
  t.equal((await getAs(lab, 'downloader', 'sod/multipart.bin')).length, 1024)

  for (const profile of ['uploader', 'downloader', 'keyadmin', 'workshop', 'admin']) {
    const denied = await failure(kms(profile).send(new DecryptCommand({ CiphertextBlob: ct })))
    t.equal(denied.name, 'AccessDeniedException', `${profile} cannot Decrypt directly`)
    t.match(denied.message, /is not authorized to perform: kms:Decrypt/)
  }
  const encrypt = await failure(kms('keyadmin').send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })))
  t.equal(encrypt.name, 'AccessDeniedException', 'keyadmin cannot encrypt')
  // The downloader cannot write under the key even through S3 (no GenerateDataKey for it).
  const write = await failure(putAs(lab, 'workshop', 'sod/workshop.txt', 'x', keyId))
  t.equal(write.name, 'AccessDenied', 'the workshop role (kms:* in IAM) cannot upload under the key')
  // The MFA key administrator can still change the policy back.
  const dry = await svc.call('PUT', `/keys/${keyId}/policy?dryRun=true`, { policy: (await svc.call('POST', '/policy-templates/default', {})).body.policy })
  t.equal(dry.body.lockout.allowed, true)
})

t.test('account-only: principals of the account use the key', async (t) => {
  const keyId = await freshKey()
  const policy = await apply(t, keyId, 'account-only')
  t.match(policy, /"kms:CallerAccount": \[\n\s+"111122223333"/)
  await putAs(lab, 'uploader', 'account-only/a.txt', 'account only', keyId)
  t.equal(await getAs(lab, 'downloader', 'account-only/a.txt'), 'account only')
})

t.test('single-role: the named role encrypts and decrypts through S3; the uploader is refused with an explicit deny', async (t) => {
  const keyId = await freshKey()
  await apply(t, keyId, 'single-role', { roleName: 'KMSWorkshop-InstaceInitRole' })
  await putAs(lab, 'workshop', 'single-role/a.txt', 'single role', keyId)
  t.equal(await getAs(lab, 'workshop', 'single-role/a.txt'), 'single role')
  const denied = await failure(putAs(lab, 'uploader', 'single-role/b.txt', 'x', keyId))
  t.equal(denied.name, 'AccessDenied')
  t.match(denied.message, /kms-share-uploader.*kms:GenerateDataKey.*explicit deny in a resource-based policy/)
  const download = await failure(getAs(lab, 'downloader', 'single-role/a.txt'))
  t.equal(download.name, 'AccessDenied', 'the downloader is refused too')
})

t.test("encryption-context: only with this bucket's objects as context", async (t) => {
  const keyId = await freshKey()
  await apply(t, keyId, 'encryption-context')
  await putAs(lab, 'uploader', 'ec/a.txt', 'encryption context', keyId)
  t.equal(await getAs(lab, 'downloader', 'ec/a.txt'), 'encryption context')
  const other = await failure(kms('workshop').send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { purpose: 'other' } })))
  t.equal(other.name, 'AccessDeniedException')
  const matching = await kms('workshop').send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/ec/direct` } }))
  t.ok(matching.CiphertextBlob, 'a matching context is allowed')
})

t.test('vpce-only: direct use only through the endpoint; SSE-KMS through S3 keeps working', async (t) => {
  const keyId = await freshKey()
  const policy = await apply(t, keyId, 'vpce-only', { vpceIds: [VPCE] })
  t.match(policy, /aws:ViaAWSService/)
  await putAs(lab, 'uploader', 'vpce/a.txt', 'vpce only', keyId)
  t.equal(await getAs(lab, 'downloader', 'vpce/a.txt'), 'vpce only')
  const outside = await failure(kms('workshop').send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })))
  t.equal(outside.name, 'AccessDeniedException')
  t.match(outside.message, /explicit deny/)
  const through = createKmsClient({ ...awsEnv(lab, 'workshop'), AWS_ENDPOINT_URL: `${lab.endpoint}/vpce/${VPCE}` })
  clients.push(through)
  const ok = await through.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))
  t.ok(ok.CiphertextBlob, 'through the VPC endpoint')
})
