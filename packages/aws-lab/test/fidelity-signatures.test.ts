// Presigned URLs and legacy Signature Version 2, through AWS SDK v3's presigner and boto3 (whose default
// presigned URL for S3 is SigV2): S3 refuses a missing, malformed or over-7-day X-Amz-Expires before
// looking at the signature, verifies SigV2 (header and query), and serves SSE-KMS only to SigV4.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html (X-Amz-Expires: at most 604800)
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html (SigV2)
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html ("require AWS Signature Version 4")
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import t from 'tap'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const exec = promisify(execFile)
const lab = await startTestLab(t, { ...WITHOUT_STACKS, defaultKeyPolicy: true })
const BUCKET = `kmsworkshop-${lab.accountId}`
const admin = new S3Client(lab.clientConfig('admin'))
await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'plain.txt', Body: 'plain', ServerSideEncryption: 'AES256' }))
await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'kms.txt', Body: 'kms', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
const hasBoto3 = await exec('python3', ['-c', 'import boto3'], { timeout: 30_000 }).then(() => true, () => false)

async function get(url: string): Promise<{ status: number; body: string; code?: string; message?: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  const body = await res.text()
  return { status: res.status, body, code: /<Code>([^<]*)<\/Code>/.exec(body)?.[1], message: /<Message>([^<]*)<\/Message>/.exec(body)?.[1] }
}

t.test('SigV4 presigned URLs: X-Amz-Expires missing, malformed, negative or over a week is refused as S3 refuses it', async (t) => {
  const url = new URL(await getSignedUrl(admin, new GetObjectCommand({ Bucket: BUCKET, Key: 'plain.txt' }), { expiresIn: 3600 }))
  t.same(await get(url.toString()).then((r) => [r.status, r.body]), [200, 'plain'], 'the URL as signed works')
  const week = await getSignedUrl(admin, new GetObjectCommand({ Bucket: BUCKET, Key: 'plain.txt' }), { expiresIn: 604_800 })
  t.equal((await get(week)).status, 200, 'exactly seven days is allowed')
  const variant = (value: string | undefined) => {
    const u = new URL(url)
    if (value === undefined) u.searchParams.delete('X-Amz-Expires')
    else u.searchParams.set('X-Amz-Expires', value)
    return u.toString()
  }
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.'],
    ['soon', 'X-Amz-Expires should be a number'],
    ['-5', 'X-Amz-Expires must be non-negative'],
    ['604801', 'X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds'],
  ]
  for (const [value, message] of cases) {
    const r = await get(variant(value))
    t.same([r.status, r.code, r.message], [400, 'AuthorizationQueryParametersError', message], `X-Amz-Expires=${value}`)
  }
  const expired = new URL(url)
  expired.searchParams.set('X-Amz-Date', new Date(Date.now() - 7200_000).toISOString().replace(/[-:]|\.\d{3}/g, ''))
  const r = await get(expired.toString())
  t.same([r.status, r.code, r.message], [403, 'AccessDenied', 'Request has expired'])
})

/** Runs boto3 with the lab's credentials files (and urllib trusting the lab's CA); prints one JSON line per probe. */
async function boto3(script: string): Promise<any> {
  const env = { ...lab.cliEnv(), ...(lab.caFile ? { SSL_CERT_FILE: lab.caFile } : {}), LAB_ENDPOINT: lab.endpoint, LAB_BUCKET: BUCKET }
  const { stdout } = await exec('python3', ['-c', script], { env, timeout: 60_000 })
  return JSON.parse(stdout)
}

const PRELUDE = `
import json, os, urllib.request, urllib.error, boto3
from botocore.config import Config
def fetch(url, method='GET', data=None, headers={}):
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return {'status': r.status, 'body': r.read().decode()}
    except urllib.error.HTTPError as e:
        return {'status': e.code, 'body': e.read().decode()}
def client(profile, **config):
    return boto3.session.Session(profile_name=profile).client('s3', endpoint_url=os.environ['LAB_ENDPOINT'], config=Config(s3={'addressing_style': 'path'}, **config))
B = os.environ['LAB_BUCKET']
`

t.test("boto3's default presigned URL (SigV2): SSE-S3 objects are served, SSE-KMS objects get S3's SigV4 sentence", { skip: !hasBoto3 && 'boto3 is not installed' }, async (t) => {
  const out = await boto3(`${PRELUDE}
res = {}
for profile in ['admin', 'workshop']:
    c = client(profile)
    plain = c.generate_presigned_url('get_object', Params={'Bucket': B, 'Key': 'plain.txt'})
    kms = c.generate_presigned_url('get_object', Params={'Bucket': B, 'Key': 'kms.txt'})
    res[profile] = {'url': plain, 'plain': fetch(plain), 'kms': fetch(kms), 'tampered': fetch(plain.replace('plain.txt', 'kms.txt'))}
print(json.dumps(res))
`)
  for (const profile of ['admin', 'workshop']) {
    const r = out[profile]
    t.match(r.url, /AWSAccessKeyId=.*Signature=.*Expires=/, `${profile}: boto3 signs with SigV2`)
    t.same([r.plain.status, r.plain.body], [200, 'plain'], `${profile}: SSE-S3 object served`)
    t.equal(r.kms.status, 400)
    t.match(r.kms.body, '<Code>InvalidArgument</Code><Message>Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.</Message><ArgumentName>Authorization</ArgumentName>')
    t.equal(r.tampered.status, 403)
    t.match(r.tampered.body, '<Code>SignatureDoesNotMatch</Code>')
  }
})

t.test('boto3 with signature_version="s3" (SigV2 header): reads and writes without KMS work, KMS ones are refused', { skip: !hasBoto3 && 'boto3 is not installed' }, async (t) => {
  const out = await boto3(`${PRELUDE}
from botocore.exceptions import ClientError
def attempt(fn):
    try:
        r = fn()
        return {'ok': True, 'body': r['Body'].read().decode() if 'Body' in r else None}
    except ClientError as e:
        return {'ok': False, 'code': e.response['Error']['Code'], 'message': e.response['Error'].get('Message'), 'status': e.response['ResponseMetadata']['HTTPStatusCode']}
c = client('workshop', signature_version='s3')
bad = boto3.session.Session(aws_access_key_id='AKIAIOSFODNN7EXAMPLE', aws_secret_access_key='x', region_name='eu-west-1').client('s3', endpoint_url=os.environ['LAB_ENDPOINT'], config=Config(signature_version='s3', s3={'addressing_style': 'path'}))
print(json.dumps({
  'put': attempt(lambda: c.put_object(Bucket=B, Key='v2.txt', Body=b'v2', ServerSideEncryption='AES256')),
  'get': attempt(lambda: c.get_object(Bucket=B, Key='v2.txt')),
  'putKms': attempt(lambda: c.put_object(Bucket=B, Key='v2-kms.txt', Body=b'x', ServerSideEncryption='aws:kms')),
  'getKms': attempt(lambda: c.get_object(Bucket=B, Key='kms.txt')),
  'unknownKey': attempt(lambda: bad.get_object(Bucket=B, Key='v2.txt')),
}))
`)
  t.same(out.put, { ok: true, body: null })
  t.same(out.get, { ok: true, body: 'v2' })
  const refused = { ok: false, code: 'InvalidArgument', message: 'Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.', status: 400 }
  t.same(out.putKms, refused)
  t.same(out.getKms, refused)
  t.same([out.unknownKey.code, out.unknownKey.status], ['InvalidAccessKeyId', 403])
})
