// Where a download comes from: the cache when current (revalidated by ETag against S3), else
// S3 GetObject written to a cache file at S3's speed while every client reads that file at its
// own pace (one fetch per key at a time); a periodic sweep drops entries we may no longer read.
import type { Readable } from 'node:stream'
import { GetObjectCommand, HeadObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3'
import { awsErrorCode, isAwsServiceError, ProblemError, problemOf, SharedErrors, toProblem } from '@kms-share/shared'
import mime from 'mime'
import type { CacheEntry, FileCache } from './cache.js'
import { parseRange } from './http-headers.js'
import { Spool } from './spool.js'

export interface ObjectInfo {
  key: string
  size: number
  etag: string
  contentType: string
  lastModified?: string
}

export type Delivery =
  | { source: 'cache'; entry: CacheEntry }
  /** A full body (status 200) or a range S3 served (206), streamed as it arrives. */
  | { source: 's3'; info: ObjectInfo; body: Readable; status: 200 | 206; contentRange?: string; contentLength: number }

export interface DownloadStats {
  /** Full-object GetObject calls made to fill the cache or stream a miss. */
  s3Fetches: number
  /** Conditional GetObject calls that checked a cached file. */
  revalidations: number
  /** Requests answered from the cache. */
  cacheHits: number
}

export interface DownloaderLogger {
  warn(obj: object, msg: string): void
}

/** S3's generic types say nothing; fall back to the extension (`.html` → text/html). */
export function contentTypeFor(key: string, stored: string | undefined): string {
  if (stored && stored !== 'binary/octet-stream' && stored !== 'application/octet-stream') return stored
  return mime.getType(key) ?? 'application/octet-stream'
}

const GET_OBJECT = 's3:GetObject'

function notModified(err: unknown): boolean {
  return isAwsServiceError(err) && err.$metadata.httpStatusCode === 304
}

function isNotFound(err: unknown): boolean {
  return isAwsServiceError(err) && (err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404)
}

function preconditionFailed(err: unknown): boolean {
  return isAwsServiceError(err) && err.$metadata.httpStatusCode === 412
}

function isAccessDenied(err: unknown): boolean {
  return isAwsServiceError(err) && err.$metadata.httpStatusCode === 403
}

/**
 * The key can no longer decrypt: disabled (DisabledException), pending deletion or pending import
 * (KMSInvalidStateException), deleted (NotFoundException). KeyUnavailableException is AWS's own
 * passing trouble ("you can retry"), so it keeps the file.
 * https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
 */
const KEY_STATE_CODES = new Set(['KMS.DisabledException', 'DisabledException', 'KMS.KMSInvalidStateException', 'KMSInvalidStateException', 'KMS.NotFoundException'])

function isKeyUnusable(err: unknown): boolean {
  return isAwsServiceError(err) && KEY_STATE_CODES.has(awsErrorCode(err))
}

/** AWS errors become problems that name the denied action (HEAD answers carry no message, so say it). */
export function asProblem(err: unknown, key: string): unknown {
  if (!isAwsServiceError(err)) return err
  if (err.$metadata.httpStatusCode === 403 && !err.message.includes('not authorized')) {
    // HEAD answers have no body, so the SDK reports a bare 403 "Forbidden": it is S3's AccessDenied.
    return new ProblemError(problemOf(new SharedErrors.AWS_ACCESS_DENIED(GET_OBJECT), {
      detail: `S3 denied ${GET_OBJECT} on ${key} (a HEAD answer carries no message)`,
      awsErrorCode: 'AccessDenied',
      action: GET_OBJECT,
      ...(err.$metadata.requestId ? { awsRequestId: err.$metadata.requestId } : {}),
    }), { cause: err })
  }
  return new ProblemError(toProblem(err, { action: GET_OBJECT, subject: key }), { cause: err })
}

function infoOf(key: string, out: Pick<GetObjectCommandOutput, 'ContentLength' | 'ETag' | 'ContentType' | 'LastModified'>): ObjectInfo {
  return {
    key,
    size: out.ContentLength ?? 0,
    etag: out.ETag ?? '',
    contentType: contentTypeFor(key, out.ContentType),
    ...(out.LastModified ? { lastModified: out.LastModified.toUTCString() } : {}),
  }
}

/** A whole-object transfer in progress: the spool clients read, and what S3 said about the object. */
interface Fill {
  spool: Spool
  info: ObjectInfo
}

/** Run `fn` over `items`, at most `limit` at a time. */
async function eachBounded<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

export class Downloader {
  readonly stats: DownloadStats = { s3Fetches: 0, revalidations: 0, cacheHits: 0 }
  // Per key, the whole-object fill starting or running (undefined once its GetObject failed).
  private inflight = new Map<string, Promise<Fill | undefined>>()
  private checks = new Map<string, Promise<{ current: boolean }>>()
  private spools = new Set<Spool>()
  private sweepTimer: NodeJS.Timeout | undefined
  private sweeping: Promise<void> | undefined
  // When S3 last vouched for each entry (its fetch or a revalidation), for CACHE_REVALIDATE_AFTER_MS.
  private vouched = new WeakMap<CacheEntry, number>()

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    readonly cache: FileCache,
    private readonly log: DownloaderLogger,
    /** Within this long of S3's last word on an entry a hit is served without asking (0: always ask). */
    private readonly revalidateAfterMs = 0,
  ) {}

  /** Whether a hit may skip revalidation: a window is set and S3 vouched for the entry within it. */
  private recentlyVouched(entry: CacheEntry): boolean {
    if (this.revalidateAfterMs <= 0) return false
    const at = this.vouched.get(entry) ?? Date.parse(entry.cachedAt)
    return Date.now() - at < this.revalidateAfterMs
  }

  /** Metadata for HEAD: the cached entry when current, else S3 HeadObject. */
  async head(key: string): Promise<{ entry?: CacheEntry; info: ObjectInfo }> {
    const entry = this.cache.lookup(key)
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ...(entry ? { IfNoneMatch: entry.etag } : {}) }))
      if (entry && out.ETag === entry.etag) return { entry, info: entry }
      return { info: infoOf(key, out) }
    } catch (err) {
      if (entry && notModified(err)) return { entry, info: entry }
      if (entry && isNotFound(err)) await this.cache.discard(entry)
      throw asProblem(err, key)
    }
  }

  /** A whole object or, with `range` (a `bytes=` header value), part of it. */
  async get(key: string, range?: string): Promise<Delivery> {
    const entry = this.cache.lookup(key)
    if (entry) {
      const fresh = this.recentlyVouched(entry) ? { current: true } : await this.check(entry)
      if (fresh.current) {
        this.stats.cacheHits++
        this.cache.touch(entry)
        return { source: 'cache', entry }
      }
    }
    const pending = this.inflight.get(key)
    if (pending) {
      const fill = await pending
      if (fill && fill.spool.state === 'filling') {
        const joined = this.join(fill, range)
        if (joined) return joined
      }
      // Just filled: the entry is as fresh as a revalidation would make it.
      const filled = this.cache.lookup(key)
      if (fill?.spool.state === 'done' && filled && filled.etag === fill.info.etag) {
        this.stats.cacheHits++
        this.cache.touch(filled)
        return { source: 'cache', entry: filled }
      }
    }
    // Only a cached file or a running fill serves ranges locally; other ranges go to S3 and are not cached.
    if (range && !this.cache.lookup(key)) return this.fetchRange(key, range)
    return this.miss(key)
  }

  /** Read from a fill in progress: the whole object, or a satisfiable range of it. */
  private join(fill: Fill, range: string | undefined): Delivery | undefined {
    const { spool, info } = fill
    const wanted = range ? parseRange(range, info.size) : { kind: 'none' as const }
    if (wanted.kind === 'unsatisfiable') return undefined
    try {
      this.stats.cacheHits++
      if (wanted.kind === 'range') {
        const length = wanted.end - wanted.start + 1
        return { source: 's3', info, body: spool.reader(wanted.start, wanted.end), status: 206, contentRange: `bytes ${wanted.start}-${wanted.end}/${info.size}`, contentLength: length }
      }
      return { source: 's3', info, body: spool.reader(), status: 200, contentLength: info.size }
    } catch {
      this.stats.cacheHits--
      return undefined // the fill failed just now
    }
  }

  /**
   * Concurrent hits on one cached file share one revalidation: a request that arrives while a
   * check is in flight takes its answer (only the caller that started it may take a changed body).
   */
  private async check(entry: CacheEntry): Promise<{ current: boolean }> {
    const id = `${entry.name}\u0000${entry.etag}`
    const pending = this.checks.get(id)
    if (pending) {
      const shared = await pending
      return { current: shared.current && this.cache.lookup(entry.key) === entry }
    }
    const started = this.revalidate(entry)
    this.checks.set(id, started)
    try {
      return await started
    } finally {
      this.checks.delete(id)
    }
  }

  /**
   * Is the cached copy still the object, and may we still read it? A conditional GetObject of one
   * byte (If-Match) makes S3 decrypt as this service, so a revoked s3:GetObject or kms:Decrypt
   * ends cache hits too (a 304 from If-None-Match would be answered without asking KMS).
   */
  private async revalidate(entry: CacheEntry): Promise<{ current: boolean }> {
    this.stats.revalidations++
    try {
      // An empty object has no byte to range over (S3 answers 416): ask for the whole, empty, body.
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: entry.key, IfMatch: entry.etag, ...(entry.size > 0 ? { Range: 'bytes=0-0' } : {}) }))
      ;(out.Body as Readable | undefined)?.destroy()
      if (out.ETag === entry.etag) {
        this.vouched.set(entry, Date.now())
        return { current: true }
      }
      await this.cache.discard(entry)
      return { current: false }
    } catch (err) {
      if (preconditionFailed(err) || isNotFound(err)) {
        await this.cache.discard(entry)
        if (preconditionFailed(err)) return { current: false }
      }
      // No longer readable by us (no permission, or a key that cannot decrypt): the plaintext copy must not outlive it.
      if (isAccessDenied(err) || isKeyUnusable(err)) await this.cache.discard(entry)
      throw asProblem(err, entry.key)
    }
  }

  /**
   * Revalidate every cached file every `intervalMs`, so a revoked permission removes the
   * plaintext even when nobody asks for it again. 0 turns the sweep off.
   */
  startSweep(intervalMs: number, concurrency = 4): void {
    if (intervalMs <= 0) return
    this.sweepTimer = setInterval(() => {
      this.sweeping ??= this.sweep(concurrency).then(() => undefined).finally(() => (this.sweeping = undefined))
    }, intervalMs)
    this.sweepTimer.unref()
  }

  /** One pass over the cache: entries S3 refuses, changed or gone are deleted (revalidate does it). */
  async sweep(concurrency = 4): Promise<{ checked: number; removed: number }> {
    const entries = this.cache.list()
    let removed = 0
    await eachBounded(entries, concurrency, async (entry) => {
      if (this.cache.lookup(entry.key) !== entry) return
      try {
        await this.check(entry)
      } catch (err) {
        // Network trouble keeps the file (it is checked again on use); a denial already removed it.
        if (!(err instanceof ProblemError) || err.problem.status >= 500) this.log.warn({ err, key: entry.key }, 'cache sweep could not revalidate an entry')
      }
      if (this.cache.lookup(entry.key) !== entry) removed++
    })
    if (removed > 0) this.log.warn({ removed, checked: entries.length }, 'cache sweep removed entries this service can no longer read or that changed')
    return { checked: entries.length, removed }
  }

  private async fetchRange(key: string, range: string): Promise<Delivery> {
    let out: GetObjectCommandOutput
    try {
      out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }))
    } catch (err) {
      throw asProblem(err, key)
    }
    const info = infoOf(key, out)
    const total = out.ContentRange ? Number(out.ContentRange.split('/')[1]) : info.size
    const contentLength = out.ContentLength ?? 0
    const body = await this.spooled(out.Body as Readable, contentLength, undefined)
    return {
      source: 's3',
      info: { ...info, size: Number.isFinite(total) ? total : info.size },
      body: body.reader,
      status: out.ContentRange ? 206 : 200,
      ...(out.ContentRange ? { contentRange: out.ContentRange } : {}),
      contentLength,
    }
  }

  /**
   * Copy an S3 body into a spool file at S3's speed and give back a reader of it; with `writer`
   * the file becomes the cache entry, else it is anonymous (unlinked at once). Without a usable
   * cache folder the body is streamed straight through (the client sets the pace).
   */
  private async spooled(body: Readable, size: number, writer: Awaited<ReturnType<FileCache['beginWrite']>>): Promise<{ reader: Readable; spool?: Spool }> {
    const handle = writer?.handle ?? (await this.cache.anonymousFile())
    if (!handle) return { reader: body }
    const spool = new Spool(handle, size)
    const reader = spool.reader()
    this.spools.add(spool)
    void spool.fill(body, async () => {
      if (writer) await writer.commit() // a failed commit only means "not cached": the bytes are complete
    }).then(async () => {
      this.spools.delete(spool)
      if (spool.state === 'failed') {
        this.log.warn({ err: spool.error }, 'S3 transfer failed: not cached')
        await writer?.abort()
      }
    })
    return { reader, spool }
  }

  /** A miss: the first request for a key starts the fill; the others read the same file (see get). */
  private async miss(key: string): Promise<Delivery> {
    let announce!: (fill: Fill | undefined) => void
    const pending = new Promise<Fill | undefined>((resolve) => (announce = resolve))
    this.inflight.set(key, pending)
    const forget = (): void => {
      if (this.inflight.get(key) === pending) this.inflight.delete(key)
    }
    this.stats.s3Fetches++
    let out: GetObjectCommandOutput
    try {
      out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))
    } catch (err) {
      forget()
      announce(undefined)
      throw asProblem(err, key)
    }
    const info = infoOf(key, out)
    const writer = await this.cache.beginWrite({
      key,
      etag: info.etag,
      contentType: info.contentType,
      expectedSize: info.size,
      ...(info.lastModified ? { lastModified: info.lastModified } : {}),
    }, { keepOpen: true })
    const { reader, spool } = await this.spooled(out.Body as Readable, info.size, writer)
    if (!spool) {
      forget()
      announce(undefined)
    } else {
      announce({ spool, info })
      void spool.settled.then(forget)
    }
    return { source: 's3', info, body: reader, status: 200, contentLength: info.size }
  }

  /** Stop the sweep and every transfer still running (shutdown): their temporary files go. */
  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer)
    this.sweepTimer = undefined
    for (const spool of this.spools) spool.abort(new Error('the service is shutting down'))
  }
}
