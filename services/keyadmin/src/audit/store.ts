// Audit results in Redis: one record per object (its current version's verdict), indexes by
// time and by verdict for paging, the readers seen in CloudTrail, and the worker's counters.
// Keys: kms-audit:verdict:<bucket>/<key>, kms-audit:index[:<VERDICT>], kms-audit:readers:<bucket>/<key>, kms-audit:stats.
// Verdicts and readers are signed by the worker (signature.ts); what does not verify reads as TAMPERED.
import type { Redis } from 'ioredis'
import { AUDIT_RESULTS_PREFIX } from '@kms-share/shared'
import { VERDICTS, type AuditRecord, type ReadsSummary, type Verdict } from './verdict.js'
import type { AuditSigner, AuditVerifier } from './signature.js'

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

/** A stored record whose signature does not verify: shown, never trusted. */
export interface Tampered {
  verdict: 'TAMPERED'
  signature: 'invalid'
  bucket: string
  key: string
  reasons: string[]
  /** What the record claims (parsed where it parses). */
  stored: unknown
}

export type VerdictView = (AuditRecord & { signature: 'valid' }) | Tampered
export type ReaderView = (Reader & { signature: 'valid' }) | { eventId: string; signature: 'invalid'; reason: string; stored: unknown }

export interface AuditPage {
  items: VerdictView[]
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
/** How many readers by other roles a verdict lists (it counts them all). */
const MAX_OTHER_READERS_LISTED = 20
/** How many upload→verdict delays are kept for the latency figures. */
const MAX_DELAYS = 10_000
/** Tries of a watched write before giving up (another worker kept changing the same object). */
const WRITE_ATTEMPTS = 20

const ref = (bucket: string, key: string) => `${bucket}/${key}`

/** What a verdict says about an object's readers: how many, and who read it that is not the download role. */
export function summarizeReads(readers: readonly Reader[]): { reads: ReadsSummary; flags: string[] } {
  const others = readers.filter((r) => r.unexpected)
  const flags = [
    ...(others.some((r) => r.outcome === 'ok') ? ['READ_BY_OTHER_ROLE'] : []),
    ...(others.some((r) => r.outcome === 'denied') ? ['READ_ATTEMPT_BY_OTHER_ROLE'] : []),
  ]
  const reads: ReadsSummary = {
    total: readers.length,
    byOtherRoles: others.length,
    otherReaders: others.slice(-MAX_OTHER_READERS_LISTED).map((r) => ({ principal: r.principal, eventTime: r.eventTime, outcome: r.outcome, viaS3: r.viaS3 })),
  }
  return { reads, flags }
}

export class AuditStore {
  private writer: Redis | undefined
  private writes: Promise<unknown> = Promise.resolve()

  /** `keys`: the worker's signer (to write), or the public key's verifier (to read). */
  constructor(private readonly redis: Redis, private readonly keys: AuditSigner | AuditVerifier, private readonly prefix = AUDIT_RESULTS_PREFIX) {}

  private k(...parts: string[]): string {
    return [this.prefix, ...parts].join(':')
  }

  private signer(): AuditSigner {
    if (!('seal' in this.keys)) throw new Error('this audit store holds no signing key: only the audit worker writes verdicts')
    return this.keys
  }

  /**
   * Runs `write` alone on a connection of its own: WATCH is per connection, so concurrent jobs
   * must not share one; another worker changing the watched keys makes EXEC answer null, and the
   * write is tried again.
   */
  private watched(write: (conn: Redis) => Promise<'done' | 'retry'>): Promise<void> {
    const run = async () => {
      this.writer ??= this.redis.duplicate()
      for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        if ((await write(this.writer)) === 'done') return
      }
      throw new Error(`audit store: gave up after ${WRITE_ATTEMPTS} conflicting writes`)
    }
    const next = this.writes.then(run, run)
    this.writes = next.catch(() => {})
    return next
  }

  private verifiedReaders(bucket: string, key: string, texts: Record<string, string>): ReaderView[] {
    return Object.entries(texts).map(([eventId, text]): ReaderView => {
      const checked = this.keys.open<Reader>(text, 'reader', ref(bucket, key), eventId)
      return checked.ok && checked.value.eventId === eventId
        ? { ...checked.value, signature: 'valid' }
        : { eventId, signature: 'invalid', reason: checked.ok ? 'its event id is not the one it is stored under' : checked.reason, stored: checked.ok ? checked.value : checked.stored }
    }).sort((a, b) => ('eventTime' in a ? a.eventTime : '').localeCompare('eventTime' in b ? b.eventTime : ''))
  }

  private view(bucket: string, key: string, text: string): VerdictView {
    const checked = this.keys.open<AuditRecord>(text, 'verdict', ref(bucket, key))
    if (checked.ok && checked.value.bucket === bucket && checked.value.key === key) return { ...checked.value, signature: 'valid' }
    return { verdict: 'TAMPERED', signature: 'invalid', bucket, key, reasons: [`the stored verdict cannot be trusted: ${checked.ok ? 'it names another object' : checked.reason}`], stored: checked.ok ? checked.value : checked.stored }
  }

  /** Stores an object's verdict, with what its readers show, replacing the previous one in every index (one record per object). */
  async saveVerdict(record: AuditRecord): Promise<void> {
    const signer = this.signer()
    const id = ref(record.bucket, record.key)
    const score = Date.parse(record.verdictAt)
    const delay = (score - Date.parse(record.uploadedAt)) / 1000
    await this.watched(async (conn) => {
      const readersKey = this.k('readers', id)
      await conn.watch(readersKey)
      const readers = this.verifiedReaders(record.bucket, record.key, await conn.hgetall(readersKey)).filter((r) => r.signature === 'valid')
      const tx = conn.multi()
      tx.set(this.k('verdict', id), signer.seal({ ...record, ...summarizeReads(readers) }, 'verdict', id))
      for (const v of VERDICTS) tx.zrem(this.k('index', v), id)
      tx.zadd(this.k('index'), score, id)
      tx.zadd(this.k('index', record.verdict), score, id)
      if (record.source === 'upload' && Number.isFinite(delay) && delay >= 0) {
        tx.lpush(this.k('delays'), delay.toFixed(3))
        tx.ltrim(this.k('delays'), 0, MAX_DELAYS - 1)
      }
      return (await tx.exec()) ? 'done' : 'retry'
    })
  }

  /** The object's verdict when its signature verifies; null when there is none or it does not (the worker audits it again). */
  async getVerdict(bucket: string, key: string): Promise<AuditRecord | null> {
    const view = await this.inspectVerdict(bucket, key)
    if (!view || view.signature !== 'valid') return null
    const { signature: _signature, ...record } = view
    return record
  }

  /** The object's verdict as stored, checked: TAMPERED when its signature does not verify. */
  async inspectVerdict(bucket: string, key: string): Promise<VerdictView | null> {
    const text = await this.redis.get(this.k('verdict', ref(bucket, key)))
    return text ? this.view(bucket, key, text) : null
  }

  /** The ETags that have a trustworthy verdict, for the sweep (null where none). */
  async verdictEtags(bucket: string, keys: string[]): Promise<Array<string | null>> {
    if (!keys.length) return []
    const texts = await this.redis.mget(keys.map((key) => this.k('verdict', ref(bucket, key))))
    return texts.map((t, i) => {
      const view = t ? this.view(bucket, keys[i], t) : undefined
      return view?.signature === 'valid' ? view.etag : null
    })
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
    const items = texts.flatMap((t, i) => {
      if (t === null) return []
      const slash = page[i].indexOf('/')
      return [this.view(page[i].slice(0, slash), page[i].slice(slash + 1), t)]
    })
    return { items, nextCursor: ids.length > query.limit ? String(offset + query.limit) : null, total }
  }

  async summary(): Promise<{ total: number; byVerdict: Record<Verdict, number> }> {
    const counts = await Promise.all([this.redis.zcard(this.k('index')), ...VERDICTS.map((v) => this.redis.zcard(this.k('index', v)))])
    return { total: counts[0], byVerdict: Object.fromEntries(VERDICTS.map((v, i) => [v, counts[i + 1]])) as Record<Verdict, number> }
  }

  /**
   * Records a reader once per CloudTrail event (idempotent: the event id is the field) and, when
   * the object has a verdict, signs it again with the readers counted, so a read by another role
   * shows in the verdict itself.
   */
  async addReader(bucket: string, key: string, reader: Reader): Promise<void> {
    const signer = this.signer()
    const id = ref(bucket, key)
    const readersKey = this.k('readers', id)
    const verdictKey = this.k('verdict', id)
    await this.watched(async (conn) => {
      await conn.watch(readersKey, verdictKey)
      const [texts, verdictText] = await Promise.all([conn.hgetall(readersKey), conn.get(verdictKey)])
      if (reader.eventId in texts) {
        await conn.unwatch()
        return 'done'
      }
      if (Object.keys(texts).length >= MAX_READERS_PER_OBJECT) {
        await conn.unwatch()
        await conn.hincrby(this.k('stats'), 'readers_dropped', 1)
        return 'done'
      }
      const tx = conn.multi()
      tx.hset(readersKey, reader.eventId, signer.seal(reader, 'reader', id, reader.eventId))
      const verdict = verdictText ? this.view(bucket, key, verdictText) : undefined
      if (verdict?.signature === 'valid') {
        const readers = [...this.verifiedReaders(bucket, key, texts).filter((r): r is Reader & { signature: 'valid' } => r.signature === 'valid'), reader]
        const { signature: _signature, ...record } = verdict
        tx.set(verdictKey, signer.seal({ ...record, ...summarizeReads(readers) }, 'verdict', id))
      }
      return (await tx.exec()) ? 'done' : 'retry'
    })
  }

  /** The object's readers, oldest first, each checked (a reader whose signature fails says so). */
  async readers(bucket: string, key: string): Promise<ReaderView[]> {
    return this.verifiedReaders(bucket, key, await this.redis.hgetall(this.k('readers', ref(bucket, key))))
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

  /** Closes the store's own write connection (the one passed in is the caller's). */
  close(): void {
    this.writer?.disconnect()
  }
}

/** The value at quantile q (0..1) of numbers, nearest rank; null when empty. */
export function quantile(values: number[], q: number): number | null {
  if (!values.length) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}
