// LAB_CLOUDTRAIL_DELAY_SECONDS: events reach LookupEvents only after a delay, as in AWS, where
// "CloudTrail typically delivers events within an average of about 5 minutes of an API call"
// (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/how-cloudtrail-works.html).
import t from 'tap'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import { KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms'
import { startTestLab } from './helpers/lab.js'

const DELAY_SECONDS = 2
const lab = await startTestLab(t, { cloudTrailDelaySeconds: DELAY_SECONDS })
const trail = new CloudTrailClient(lab.clientConfig('auditor', { maxAttempts: 8 }))
const workshop = new KMSClient(lab.clientConfig('workshop'))

const listAliasesEvents = async () =>
  (await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'ListAliases' }] }))).Events ?? []

t.test('an event is hidden until the delay has passed, then listed with its original time', async (t) => {
  const before = Date.now()
  const answer = await workshop.send(new ListAliasesCommand({}))
  const requestId = answer.$metadata.requestId
  t.same(await listAliasesEvents(), [], 'not visible right after the call')
  await new Promise((r) => setTimeout(r, DELAY_SECONDS * 1000 + 1200))
  const events = await listAliasesEvents()
  t.equal(events.length, 1, 'visible after the delay')
  const record = JSON.parse(events[0].CloudTrailEvent!)
  t.equal(record.requestID, requestId)
  // The event keeps the time of the call (second precision), not the time it became visible.
  t.ok(events[0].EventTime!.getTime() <= before + 1000 && events[0].EventTime!.getTime() >= before - 1000)
})

t.test('paging pins the visibility cut-off, so events becoming visible do not shift later pages', async (t) => {
  for (let i = 0; i < 3; i++) await workshop.send(new ListAliasesCommand({}))
  await new Promise((r) => setTimeout(r, DELAY_SECONDS * 1000 + 1200))
  const first = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'ListAliases' }], MaxResults: 2 }))
  t.equal(first.Events!.length, 2)
  t.ok(first.NextToken)
  // Made now, visible only after the delay: it must not appear on page two even once visible.
  await workshop.send(new ListAliasesCommand({}))
  await new Promise((r) => setTimeout(r, DELAY_SECONDS * 1000 + 1200))
  const second = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'ListAliases' }], MaxResults: 2, NextToken: first.NextToken }))
  const ids = [...first.Events!, ...second.Events!].map((e) => e.EventId)
  t.equal(new Set(ids).size, 4, 'the four events of the first listing, each once')
  t.notOk(second.NextToken)
})
