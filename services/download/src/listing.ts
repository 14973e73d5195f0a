// The bucket's objects with their encryption: ListObjectsV2, then HeadObject per object version
// through a shared, bounded, memoised lookup. Shared by GET /files and the page.
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import type { Static } from 'typebox'
import { awsErrorCode, isAwsServiceError, ProblemError, toProblem } from '@kms-share/shared'
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

export async function listFiles(s3: S3Client, bucket: string, cache: FileCache, page: { limit: number; token?: string; prefix?: string }, lookup: EncryptionLookup): Promise<FileList> {
  let listed
  try {
    listed = await s3.send(new ListObjectsV2Command({
      Bucket: bucket,
      MaxKeys: page.limit,
      ...(page.token ? { ContinuationToken: page.token } : {}),
      ...(page.prefix ? { Prefix: page.prefix } : {}),
    }))
  } catch (err) {
    throw new ProblemError(toProblem(err, { action: 's3:ListBucket' }), { cause: err })
  }
  const items = await Promise.all((listed.Contents ?? []).map(async (object): Promise<FileItem> => {
    const key = object.Key ?? ''
    const cached = cache.lookup(key)
    const etag = object.ETag ?? null
    const details = await lookup.get(key, etag)
    return {
      key,
      size: object.Size ?? 0,
      lastModified: object.LastModified?.toISOString() ?? null,
      etag,
      cached: cached !== undefined && cached.etag === object.ETag,
      ...details,
    }
  }))
  return { items, ...(listed.IsTruncated && listed.NextContinuationToken ? { nextToken: listed.NextContinuationToken } : {}) }
}
