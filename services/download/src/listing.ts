// The bucket's objects with their encryption: the shared BucketLister's page, then HeadObject per object version
// through a shared, bounded, memoised lookup. Shared by GET /files and the page.
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import type { Static } from 'typebox'
import { awsErrorCode, isAwsServiceError, type BucketLister, type ListingQuery } from '@kms-share/shared'
import type { FileCache } from './cache.js'
import type { FileListSchema } from './schemas/files.js'

export type FileList = Static<typeof FileListSchema>
export type FileItem = FileList['items'][number]

export type Encryption = FileItem['encryption']
export interface EncryptionDetails {
  encryption: Encryption
  encryptionError?: string
}

/**
 * Encryption details per object version (key and ETag) for listings: at most `concurrency`
 * HeadObject calls in flight across every view, one call per version however many views ask at
 * once, and each answer reused for `memoMs` (a new ETag is a new version, so it is asked again).
 */
export class EncryptionLookup {
  readonly stats = { heads: 0, memoHits: 0 }
  private memo = new Map<string, { details: EncryptionDetails; expires: number }>()
  private pending = new Map<string, Promise<EncryptionDetails>>()
  private active = 0
  private queue: Array<() => void> = []

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly concurrency: number,
    private readonly memoMs: number,
    // Bounded memory however large the bucket: the oldest answers go first.
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string, etag: string | null): Promise<EncryptionDetails> {
    const id = `${key}\u0000${etag ?? ''}`
    const memo = this.memo.get(id)
    if (memo && memo.expires > Date.now()) {
      this.stats.memoHits++
      return memo.details
    }
    const running = this.pending.get(id)
    if (running) return running
    const started = this.head(key).then((details) => {
      if (this.memoMs > 0) {
        this.memo.delete(id)
        this.memo.set(id, { details, expires: Date.now() + this.memoMs })
        if (this.memo.size > this.maxEntries) this.memo.delete(this.memo.keys().next().value!)
      }
      return details
    }).finally(() => this.pending.delete(id))
    this.pending.set(id, started)
    return started
  }

  private async head(key: string): Promise<EncryptionDetails> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.queue.push(resolve))
    this.active++
    try {
      this.stats.heads++
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      return {
        encryption: {
          algorithm: head.ServerSideEncryption ?? null,
          kmsKeyArn: head.SSEKMSKeyId ?? null,
          bucketKeyEnabled: head.BucketKeyEnabled ?? false,
        },
      }
    } catch (err) {
      // One unreadable object should not hide the others: report it on the item.
      if (!isAwsServiceError(err)) throw err
      // HEAD answers carry no body: a bare 403 is S3's AccessDenied.
      const bare = ['Forbidden', 'Unknown', '403'].includes(awsErrorCode(err))
      const code = err.$metadata.httpStatusCode === 403 && bare ? 'AccessDenied' : awsErrorCode(err)
      return { encryption: null, encryptionError: code }
    } finally {
      this.active--
      this.queue.shift()?.()
    }
  }
}

/** One page of the bucket's listing (BucketLister) with each object's encryption and whether a current local copy exists. */
export async function listFiles(lister: BucketLister, cache: FileCache, query: Partial<ListingQuery>, lookup: EncryptionLookup): Promise<FileList> {
  const listing = await lister.list(query)
  const items = await Promise.all(listing.items.map(async (object): Promise<FileItem> => {
    const cached = cache.lookup(object.key)
    const details = await lookup.get(object.key, object.etag)
    return { ...object, cached: cached !== undefined && cached.etag === object.etag, ...details }
  }))
  return { ...listing, items, ...(listing.nextCursor ? { nextToken: listing.nextCursor } : {}) }
}
