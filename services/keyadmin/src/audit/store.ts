// Audit results in Redis: one record per object (its current version's verdict), indexes by
// time and by verdict for paging, the readers seen in CloudTrail, and the worker's counters.
// Keys: kms-audit:verdict:<bucket>/<key>, kms-audit:index[:<VERDICT>], kms-audit:readers:<bucket>/<key>, kms-audit:stats.
import type { Redis } from 'ioredis'
import { AUDIT_RESULTS_PREFIX } from '@kms-share/shared'
import { VERDICTS, type AuditRecord, type Verdict } from './verdict.js'

export interface Reader {
  eventId: string
  eventTime: string
  principal: string
  roleName: string | null
  /** Through S3 (invokedBy fas.s3.amazonaws.com) or a direct kms:Decrypt. */
  viaS3: boolean
  outcome: 'ok' | 'denied'
  errorCode: string | null
  /** Not the download role. */
  unexpected: boolean
  vpcEndpointId: string | null
}

export interface AuditPage {
  items: AuditRecord[]
  nextCursor: string | null
  total: number
}

export interface ListQuery {
  verdict?: Verdict
  /** ms since the epoch, inclusive. */
  since?: number
  until?: number
  limit: number
  cursor?: string
}

/** How many readers are kept per object (the newest). */
export const MAX_READERS_PER_OBJECT = 200
/** How many upload→verdict delays are kept for the latency figures. */
const MAX_DELAYS = 10_000

const ref = (bucket: string, key: string) => `${bucket}/${key}`

export class AuditStore {
  constructor(private readonly redis: Redis, private readonly prefix = AUDIT_RESULTS_PREFIX) {}

  private k(...parts: string[]): string {
    return [this.prefix, ...parts].join(':')
  }

  /** Stores an object's verdict, replacing the previous one in every index (one record per object). */
  async saveVerdict(record: AuditRecord): Promise<void> {
    const id = ref(record.bucket, record.key)
    const score = Date.parse(record.verdictAt)
    const delay = (score - Date.parse(record.uploadedAt)) / 1000
    const tx = this.redis.multi()
    tx.set(this.k('verdict', id), JSON.stringify(record))
    for (const v of VERDICTS) tx.zrem(this.k('index', v), id)
    tx.zadd(this.k('index'), score, id)
    tx.zadd(this.k('index', record.verdict), score, id)
    if (record.source === 'upload' && Number.isFinite(delay) && delay >= 0) {
      tx.lpush(this.k('delays'), delay.toFixed(3))
      tx.ltrim(this.k('delays'), 0, MAX_DELAYS - 1)
    }
    await tx.exec()
  }

  async getVerdict(bucket: string, key: string): Promise<AuditRecord | null> {
    const text = await this.redis.get(this.k('verdict', ref(bucket, key)))
    return text ? (JSON.parse(text) as AuditRecord) : null
  }

  /** The ETags that have a verdict, for the sweep (null where none). */
  async verdictEtags(bucket: string, keys: string[]): Promise<Array<string | null>> {
    if (!keys.length) return []
    const texts = await this.redis.mget(keys.map((key) => this.k('verdict', ref(bucket, key))))
    return texts.map((t) => (t ? (JSON.parse(t) as AuditRecord).etag : null))
  }

  /** Newest first, filtered by verdict and time; the cursor is an offset within the filtered range. */
  async list(query: ListQuery): Promise<AuditPage> {
    const index = query.verdict ? this.k('index', query.verdict) : this.k('index')
    const max = query.until !== undefined ? String(query.until) : '+inf'
    const min = query.since !== undefined ? String(query.since) : '-inf'
    const offset = query.cursor ? Number(query.cursor) : 0
    const [ids, total] = await Promise.all([
      this.redis.zrevrangebyscore(index, max, min, 'LIMIT', offset, query.limit + 1),
      this.redis.zcount(index, min, max),
    ])
    const page = ids.slice(0, query.limit)
    const texts = page.length ? await this.redis.mget(page.map((id) => this.k('verdict', id))) : []
    const items = texts.filter((t): t is string => t !== null).map((t) => JSON.parse(t) as AuditRecord)
    return { items, nextCursor: ids.length > query.limit ? String(offset + query.limit) : null, total }
  }

  async summary(): Promise<{ total: number; byVerdict: Record<Verdict, number> }> {
    const counts = await Promise.all([this.redis.zcard(this.k('index')), ...VERDICTS.map((v) => this.redis.zcard(this.k('index', v)))])
    return { total: counts[0], byVerdict: Object.fromEntries(VERDICTS.map((v, i) => [v, counts[i + 1]])) as Record<Verdict, number> }
  }

  /** Records a reader once per CloudTrail event (idempotent: the event id is the field). */
  async addReader(bucket: string, key: string, reader: Reader): Promise<void> {
    const k = this.k('readers', ref(bucket, key))
    const size = await this.redis.hlen(k)
    if (size >= MAX_READERS_PER_OBJECT) {
      await this.redis.hincrby(this.k('stats'), 'readers_dropped', 1)
      return
    }
    await this.redis.hset(k, reader.eventId, JSON.stringify(reader))
  }

  async readers(bucket: string, key: string): Promise<Reader[]> {
    const all = await this.redis.hvals(this.k('readers', ref(bucket, key)))
    return all.map((t) => JSON.parse(t) as Reader).sort((a, b) => a.eventTime.localeCompare(b.eventTime))
  }

  async count(name: string, by = 1): Promise<void> {
    await this.redis.hincrby(this.k('stats'), name, by)
  }

  async stats(): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(this.k('stats'))
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]))
  }

  /** Upload→verdict delays in seconds, the newest MAX_DELAYS. */
  async delays(): Promise<number[]> {
    return (await this.redis.lrange(this.k('delays'), 0, -1)).map(Number)
  }

  /** The key of the LookupEvents limiter slot shared by every worker. */
  limiterKey(): string {
    return this.k('lookup-slot')
  }
}

/** The value at quantile q (0..1) of numbers, nearest rank; null when empty. */
export function quantile(values: number[], q: number): number | null {
  if (!values.length) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}
