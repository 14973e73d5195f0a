// AWS denial sentences: https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
// (format "User: P is not authorized to perform: A on resource: R because no identity-based policy allows the A action"
// and "… with an explicit deny in a resource-based policy"); KMS answers 400 AccessDeniedException, S3 403 AccessDenied:
// https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html, https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
import t from 'tap'
import { readFileSync } from 'node:fs'
import { S3ServiceException } from '@aws-sdk/client-s3'
import { KMSServiceException } from '@aws-sdk/client-kms'
import { awsErrorToProblem, catalogueCodes, parseAwsDenial, SharedErrors, toProblem, ProblemError, problemOf } from '../src/index.js'

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'
const ROLE_SESSION = 'arn:aws:sts::111122223333:assumed-role/KMSWorkshop-Uploader/upload'

t.test('parseAwsDenial reads implicit denials', async (t) => {
  const d = parseAwsDenial(`User: ${ROLE_SESSION} is not authorized to perform: kms:Decrypt on resource: ${KEY_ARN} because no identity-based policy allows the kms:Decrypt action`)
  t.same(d, { principal: ROLE_SESSION, action: 'kms:Decrypt', resource: KEY_ARN, policyType: 'identity-based policy', explicit: false })
})

t.test('parseAwsDenial reads explicit denials, quoted resources and trailing text', async (t) => {
  const d = parseAwsDenial(`User: ${ROLE_SESSION} is not authorized to perform: kms:GenerateDataKey on resource: ${KEY_ARN} with an explicit deny in a resource-based policy`)
  t.equal(d.action, 'kms:GenerateDataKey')
  t.equal(d.policyType, 'resource-based policy')
  t.equal(d.explicit, true)
  const iam = parseAwsDenial('User: arn:aws:iam::123456789012:user/janedoe is not authorized to perform: iam:CreateInstanceProfile on resource: arn:aws:iam::123456789012:instance-profile/my-instance-profile with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/ExampleDenyPolicy.')
  t.equal(iam.policyType, 'identity-based policy')
  t.equal(iam.resource, 'arn:aws:iam::123456789012:instance-profile/my-instance-profile')
  const s3 = parseAwsDenial(`User: ${ROLE_SESSION} is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::kmsworkshop-111122223333/a b.txt" because no identity-based policy allows the s3:GetObject action`)
  t.equal(s3.action, 's3:GetObject')
  t.same(parseAwsDenial('Access Denied'), {})
})

t.test('S3 AccessDenied carrying KMS sentence → 403 naming kms action', async (t) => {
  const message = `User: ${ROLE_SESSION} is not authorized to perform: kms:GenerateDataKey on resource: ${KEY_ARN} because no identity-based policy allows the kms:GenerateDataKey action`
  const err = new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403, requestId: 'REQ1' }, message })
  const p = awsErrorToProblem(err)
  t.equal(p.status, 403)
  t.equal(p.code, 'SHR_AWS_ACCESS_DENIED')
  t.equal(p.awsErrorCode, 'AccessDenied')
  t.equal(p.action, 'kms:GenerateDataKey')
  t.equal(p.resource, KEY_ARN)
  t.equal(p.detail, message)
  t.equal(p.awsRequestId, 'REQ1')
  t.equal(p.type, 'urn:kms-share:problem:SHR_AWS_ACCESS_DENIED')
})

t.test('plain "Access Denied" falls back to the hinted action', async (t) => {
  const err = new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' })
  t.equal(awsErrorToProblem(err, { action: 's3:PutObject' }).action, 's3:PutObject')
  t.notOk(awsErrorToProblem(err).action)
})

t.test('KMS AccessDeniedException → 403', async (t) => {
  const err = new KMSServiceException({ name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `User: ${ROLE_SESSION} is not authorized to perform: kms:Decrypt on resource: ${KEY_ARN} because no identity-based policy allows the kms:Decrypt action` })
  const p = toProblem(err)
  t.equal(p.status, 403)
  t.equal(p.awsErrorCode, 'AccessDeniedException')
  t.equal(p.action, 'kms:Decrypt')
})

t.test('other AWS codes', async (t) => {
  const mk = (name: string, status: number, message = name) => new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message })
  t.match(toProblem(mk('NoSuchKey', 404), { subject: 'a.txt' }), { status: 404, code: 'SHR_AWS_NO_SUCH_KEY', detail: 'No such object: a.txt' })
  t.match(toProblem(mk('PreconditionFailed', 412)), { status: 412, code: 'SHR_AWS_PRECONDITION_FAILED' })
  t.match(toProblem(mk('ConditionalRequestConflict', 409)), { status: 409, code: 'SHR_AWS_CONFLICT' })
  t.match(toProblem(mk('InvalidRange', 416)), { status: 416 })
  t.match(toProblem(mk('KMS.DisabledException', 400)), { status: 502, code: 'SHR_AWS_KMS_KEY_UNAVAILABLE', awsErrorCode: 'KMS.DisabledException' })
  t.match(toProblem(mk('InvalidAccessKeyId', 403, 'The AWS Access Key Id you provided does not exist in our records.')), { status: 502, code: 'SHR_AWS_CREDENTIALS', detail: "AWS refused the service's credentials" })
  t.match(toProblem(mk('SlowDown', 503)), { status: 503, code: 'SHR_AWS_THROTTLED' })
  t.match(toProblem(mk('NoSuchBucket', 404)), { status: 502, code: 'SHR_AWS_NO_SUCH_BUCKET' })
  const internal = toProblem(mk('InternalError', 500, 'secret stack detail'))
  t.equal(internal.status, 502)
  t.notMatch(internal.detail, /secret/)
})

t.test('non-AWS errors', async (t) => {
  const boom = toProblem(new Error('password=hunter2 at /srv/app.js:12'))
  t.same({ status: boom.status, code: boom.code }, { status: 500, code: 'SHR_INTERNAL' })
  t.notMatch(boom.detail, /hunter2/)
  const own = toProblem(Object.assign(new Error('name has a control character'), { statusCode: 400, code: 'UPL_INVALID_NAME' }))
  t.match(own, { status: 400, code: 'UPL_INVALID_NAME', detail: 'name has a control character' })
  const node = toProblem(Object.assign(new Error('premature close at /srv/secret/path'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))
  t.match(node, { status: 500, code: 'SHR_INTERNAL' })
  t.notMatch(node.detail, /secret/)
  t.match(toProblem(Object.assign(new Error('use multipart'), { statusCode: 415, code: 'UPL_NOT_MULTIPART' })), { status: 415, code: 'UPL_NOT_MULTIPART' })
  t.match(toProblem(Object.assign(new Error('shutting down'), { statusCode: 503, code: 'UPL_SHUTTING_DOWN' })), { status: 503, code: 'UPL_SHUTTING_DOWN', detail: 'shutting down' })
  t.match(toProblem(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' })), { status: 502, code: 'SHR_AWS_UNAVAILABLE', detail: 'AWS did not answer as expected' })
  const fst = toProblem(Object.assign(new Error('Body cannot be empty'), { statusCode: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY' }))
  t.match(fst, { status: 400, code: 'SHR_BAD_REQUEST' })
  const pe = new ProblemError(problemOf(new SharedErrors.VALIDATION('x'), { action: 'kms:Decrypt' }))
  t.equal(toProblem(pe).action, 'kms:Decrypt')
})

t.test('SHR_ codes are unique, prefixed and documented in the README', async (t) => {
  const codes = catalogueCodes(SharedErrors)
  t.equal(new Set(codes).size, codes.length, 'unique')
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const code of codes) {
    t.match(code, /^SHR_[A-Z0-9_]+$/)
    t.ok(readme.includes(`| \`${code}\` |`), `${code} documented`)
  }
})
