// Reads CloudTrail's KMS events once per time window and indexes them by the S3 ARN in their
// encryption context, so every pending audit job is matched against one reading. LookupEvents
// cannot filter by encryption context and allows 2 calls per second per account and region:
// all readings go through one limiter kept in Redis, shared by every worker process.
// https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html
import { LookupEventsCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail'
import type { Redis } from 'ioredis'
import { isAwsServiceError, awsErrorCode } from '@kms-share/shared'

/** What the audit needs from one CloudTrail record of a KMS call. */
export interface KmsEvent {
  eventId: string
  eventName: string
  /** ms since the epoch (CloudTrail records whole seconds). */
  time: number
  keyArn: string | null
  /** The caller: for a role session its session ARN. */
  principal: string
  /** The role's name for a role session. */
  roleName: string | null
  invokedBy: string | null
  encryptionContext: Record<string, string>
  errorCode: string | null
  requestId: string | null
  vpcEndpointId: string | null
}

export interface LookupStats {
  calls: number
  throttles: number
  events: number
}

export interface TrailReaderOptions {
  cloudtrail: CloudTrailClient
  redis: Redis
  /** Key of the cross-process limiter slot. */
  limiterKey: string
  /** Least time between two LookupEvents calls. */
  intervalMs: number
  /** How late events may arrive: each reading goes back this far before the last one's end. */
  latenessMs: number
  /** Events older than this (before now) are forgotten unless a pending job still needs them. */
  retainMs: number
  timeoutMs: number
  /** Called for every event seen for the first time (readers are recorded from here). */
  onNewEvent?: (event: KmsEvent) => Promise<void> | void
  onCall?: (outcome: 'ok' | 'throttled') => void
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The parts of a CloudTrail record (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html) the audit reads. */
interface CloudTrailRecord {
  eventSource?: string
  eventID?: unknown
  eventName?: unknown
  eventTime?: unknown
  errorCode?: unknown
  requestID?: unknown
  vpcEndpointId?: unknown
  resources?: Array<{ ARN?: string; type?: string }>
  requestParameters?: { encryptionContext?: Record<string, unknown> }
  userIdentity?: { arn?: string; invokedBy?: unknown; sessionContext?: { sessionIssuer?: { userName?: string } } }
}

/** Parses a CloudTrail record (the JSON text LookupEvents returns) into what the audit reads. */
export function parseKmsEvent(cloudTrailEvent: string): KmsEvent | undefined {
  let e: CloudTrailRecord
  try {
    e = JSON.parse(cloudTrailEvent) as CloudTrailRecord
  } catch {
    return undefined
  }
  if (e.eventSource !== 'kms.amazonaws.com' || typeof e.eventID !== 'string') return undefined
  const identity = e.userIdentity ?? {}
  const context = e.requestParameters?.encryptionContext ?? {}
  const keyArn = (e.resources ?? []).find((r) => r.type === 'AWS::KMS::Key')?.ARN ?? null
  const principal = String(identity.arn ?? '')
  const role = /:assumed-role\/([^/]+)\//.exec(principal)
  return {
    eventId: e.eventID,
    eventName: String(e.eventName),
    time: Date.parse(String(e.eventTime)),
    keyArn,
    principal,
    roleName: identity.sessionContext?.sessionIssuer?.userName ?? role?.[1] ?? null,
    invokedBy: typeof identity.invokedBy === 'string' ? identity.invokedBy : null,
    encryptionContext: Object.fromEntries(Object.entries(context).map(([k, v]) => [k, String(v)])),
    errorCode: typeof e.errorCode === 'string' ? e.errorCode : null,
    requestId: typeof e.requestID === 'string' ? e.requestID : null,
    vpcEndpointId: typeof e.vpcEndpointId === 'string' ? e.vpcEndpointId : null,
  }
}

export class TrailReader {
  private readonly events = new Map<string, KmsEvent>()
  /** aws:s3:arn → the KMS events whose encryption context names it. */
  private readonly byS3Arn = new Map<string, KmsEvent[]>()
  /** The reading so far covers events from coveredFrom to coveredUntil (ms). */
  private coveredFrom = Number.POSITIVE_INFINITY
  private coveredUntil = Number.NEGATIVE_INFINITY
  private reading: Promise<void> | undefined
  readonly stats: LookupStats = { calls: 0, throttles: 0, events: 0 }

  constructor(private readonly options: TrailReaderOptions) {}

  /** The KMS events naming `s3Arn` in their encryption context (aws:s3:arn), oldest first. */
  eventsFor(s3Arn: string): readonly KmsEvent[] {
    return this.byS3Arn.get(s3Arn) ?? []
  }

  /**
   * Makes sure the index holds every event from `from` that CloudTrail showed after `notBefore`:
   * joins a reading in progress, or starts one; one reading serves every job waiting on it.
   */
  async ensure(from: number, notBefore: number): Promise<void> {
    for (;;) {
      if (this.coveredFrom <= from && this.coveredUntil >= notBefore) return
      if (this.reading) {
        await this.reading.catch(() => {})
        // The reading in progress may have started too early for this caller, or failed: look again.
        if (this.coveredFrom <= from && this.coveredUntil >= notBefore) return
        // Another caller may have started the next reading meanwhile: join it.
        if (this.busy()) continue
      }
      this.reading = this.read(from).finally(() => {
        this.reading = undefined
      })
      await this.reading
    }
  }

  private busy(): boolean {
    return this.reading !== undefined
  }

  /** Reads new events (for the readers list) without any job waiting. */
  async poll(): Promise<void> {
    const from = Number.isFinite(this.coveredUntil) ? this.coveredUntil : Date.now() - this.options.latenessMs
    await this.ensure(Math.min(from, this.coveredFrom), Date.now())
  }

  private async read(needFrom: number): Promise<void> {
    const startedAt = Date.now()
    // Already read from needFrom: only what may have arrived since (late events included).
    const from = this.coveredFrom <= needFrom && Number.isFinite(this.coveredUntil)
      ? Math.max(needFrom, this.coveredUntil - this.options.latenessMs)
      : needFrom
    // LookupEvents takes whole seconds; events carry whole seconds.
    const startTime = new Date(Math.floor(from / 1000) * 1000 - 1000)
    let nextToken: string | undefined
    do {
      const page = await this.call(startTime, nextToken)
      for (const raw of page.Events ?? []) {
        if (!raw.CloudTrailEvent || (raw.EventId && this.events.has(raw.EventId))) continue
        const event = parseKmsEvent(raw.CloudTrailEvent)
        if (!event || this.events.has(event.eventId)) continue
        this.add(event)
        await this.options.onNewEvent?.(event)
      }
      nextToken = page.NextToken
    } while (nextToken)
    this.coveredFrom = Math.min(this.coveredFrom, from)
    this.coveredUntil = Math.max(this.coveredUntil, startedAt)
    this.prune(needFrom)
  }

  private add(event: KmsEvent): void {
    this.events.set(event.eventId, event)
    this.stats.events++
    const s3Arn = event.encryptionContext['aws:s3:arn']
    if (!s3Arn) return
    const list = this.byS3Arn.get(s3Arn)
    if (list) {
      list.push(event)
      list.sort((a, b) => a.time - b.time)
    } else {
      this.byS3Arn.set(s3Arn, [event])
    }
  }

  /** Bounded memory: forget events older than the retention, unless a waiting job asked for them. */
  private prune(needFrom: number): void {
    const horizon = Math.min(needFrom, Date.now() - this.options.retainMs)
    if (horizon <= this.coveredFrom) return
    for (const [id, event] of this.events) {
      if (event.time >= horizon) continue
      this.events.delete(id)
      const s3Arn = event.encryptionContext['aws:s3:arn']
      if (!s3Arn) continue
      const rest = (this.byS3Arn.get(s3Arn) ?? []).filter((e) => e.eventId !== id)
      if (rest.length) this.byS3Arn.set(s3Arn, rest)
      else this.byS3Arn.delete(s3Arn)
    }
    this.coveredFrom = horizon
  }

  /** One LookupEvents page through the shared limiter; throttling waits and tries again. */
  private async call(startTime: Date, nextToken: string | undefined) {
    for (let attempt = 1; ; attempt++) {
      await this.slot()
      this.stats.calls++
      try {
        return await this.send(startTime, nextToken)
      } catch (err) {
        if (isAwsServiceError(err) && /Throttl/.test(awsErrorCode(err)) && attempt < 10) {
          this.stats.throttles++
          this.options.onCall?.('throttled')
          await sleep(1000)
          continue
        }
        throw err
      } finally {
        // The spacing counts from the answer, which came after the request reached AWS: network jitter cannot bunch two calls into one second.
        await this.options.redis.set(this.options.limiterKey, '1', 'PX', this.options.intervalMs)
      }
    }
  }

  private async send(startTime: Date, nextToken: string | undefined) {
    const out = await this.options.cloudtrail.send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: 'EventSource', AttributeValue: 'kms.amazonaws.com' }],
        StartTime: startTime,
        MaxResults: 50,
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
      { abortSignal: AbortSignal.timeout(this.options.timeoutMs) },
    )
    this.options.onCall?.('ok')
    return out
  }

  /** Waits for the shared slot: SET NX with a TTL of one interval, so all workers together stay under the limit. */
  private async slot(): Promise<void> {
    const { redis, limiterKey, intervalMs } = this.options
    for (;;) {
      const taken = await redis.set(limiterKey, '1', 'PX', intervalMs, 'NX')
      if (taken === 'OK') return
      const ttl = await redis.pttl(limiterKey)
      await sleep(Math.max(10, ttl > 0 ? ttl : 10))
    }
  }
}
