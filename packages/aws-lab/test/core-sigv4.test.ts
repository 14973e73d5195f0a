// SigV4 verification through the SDK and AWS CLI v2: a wrong secret and an unknown access key get
// each protocol's AWS error; a stale clock and a wrong session token are refused.
// https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html
// https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { IAMClient, ListUsersCommand } from '@aws-sdk/client-iam'
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3'
import { startTestLab } from './helpers/lab.js'

const run = promisify(execFile)
const lab = await startTestLab(t)
const profiles = lab.profiles()
const admin = profiles.admin
const base = { region: lab.region, endpoint: lab.endpoint, maxAttempts: 1, forcePathStyle: true }
const wrongSecret = { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }
const unknownKey = { accessKeyId: 'AKIAZZZZZZZZZZZZZZZZ', secretAccessKey: admin.secretAccessKey }

const SIGNATURE_SENTENCE = 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'
const TOKEN_SENTENCE = 'The security token included in the request is invalid.'

t.test('KMS (JSON 1.1): 400 InvalidSignatureException / UnrecognizedClientException', async (t) => {
  await t.rejects(new KMSClient({ ...base, credentials: wrongSecret }).send(new ListAliasesCommand({})), { name: 'InvalidSignatureException', message: SIGNATURE_SENTENCE, $metadata: { httpStatusCode: 400 } })
  await t.rejects(new KMSClient({ ...base, credentials: unknownKey }).send(new ListAliasesCommand({})), { name: 'UnrecognizedClientException', message: TOKEN_SENTENCE, $metadata: { httpStatusCode: 400 } })
})

t.test('STS and IAM (query): 403 SignatureDoesNotMatch / InvalidClientTokenId', async (t) => {
  await t.rejects(new STSClient({ ...base, credentials: wrongSecret }).send(new GetCallerIdentityCommand({})), { name: 'SignatureDoesNotMatch', message: SIGNATURE_SENTENCE, $metadata: { httpStatusCode: 403 } })
  await t.rejects(new STSClient({ ...base, credentials: unknownKey }).send(new GetCallerIdentityCommand({})), { name: 'InvalidClientTokenId', message: TOKEN_SENTENCE, $metadata: { httpStatusCode: 403 } })
  await t.rejects(new IAMClient({ ...base, credentials: wrongSecret }).send(new ListUsersCommand({})), { name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } })
  await t.rejects(new IAMClient({ ...base, credentials: unknownKey }).send(new ListUsersCommand({})), { name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } })
})

t.test('S3 (REST-XML): 403 SignatureDoesNotMatch / InvalidAccessKeyId', { skip: !lab.router.services.has('s3') && 'S3 not registered' }, async (t) => {
  await t.rejects(new S3Client({ ...base, credentials: wrongSecret }).send(new ListBucketsCommand({})), { name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } })
  await t.rejects(new S3Client({ ...base, credentials: unknownKey }).send(new ListBucketsCommand({})), { name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } })
})

t.test('a session needs its own token; a skewed clock is refused', async (t) => {
  const workshop = profiles.workshop
  t.ok(workshop.sessionToken)
  await t.rejects(new STSClient({ ...base, credentials: { accessKeyId: workshop.accessKeyId, secretAccessKey: workshop.secretAccessKey } }).send(new GetCallerIdentityCommand({})), { name: 'InvalidClientTokenId' })
  await t.rejects(new KMSClient({ ...base, credentials: { ...workshop, sessionToken: profiles.uploader.sessionToken } }).send(new ListAliasesCommand({})), { name: 'UnrecognizedClientException' })
  // systemClockOffset shifts the SDK's signing clock; its retry would correct it, so one attempt only.
  const skewed = new KMSClient({ ...base, credentials: admin, systemClockOffset: -20 * 60_000 })
  await t.rejects(skewed.send(new ListAliasesCommand({})), { name: 'InvalidSignatureException', message: /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/ })
})

t.test('no signature at all', async (t) => {
  const res = await fetch(`${lab.endpoint}/`, { method: 'POST', headers: { 'x-amz-target': 'TrentService.ListAliases', 'content-type': 'application/x-amz-json-1.1' }, body: '{}' })
  t.equal(res.status, 400)
  t.match(await res.json(), { __type: 'MissingAuthenticationTokenException' })
})

t.test('AWS CLI v2: the same errors', async (t) => {
  const env = { ...lab.cliEnv(), AWS_ACCESS_KEY_ID: wrongSecret.accessKeyId, AWS_SECRET_ACCESS_KEY: wrongSecret.secretAccessKey, AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_MAX_ATTEMPTS: '1' }
  const cli = (args: string[], e = env) => run('/usr/bin/aws', ['--endpoint-url', lab.endpoint, '--region', lab.region, ...args], { env: e }).then(
    () => '',
    (err: { stderr: string }) => err.stderr,
  )
  t.match(await cli(['kms', 'list-aliases']), /An error occurred \(InvalidSignatureException\) when calling the ListAliases operation(?: \(reached max retries: \d+\))?: The request signature we calculated does not match/)
  t.match(await cli(['sts', 'get-caller-identity']), /An error occurred \(SignatureDoesNotMatch\) when calling the GetCallerIdentity operation/)
  const unknownEnv = { ...env, AWS_ACCESS_KEY_ID: unknownKey.accessKeyId }
  t.match(await cli(['kms', 'list-aliases'], unknownEnv), /An error occurred \(UnrecognizedClientException\) when calling the ListAliases operation(?: \(reached max retries: \d+\))?: The security token included in the request is invalid\./)
  t.match(await cli(['sts', 'get-caller-identity'], unknownEnv), /An error occurred \(InvalidClientTokenId\) when calling the GetCallerIdentity operation(?: \(reached max retries: \d+\))?: The security token included in the request is invalid\./)
})
