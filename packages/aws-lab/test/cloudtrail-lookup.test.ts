// CloudTrail LookupEvents through the SDK: events for KMS/STS/IAM calls (also failures), one lookup
// attribute, time range, paging, newest first, and AWS's two-calls-per-second limit.
// https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html
import t from 'tap'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
// Retries absorb the lab's throttling, as the SDK's default retry strategy does against AWS.
const trail = new CloudTrailClient(lab.clientConfig('auditor', { maxAttempts: 8 }))
const admin = new KMSClient(lab.clientConfig('admin'))
const workshop = new KMSClient(lab.clientConfig('workshop'))
const keyId = (await admin.send(new CreateKeyCommand({ Description: 'trail test' }))).KeyMetadata!.KeyId!
const keyArn = `arn:aws:kms:eu-west-1:111122223333:key/${keyId}`

t.test('a KMS call is recorded like AWS: identity, parameters with encryption context, no plaintext', async (t) => {
  await workshop.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::b/k' } }))
  const found = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: keyArn }], MaxResults: 5 }))
  const event = found.Events!.find((e) => e.EventName === 'GenerateDataKey')!
  t.ok(event, 'found by ResourceName')
  t.equal(event.Username, 'i-0workshop1a2b3c4d5')
  t.equal(event.EventSource, 'kms.amazonaws.com')
  t.same(event.Resources, [{ ResourceType: 'AWS::KMS::Key', ResourceName: keyArn }])
  const record = JSON.parse(event.CloudTrailEvent!)
  t.match(record, {
    eventVersion: /^1\./,
    userIdentity: {
      type: 'AssumedRole',
      principalId: /^AROA[A-Z2-7]{17}:i-0workshop1a2b3c4d5$/,
      arn: 'arn:aws:sts::111122223333:assumed-role/KMSWorkshop-InstaceInitRole/i-0workshop1a2b3c4d5',
      accountId: '111122223333',
      accessKeyId: /^ASIA/,
      sessionContext: { sessionIssuer: { type: 'Role', arn: 'arn:aws:iam::111122223333:role/KMSWorkshop-InstaceInitRole', userName: 'KMSWorkshop-InstaceInitRole' }, attributes: { mfaAuthenticated: 'false' } },
    },
    eventSource: 'kms.amazonaws.com',
    eventName: 'GenerateDataKey',
    awsRegion: 'eu-west-1',
    sourceIPAddress: '127.0.0.1',
    requestParameters: { keyId, keySpec: 'AES_256', encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::b/k' } },
    responseElements: null,
    // KMS records its cryptographic operations as read-only events.
    readOnly: true,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '111122223333',
  })
  t.notMatch(event.CloudTrailEvent!, /plaintext/i)
})

t.test('denied calls carry errorCode and AWS\'s sentence', async (t) => {
  const uploader = new KMSClient(lab.clientConfig('uploader'))
  const blob = (await workshop.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))).CiphertextBlob!
  await t.rejects(uploader.send(new DecryptCommand({ CiphertextBlob: blob })), { name: 'AccessDeniedException' })
  const found = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'i-0upload7e5f4a3b21' }] }))
  const record = JSON.parse(found.Events![0].CloudTrailEvent!)
  t.equal(record.eventName, 'Decrypt')
  t.equal(record.errorCode, 'AccessDenied'.concat('Exception'))
  t.match(record.errorMessage, /is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:111122223333:key\//)
})

t.test('newest first, paging with NextToken, time range', async (t) => {
  // eventTime has second precision: start on a fresh second so earlier tests' events fall outside.
  await new Promise((r) => setTimeout(r, 1100))
  const start = new Date(Math.floor(Date.now() / 1000) * 1000)
  for (let i = 0; i < 7; i++) await workshop.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(`n${i}`), EncryptionContext: { n: String(i) } }))
  const seen: string[] = []
  let token: string | undefined
  let pages = 0
  do {
    const page = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Encrypt' }], StartTime: start, MaxResults: 3, NextToken: token }))
    pages++
    t.ok(page.Events!.length <= 3)
    for (const e of page.Events!) seen.push(JSON.parse(e.CloudTrailEvent!).requestParameters.encryptionContext.n)
    token = page.NextToken
    // A new event between pages must not shift the next page.
    if (pages === 1) await workshop.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('late'), EncryptionContext: { n: 'late' } }))
  } while (token)
  t.same(seen, ['6', '5', '4', '3', '2', '1', '0'])
  t.equal(pages, 3)
  const future = await trail.send(new LookupEventsCommand({ StartTime: new Date(Date.now() + 60_000) }))
  t.same(future.Events, [])
  const past = await trail.send(new LookupEventsCommand({ EndTime: start, LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Encrypt' }] }))
  t.ok(past.Events!.every((e) => e.EventTime!.getTime() <= start.getTime()), 'EndTime bounds the results')
  await t.rejects(trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'A' }, { AttributeKey: 'Username', AttributeValue: 'B' }] })), { name: 'InvalidLookupAttributesException' })
  await t.rejects(trail.send(new LookupEventsCommand({ MaxResults: 51 })), { name: 'InvalidMaxResultsException' })
})

t.test('throttled at two calls per second per account', async (t) => {
  await new Promise((r) => setTimeout(r, 1100))
  const noRetry = new CloudTrailClient(lab.clientConfig('auditor', { maxAttempts: 1 }))
  const results = await Promise.allSettled([0, 1, 2, 3].map(() => noRetry.send(new LookupEventsCommand({ MaxResults: 1 }))))
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 2)
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  t.equal(rejected.length, 2)
  t.match(rejected[0].reason, { name: 'ThrottlingException', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } })
  await new Promise((r) => setTimeout(r, 1100))
  await noRetry.send(new LookupEventsCommand({ MaxResults: 1 }))
  t.pass('allowed again a second later')
})

t.test('the auditor may look up events; the uploader may not', async (t) => {
  await new Promise((r) => setTimeout(r, 1100))
  await new CloudTrailClient(lab.clientConfig('auditor')).send(new LookupEventsCommand({ MaxResults: 1 }))
  await t.rejects(new CloudTrailClient(lab.clientConfig('uploader')).send(new LookupEventsCommand({ MaxResults: 1 })), {
    name: 'AccessDeniedException',
    message: /is not authorized to perform: cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action/,
  })
})
