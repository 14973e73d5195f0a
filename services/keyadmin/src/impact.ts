// Before a key is disabled or deleted: how many of the bucket's objects are under it (from the audit's
// verdicts, which record what HeadObject reported for every object) and when CloudTrail last saw it
// used, in words — "deleting this key makes 1,204 objects unreadable; last Decrypt 3 minutes ago by
// kms-share-downloader". AWS recommends exactly this look before deleting a key:
// https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-determining-usage.html
import { LookupEventsCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail'
import type { AuditStore } from './audit/store.js'
import { parseKmsEvent } from './audit/trail.js'
import { awsErrorCode, formatBytes, isAwsServiceError } from '@kms-share/shared'
import { kmsProblem } from './aws-errors.js'

/** The operations that use a key (a CloudTrail record of one of these is a use). */
const USE_EVENTS = new Set([
  'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext', 'Sign', 'Verify', 'GenerateMac', 'VerifyMac', 'DeriveSharedSecret',
])
/** LookupEvents pages read at most (50 events each), newest first: enough to find a key's last use without scanning 90 days. */
const MAX_PAGES = 20
/** How many verdicts are read at a time. */
const VERDICT_PAGE = 500

export interface LastUse {
  eventName: string
  time: string
  principal: string
  /** The role's or user's name, as people say it. */
  name: string
  /** fas.s3.amazonaws.com when S3 called KMS for the caller. */
  invokedBy: string | null
  errorCode: string | null
}

export interface ObjectsUnderKey {
  /** Whether the audit's results could be read (REDIS_URL set and Redis answering). */
  known: boolean
  count: number
  bytes: number
  /** Objects whose size the verdict did not record (older verdicts). */
  sizeUnknown: number
  /** Why the count is unknown. */
  note?: string
}

/** One object under the key, with its audit verdict. */
export interface ObjectVerdict {
  key: string
  size?: number
  etag: string
  verdict: string
  reasons: string[]
  verdictAt?: string
  lastModified?: string | null
}

interface StoredVerdict {
  bucket?: string
  key?: string
  etag?: string
  verdict?: string
  reasons?: string[]
  verdictAt?: string
  head?: { kmsKeyArn?: string | null; size?: number; lastModified?: string | null }
}

/**
 * Walks the audit's verdicts newest first from `cursor` (an offset), keeping those whose object HeadObject
 * reported under `keyArn`, until `limit` are found (or all, without a limit).
 */
export async function verdictsUnderKey(store: AuditStore, bucket: string, keyArn: string, options: { cursor?: number; limit?: number } = {}): Promise<{ items: ObjectVerdict[]; nextCursor: string | null; scanned: number }> {
  const items: ObjectVerdict[] = []
  let offset = options.cursor ?? 0
  for (;;) {
    const page = await store.list({ limit: VERDICT_PAGE, cursor: String(offset) })
    const records = page.items as unknown as StoredVerdict[]
    for (let i = 0; i < records.length; i++) {
      const r = records[i]
      if (r.bucket !== bucket || r.head?.kmsKeyArn !== keyArn || r.key === undefined) continue
      items.push({
        key: r.key, etag: r.etag ?? '', verdict: r.verdict ?? 'UNKNOWN', reasons: r.reasons ?? [],
        ...(r.head.size !== undefined ? { size: r.head.size } : {}),
        ...(r.verdictAt ? { verdictAt: r.verdictAt } : {}),
        ...(r.head.lastModified !== undefined ? { lastModified: r.head.lastModified } : {}),
      })
      if (options.limit !== undefined && items.length >= options.limit) {
        const next = offset + i + 1
        return { items, nextCursor: next < page.total ? String(next) : null, scanned: next }
      }
    }
    offset += records.length
    if (!page.nextCursor || records.length === 0) return { items, nextCursor: null, scanned: offset }
  }
}

export function countObjects(items: ObjectVerdict[]): Omit<ObjectsUnderKey, 'known' | 'note'> {
  let bytes = 0
  let sizeUnknown = 0
  for (const o of items) {
    if (o.size === undefined) sizeUnknown++
    else bytes += o.size
  }
  return { count: items.length, bytes, sizeUnknown }
}

const nameOf = (principal: string) => /:assumed-role\/([^/]+)\//.exec(principal)?.[1] ?? /:user\/(?:.*\/)?([^/]+)$/.exec(principal)?.[1] ?? (principal.endsWith(':root') ? 'the account root' : principal)

export interface LastUseResult {
  lastUse: LastUse | null
  eventsRead: number
  /** Why CloudTrail could not answer (still throttled after the retries). */
  note?: string
}

/** The newest CloudTrail record of the key's use (LookupEvents by ResourceName, newest first), or null. */
export async function lastUse(cloudtrail: CloudTrailClient, keyArn: string): Promise<LastUseResult> {
  let token: string | undefined
  let eventsRead = 0
  for (let page = 0; page < MAX_PAGES; page++) {
    let out
    try {
      out = await cloudtrail.send(new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: keyArn }], MaxResults: 50, ...(token ? { NextToken: token } : {}),
      }))
    } catch (err) {
      // A throttled CloudTrail leaves a gap in the report, not an error instead of it.
      if (isAwsServiceError(err) && awsErrorCode(err) === 'ThrottlingException') return { lastUse: null, eventsRead, note: 'CloudTrail is throttling LookupEvents (2 calls per second per account): try again in a moment' }
      throw kmsProblem(err, { action: 'cloudtrail:LookupEvents' })
    }
    for (const e of out.Events ?? []) {
      eventsRead++
      const parsed = e.CloudTrailEvent ? parseKmsEvent(e.CloudTrailEvent) : undefined
      if (!parsed || !USE_EVENTS.has(parsed.eventName) || parsed.errorCode) continue
      return {
        lastUse: {
          eventName: parsed.eventName, time: new Date(parsed.time).toISOString(), principal: parsed.principal, name: nameOf(parsed.principal),
          invokedBy: parsed.invokedBy, errorCode: parsed.errorCode,
        },
        eventsRead,
      }
    }
    token = out.NextToken
    if (!token) break
  }
  return { lastUse: null, eventsRead }
}

/** "3 minutes ago", "2 days ago", "just now". */
export function ago(time: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(time)) / 1000))
  if (seconds < 10) return 'just now'
  const units: Array<[number, string]> = [[86_400, 'day'], [3_600, 'hour'], [60, 'minute'], [1, 'second']]
  for (const [size, unit] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size)
      return `${n} ${unit}${n === 1 ? '' : 's'} ago`
    }
  }
  return 'just now'
}

const number = (n: number) => n.toLocaleString('en-US')

/** The impact of deleting (or disabling) the key, in one sentence each. */
export function impactSentences(bucket: string, objects: ObjectsUnderKey, use: LastUse | null, now = Date.now(), useNote?: string): { delete: string; disable: string; lastUse: string } {
  const sized = objects.sizeUnknown > 0 ? `${formatBytes(objects.bytes)} and ${number(objects.sizeUnknown)} of unknown size` : formatBytes(objects.bytes)
  const what = objects.count === 0 ? `no audited object in ${bucket}` : `${number(objects.count)} object${objects.count === 1 ? '' : 's'} (${sized}) in ${bucket}`
  const used = use
    ? `last ${use.eventName} ${ago(use.time, now)} by ${use.name}${use.invokedBy === 'fas.s3.amazonaws.com' ? ' through S3' : ''}`
    : useNote ? `when it was last used is not known (${useNote})` : 'CloudTrail shows no use of this key'
  if (!objects.known) {
    const unknown = `every object under it in ${bucket} unreadable`
    const why = `how many is not known (${objects.note ?? 'the audit results are unavailable'})`
    return {
      delete: `Deleting this key makes ${unknown}, for good — ${why}; ${used}.`,
      disable: `Disabling this key makes ${unknown} until it is enabled again — ${why}; ${used}.`,
      lastUse: used,
    }
  }
  return {
    delete: `Deleting this key makes ${what} unreadable, for good; ${used}.`,
    disable: `Disabling this key makes ${what} unreadable until it is enabled again; ${used}.`,
    lastUse: used,
  }
}
