// CloudTrail LookupEvents (JSON 1.1) over the lab's recorded events.
// https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html
import { AwsError, type OperationContext, type ServiceDefinition } from '../core/types.js'
import type { TrailEvent, TrailStore } from './trail.js'

/** AWS: "The rate of lookup requests is limited to two per second, per account, per Region." */
export const LOOKUP_RATE_PER_SECOND = 2
const MAX_RESULTS = 50

const ATTRIBUTE_KEYS = ['EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId'] as const
type AttributeKey = (typeof ATTRIBUTE_KEYS)[number]

/** CloudTrail's Username: the IAM user's name, or the role session's name. */
function username(e: TrailEvent): string | undefined {
  const id = e.userIdentity
  if (typeof id.userName === 'string' && id.userName) return id.userName
  if (id.type === 'AssumedRole') return (typeof id.arn === 'string' ? id.arn : '').split('/').pop()
  return undefined
}

/** LookupEvents' members (JSON); timestamps are epoch seconds or, from the CLI, ISO text. */
interface LookupEventsInput {
  LookupAttributes?: Array<{ AttributeKey: string; AttributeValue: string }>
  MaxResults?: number
  StartTime?: number | string
  EndTime?: number | string
  NextToken?: string
}

function matches(e: TrailEvent, key: AttributeKey, value: string): boolean {
  switch (key) {
    case 'EventId': return e.eventID === value
    case 'EventName': return e.eventName === value
    case 'ReadOnly': return String(e.readOnly) === value
    case 'Username': return username(e) === value
    case 'ResourceType': return (e.resources ?? []).some((r) => r.type === value)
    case 'ResourceName': return (e.resources ?? []).some((r) => r.ARN === value || r.ARN.endsWith(`/${value}`))
    case 'EventSource': return e.eventSource === value
    case 'AccessKeyId': return e.userIdentity.accessKeyId === value
  }
}

/** JSON timestamps arrive as epoch seconds; the CLI may send ISO text. */
function toMs(value: number | string | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'number') return value * 1000
  const n = Number(value)
  if (!Number.isNaN(n)) return n * 1000
  const d = Date.parse(String(value))
  if (Number.isNaN(d)) throw new AwsError('ValidationException', `Invalid timestamp: ${value}`, 400)
  return d
}

export interface CloudTrailOptions {
  /** Events become visible to LookupEvents this long after they happen (AWS: typically minutes); 0 = at once. */
  delaySeconds?: number
}

export function createCloudTrailService(trail: TrailStore, options: CloudTrailOptions = {}): ServiceDefinition {
  const delayMs = Math.max(0, options.delaySeconds ?? 0) * 1000
  const recentCalls = new Map<string, number[]>()
  const throttle = (ctx: OperationContext) => {
    const key = `${ctx.caller.principal.accountId}/${ctx.meta.region}`
    const now = Date.now()
    const calls = (recentCalls.get(key) ?? []).filter((t) => now - t < 1000)
    if (calls.length >= LOOKUP_RATE_PER_SECOND) {
      recentCalls.set(key, calls)
      throw new AwsError('ThrottlingException', 'Rate exceeded', 400)
    }
    calls.push(now)
    recentCalls.set(key, calls)
  }
  return {
    name: 'cloudtrail',
    signingName: 'cloudtrail',
    eventSource: 'cloudtrail.amazonaws.com',
    accessDenied: { code: 'AccessDeniedException', status: 400 },
    operations: {
      LookupEvents: {
        readOnly: true,
        authorize: () => [{ action: 'cloudtrail:LookupEvents', resource: '*' }],
        run: (input: LookupEventsInput, ctx: OperationContext) => {
          throttle(ctx)
          const attributes = (input.LookupAttributes ?? []) as Array<{ AttributeKey: string; AttributeValue: string }>
          if (attributes.length > 1) throw new AwsError('InvalidLookupAttributesException', 'You cannot specify more than one lookup attribute.', 400)
          const attribute = attributes[0]
          if (attribute && !ATTRIBUTE_KEYS.includes(attribute.AttributeKey as AttributeKey)) {
            throw new AwsError('InvalidLookupAttributesException', `Lookup attribute key ${attribute.AttributeKey} is not valid.`, 400)
          }
          const maxResults = input.MaxResults === undefined ? MAX_RESULTS : Number(input.MaxResults)
          if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_RESULTS) {
            throw new AwsError('InvalidMaxResultsException', 'Value for parameter maxResults is not valid.', 400)
          }
          const start = toMs(input.StartTime)
          const end = toMs(input.EndTime)
          if (start !== undefined && end !== undefined && start > end) {
            throw new AwsError('InvalidTimeRangeException', 'Start time must not be after end time.', 400)
          }
          // The token pins the newest event of the first page and the visibility cut-off, so new or newly visible events do not shift later pages.
          let offset = 0
          let anchor: string | undefined
          let visibleUntil = Date.now() - delayMs
          if (input.NextToken) {
            try {
              const parsed = JSON.parse(Buffer.from(String(input.NextToken), 'base64url').toString('utf8')) as { o: number; a: string; c?: number }
              offset = parsed.o
              anchor = parsed.a
              if (typeof parsed.c === 'number') visibleUntil = parsed.c
            } catch {
              throw new AwsError('InvalidNextTokenException', 'Invalid NextToken.', 400)
            }
          }
          const all = trail.all()
          let top = all.length - 1
          if (anchor) {
            while (top >= 0 && all[top].eventID !== anchor) top--
            if (top < 0) throw new AwsError('InvalidNextTokenException', 'Invalid NextToken.', 400)
          }
          const page: TrailEvent[] = []
          let seen = 0
          let more = false
          for (let i = top; i >= 0; i--) {
            const e = all[i]
            const t = Date.parse(e.eventTime)
            // Not delivered yet (LAB_CLOUDTRAIL_DELAY_SECONDS).
            if (delayMs > 0 && t > visibleUntil) continue
            if (end !== undefined && t > end) continue
            if (start !== undefined && t < start) continue
            if (attribute && !matches(e, attribute.AttributeKey as AttributeKey, attribute.AttributeValue)) continue
            if (seen++ < offset) continue
            if (page.length === maxResults) {
              more = true
              break
            }
            page.push(e)
          }
          const anchorId = anchor ?? all[top]?.eventID
          return {
            Events: page.map((e) => ({
              EventId: e.eventID,
              EventName: e.eventName,
              ReadOnly: String(e.readOnly),
              AccessKeyId: e.userIdentity.accessKeyId,
              EventTime: new Date(e.eventTime),
              EventSource: e.eventSource,
              Username: username(e),
              Resources: (e.resources ?? []).map((r) => ({ ResourceType: r.type, ResourceName: r.ARN })),
              CloudTrailEvent: JSON.stringify(e),
            })),
            NextToken: more ? Buffer.from(JSON.stringify({ o: offset + maxResults, a: anchorId, c: visibleUntil })).toString('base64url') : undefined,
          }
        },
      },
    },
  }
}
