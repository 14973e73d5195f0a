// Where a download comes from: the cache when current (revalidated by ETag against S3), else
// S3 GetObject streamed to the client while written to the cache, one fetch per key at a time.
import { Transform, type Readable } from 'node:stream'
import { GetObjectCommand, HeadObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3'
import { isAwsServiceError, ProblemError, problemOf, SharedErrors, toProblem } from '@kms-share/shared'
import mime from 'mime'
import type { CacheEntry, FileCache } from './cache.js'

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

export class Downloader {
  readonly stats: DownloadStats = { s3Fetches: 0, revalidations: 0, cacheHits: 0 }
  private inflight = new Map<string, Promise<CacheEntry | undefined>>()
  private checks = new Map<string, Promise<{ current: boolean }>>()

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    readonly cache: FileCache,
    private readonly log: DownloaderLogger,
  ) {}

  /** Metadata for HEAD: the cached entry when current, else S3 HeadObject. */
  async head(key: string): Promise<{ entry?: CacheEntry; info: ObjectInfo }> {
    const entry = this.cache.lookup(key)
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ...(entry ? { IfNoneMatch: entry.etag } : {}) }))
      if (entry && out.ETag === entry.etag) return { entry, info: entry }
      return { info: infoOf(key, out) }
    } catch (err) {
      if (entry && notModified(err)) return { entry, info: entry }
      if (entry && isNotFound(err)) await this.cache.invalidate(key)
      throw asProblem(err, key)
    }
  }

  /** A whole object or, with `range` (a `bytes=` header value), part of it. */
  async get(key: string, range?: string): Promise<Delivery> {
    const entry = this.cache.lookup(key)
    if (entry) {
      const fresh = await this.check(entry)
      if (fresh.current) {
        this.stats.cacheHits++
        this.cache.touch(entry)
        return { source: 'cache', entry }
      }
    }
    // Only a cached file serves ranges locally; a range of an uncached object goes to S3 and is not cached.
    if (range && !this.cache.lookup(key)) return this.fetchRange(key, range)
    return this.miss(key)
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
      if (out.ETag === entry.etag) return { current: true }
      await this.cache.invalidate(entry.key)
      return { current: false }
    } catch (err) {
      if (preconditionFailed(err) || isNotFound(err)) {
        await this.cache.invalidate(entry.key)
        if (preconditionFailed(err)) return { current: false }
      }
      // No longer readable by us: the plaintext copy must not outlive the permission.
      if (isAccessDenied(err)) await this.cache.invalidate(entry.key)
      throw asProblem(err, entry.key)
    }
  }

  private async fetchRange(key: string, range: string): Promise<Delivery> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }))
      const info = infoOf(key, out)
      const total = out.ContentRange ? Number(out.ContentRange.split('/')[1]) : info.size
      return {
        source: 's3',
        info: { ...info, size: Number.isFinite(total) ? total : info.size },
        body: out.Body as Readable,
        status: out.ContentRange ? 206 : 200,
        ...(out.ContentRange ? { contentRange: out.ContentRange } : {}),
        contentLength: out.ContentLength ?? 0,
      }
    } catch (err) {
      throw asProblem(err, key)
    }
  }

  /** A miss: the first request for a key fetches it; the others wait for the file and serve it. */
  private async miss(key: string): Promise<Delivery> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const running = this.inflight.get(key)
      if (!running) break
      const entry = await running
      const current = entry && this.cache.lookup(key) === entry ? entry : undefined
      if (current) {
        this.stats.cacheHits++
        this.cache.touch(current)
        return { source: 'cache', entry: current }
      }
    }
    this.stats.s3Fetches++
    const response = this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))
    return this.fill(key, response)
  }

  /** Stream a full GetObject answer to the client, teeing it into a cache file; register it for single-flight. */
  private async fill(key: string, response: Promise<GetObjectCommandOutput>): Promise<Delivery> {
    let settle!: (entry: CacheEntry | undefined) => void
    const done = new Promise<CacheEntry | undefined>((resolve) => (settle = resolve))
    const leader = !this.inflight.has(key)
    if (leader) this.inflight.set(key, done)
    const finish = (entry: CacheEntry | undefined): void => {
      if (leader && this.inflight.get(key) === done) this.inflight.delete(key)
      settle(entry)
    }

    let out: GetObjectCommandOutput
    try {
      out = await response
    } catch (err) {
      finish(undefined)
      throw asProblem(err, key)
    }
    const info = infoOf(key, out)
    const body = out.Body as Readable
    const writer = leader
      ? await this.cache.beginWrite({
          key,
          etag: info.etag,
          contentType: info.contentType,
          expectedSize: info.size,
          ...(info.lastModified ? { lastModified: info.lastModified } : {}),
        })
      : undefined
    if (!writer) {
      finish(undefined)
      return { source: 's3', info, body, status: 200, contentLength: info.size }
    }

    let failed = false
    let fileFailed = false
    let waiting: (() => void) | undefined
    const file = writer.stream
    // Each chunk goes to the file first, then on to the client: the slower side sets the pace.
    // The last chunk is held back until the file is renamed into place, so a client that has
    // every byte (even one that stops reading at Content-Length) finds the object cached.
    let held: Buffer | undefined
    const tee = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        const forward = (): void => {
          if (held) this.push(held)
          held = chunk
          callback()
        }
        if (fileFailed || file.write(chunk)) return forward()
        waiting = () => {
          waiting = undefined
          forward()
        }
        file.once('drain', () => waiting?.())
      },
      flush(callback) {
        const release = (): void => {
          if (held) this.push(held)
          held = undefined
          callback()
        }
        if (failed || fileFailed) return release()
        void writer.commit().then((entry) => {
          finish(entry)
          release()
        })
      },
    })
    const fail = (err?: Error): void => {
      if (failed) return
      failed = true
      body.destroy()
      if (!tee.destroyed) tee.destroy(err)
      void writer.abort().then(() => finish(undefined))
    }
    body.on('error', (err) => {
      this.log.warn({ err, key }, 'S3 transfer failed: not cached')
      fail(err)
    })
    file.on('error', (err) => {
      // The disk failed, not the transfer: keep serving, stop caching.
      if (fileFailed || failed) return
      this.log.warn({ err, key }, 'cache file write failed: not cached')
      fileFailed = true
      waiting?.()
      void writer.abort().then(() => finish(undefined))
    })
    // A client that goes away before the end cuts the S3 transfer and leaves no entry.
    tee.on('close', () => {
      if (!tee.readableEnded) fail()
    })
    body.pipe(tee)
    return { source: 's3', info, body: tee, status: 200, contentLength: info.size }
  }
}
