// The bucket's objects with their encryption: ListObjectsV2, then HeadObject per object with
// bounded concurrency. Shared by GET /files and the page.
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import type { Static } from 'typebox'
import { awsErrorCode, isAwsServiceError, ProblemError, toProblem } from '@kms-share/shared'
import type { FileCache } from './cache.js'
import type { FileListSchema } from './schemas/files.js'

export type FileList = Static<typeof FileListSchema>
export type FileItem = FileList['items'][number]

/** Run `fn` over `items` with at most `limit` at a time, keeping order. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i])
    }
  })
  await Promise.all(workers)
  return results
}

export async function listFiles(s3: S3Client, bucket: string, cache: FileCache, page: { limit: number; token?: string; prefix?: string }, headConcurrency: number): Promise<FileList> {
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
  const items = await mapBounded(listed.Contents ?? [], headConcurrency, async (object): Promise<FileItem> => {
    const key = object.Key ?? ''
    const cached = cache.lookup(key)
    const base = {
      key,
      size: object.Size ?? 0,
      lastModified: object.LastModified?.toISOString() ?? null,
      etag: object.ETag ?? null,
      cached: cached !== undefined && cached.etag === object.ETag,
    }
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
      return {
        ...base,
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
      return { ...base, encryption: null, encryptionError: code }
    }
  })
  return { items, ...(listed.IsTruncated && listed.NextContinuationToken ? { nextToken: listed.NextContinuationToken } : {}) }
}
