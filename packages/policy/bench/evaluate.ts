// Per-evaluation cost of realistic KMS checks (key policy + two identity policies with conditions),
// as the lab runs them on every request. Run with `pnpm bench` in packages/policy.
import { evaluate } from '../src/evaluate.js'
import { normalizePolicy } from '../src/normalize.js'
import type { EvaluationInput, NamedPolicy, RequestPrincipal } from '../src/types.js'

const ACCT = '111122223333'
const KEY = `arn:aws:kms:eu-west-1:${ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
const role = (name: string, session: string): RequestPrincipal => ({
  arn: `arn:aws:sts::${ACCT}:assumed-role/${name}/${session}`,
  type: 'assumed-role',
  accountId: ACCT,
  roleArn: `arn:aws:iam::${ACCT}:role/${name}`,
})

const keyPolicyRaw = {
  Version: '2012-10-17',
  Id: 'kms-share-key',
  Statement: [
    { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'kms:*', Resource: '*' },
    {
      Sid: 'Allow access for Key Administrators', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:role/keyadmin` },
      Action: ['kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*', 'kms:Revoke*', 'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion'],
      Resource: '*',
    },
    {
      Sid: 'DenyAdminsData', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${ACCT}:role/keyadmin` },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'], Resource: '*',
    },
    {
      Sid: 'UploaderDecryptOnlyViaS3', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${ACCT}:role/uploader` }, Action: 'kms:Decrypt', Resource: '*',
      Condition: { StringNotEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
    },
  ],
}
const uploaderKms = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'DataKeysForBucket', Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: KEY,
      Condition: {
        'StringEquals': { 'kms:ViaService': 's3.eu-west-1.amazonaws.com', 'kms:CallerAccount': ACCT },
        'StringLike': { 'kms:EncryptionContext:aws:s3:arn': 'arn:aws:s3:::kmsworkshop-111122223333/*' },
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['aws:s3:arn'] },
      },
    },
  ],
}
const uploaderS3 = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Put', Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: 'arn:aws:s3:::kmsworkshop-111122223333/*', Condition: { Bool: { 'aws:SecureTransport': 'true' } } },
    { Sid: 'List', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::kmsworkshop-111122223333', Condition: { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '192.168.0.0/16'] } } },
    { Sid: 'NoReads', Effect: 'Deny', Action: 's3:GetObject', Resource: '*' },
  ],
}

const named = (name: string, raw: unknown): NamedPolicy => ({ name, document: normalizePolicy(raw) })
const keyPolicy = named('key-policy:1234abcd', keyPolicyRaw)
const identity = [named('UploaderKms', uploaderKms), named('UploaderS3', uploaderS3)]

const s3Context = {
  'aws:PrincipalArn': `arn:aws:iam::${ACCT}:role/uploader`,
  'aws:PrincipalAccount': ACCT,
  'aws:CurrentTime': '2026-11-28T17:30:00Z',
  'aws:SecureTransport': 'true',
  'aws:ViaAWSService': 'true',
  'kms:CallerAccount': ACCT,
  'kms:ViaService': 's3.eu-west-1.amazonaws.com',
  'kms:EncryptionContext:aws:s3:arn': 'arn:aws:s3:::kmsworkshop-111122223333/docs/report.pdf',
  'kms:EncryptionContextKeys': ['aws:s3:arn'],
}

function input(principal: RequestPrincipal, action: string, context: Record<string, string | string[]>, policies = { keyPolicy, identity }): EvaluationInput {
  return {
    request: { principal, action, resource: KEY, context },
    identityPolicies: policies.identity,
    resourcePolicy: policies.keyPolicy,
    resourceAccount: ACCT,
    resourcePolicyRequired: true,
  }
}

function bench(label: string, make: () => EvaluationInput, expected: string, iterations = 100_000, explain = false): void {
  const first = evaluate(make())
  if (first.decision !== expected) throw new Error(`${label}: expected ${expected}, got ${first.decision}`)
  const evaluate1 = explain ? (i: EvaluationInput) => { const r = evaluate(i); void r.explanation; return r } : evaluate
  for (let i = 0; i < 5_000; i++) evaluate1(make())
  // CPU time as well as wall time: on a shared machine the wall clock also counts time spent descheduled.
  const cpu = process.cpuUsage()
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) evaluate1(make())
  const wall = Number(process.hrtime.bigint() - start) / 1_000 / iterations
  const used = process.cpuUsage(cpu)
  const cpuUs = (used.user + used.system) / iterations
  console.log(`${label.padEnd(72)} ${wall.toFixed(2).padStart(7)} µs wall ${cpuUs.toFixed(2).padStart(7)} µs CPU  (${first.decision})`)
}

const uploader = role('uploader', 'i-0upload')
const allowed = input(uploader, 'kms:GenerateDataKey', s3Context)
const { 'kms:ViaService': _via, ...directContext } = s3Context
const directDecrypt = input(uploader, 'kms:Decrypt', directContext)
const downloaderKms = named('DownloaderKms', {
  Version: '2012-10-17',
  Statement: [{ Sid: 'Decrypt', Effect: 'Allow', Action: 'kms:Decrypt', Resource: KEY, Condition: { StringEquals: { 'kms:CallerAccount': ACCT } } }],
})
const downloader = input(role('downloader', 'i-0down'), 'kms:GenerateDataKey', s3Context, { keyPolicy, identity: [downloaderKms, identity[1]] })

console.log(`node ${process.version}, ${iterations()} iterations per scenario`)
bench('uploader GenerateDataKey via S3 (delegation + IAM with 4 conditions)', () => allowed, 'Allowed')
bench('uploader direct Decrypt (explicit deny in the key policy)', () => directDecrypt, 'ExplicitlyDenied')
bench('downloader GenerateDataKey (no IAM allow: implicit deny)', () => downloader, 'ImplicitlyDenied')
// Callers that re-normalise policies per request get fresh statement objects: no compiled-statement cache hits.
bench('uploader GenerateDataKey, policies normalised afresh every time', () => input(uploader, 'kms:GenerateDataKey', s3Context, {
  keyPolicy: named('key-policy:1234abcd', keyPolicyRaw),
  identity: [named('UploaderKms', uploaderKms), named('UploaderS3', uploaderS3)],
}), 'Allowed', 20_000)
bench('uploader GenerateDataKey, reading the explanation trace as well', () => allowed, 'Allowed', 20_000, true)

function iterations(): string {
  return '100000 (20000 for the last two scenarios)'
}

// Issue 22 row 8: a StringLike value with 13 stars against a 30-character value that does not match.
// A backtracking regex tries every way to place the stars (seconds); the wildcard matcher is linear.
const starry = named('key-policy:starry', {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'kms:*', Resource: '*' },
    { Sid: 'Starry', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringLike: { 'kms:EncryptionContext:purpose': `${'a*'.repeat(13)}b` } } },
  ],
})
const starryInput = input(uploader, 'kms:GenerateDataKey', { ...s3Context, 'kms:EncryptionContext:purpose': 'a'.repeat(30) }, { keyPolicy: starry, identity })
const starryStart = process.hrtime.bigint()
const starryResult = evaluate(starryInput)
const starryMs = Number(process.hrtime.bigint() - starryStart) / 1e6
console.log(`${'StringLike with 13 stars against a 30-character value (one evaluation)'.padEnd(72)} ${starryMs.toFixed(2).padStart(7)} ms wall           (${starryResult.decision})`)
