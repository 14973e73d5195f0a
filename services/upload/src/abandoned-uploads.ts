// Clean after a crash: a process killed mid multipart upload (kill -9, OOM, power) leaves the
// upload and its parts in S3, billed and invisible. On start, abort the ones this service's
// role began that are older than MULTIPART_ABANDONED_AFTER_MS. A bucket lifecycle rule
// (AbortIncompleteMultipartUpload) is the backstop for everything else.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3'
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts'
import { toProblem } from '@kms-share/shared'

export interface AbandonedSweepResult {
  /** Uploads aborted. */
  aborted: number
  /** Uploads left alone: younger than the age, or begun by another principal. */
  kept: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The start-up sweep of abandoned multipart uploads; settles when it has run (it never rejects). */
    abandonedUploadsSweep: Promise<AbandonedSweepResult | undefined>
  }
}

/**
 * The principal that begins multipart uploads for us, as S3 names it in `Initiator.ID`: for a role
 * session the role (any session of it: after a restart on EC2 the session may differ), else the ARN.
 */
export function initiatorMatcher(callerArn: string): (initiatorId: string | undefined) => boolean {
  const role = /^arn:(aws[\w-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(callerArn)
  if (!role) return (id) => id === callerArn
  const [, partition, account, name] = role
  const sessionPrefix = `arn:${partition}:sts::${account}:assumed-role/${name}/`
  const roleArn = `arn:${partition}:iam::${account}:role/${name}`
  return (id) => id !== undefined && (id.startsWith(sessionPrefix) || id === roleArn)
}

export interface SweepOptions {
  s3: S3Client
  sts: STSClient
  bucket: string
  olderThanMs: number
  now?: Date
}

/** Lists every in-progress multipart upload of the bucket (paged) and aborts ours that are old enough. */
export async function abortAbandonedUploads({ s3, sts, bucket, olderThanMs, now = new Date() }: SweepOptions): Promise<AbandonedSweepResult> {
  const identity = await sts.send(new GetCallerIdentityCommand({}))
  const ours = initiatorMatcher(identity.Arn ?? '')
  const cutoff = now.getTime() - olderThanMs
  const result: AbandonedSweepResult = { aborted: 0, kept: 0 }
  let keyMarker: string | undefined
  let uploadIdMarker: string | undefined
  for (;;) {
    const page = await s3.send(new ListMultipartUploadsCommand({
      Bucket: bucket,
      ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
      ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}),
    }))
    for (const upload of page.Uploads ?? []) {
      const initiated = upload.Initiated?.getTime() ?? Number.POSITIVE_INFINITY
      if (!upload.Key || !upload.UploadId || initiated > cutoff || !ours(upload.Initiator?.ID)) {
        result.kept++
        continue
      }
      try {
        await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }))
        result.aborted++
      } catch (err) {
        // Already completed or aborted by someone else since the listing: nothing left to clean.
        if ((err as Error).name !== 'NoSuchUpload') throw err
      }
    }
    if (!page.IsTruncated) break
    keyMarker = page.NextKeyMarker
    uploadIdMarker = page.NextUploadIdMarker
  }
  return result
}

export interface AbandonedUploadsPluginOptions {
  bucket: string
  olderThanMs: number
  sts: STSClient
}

/** Runs the sweep once the app is ready, in the background: a slow S3 must not delay listening. */
export const abandonedUploadsPlugin = fp(
  async function abandonedUploadsPlugin(app: FastifyInstance, options: AbandonedUploadsPluginOptions) {
    let settle!: (result: AbandonedSweepResult | undefined) => void
    app.decorate('abandonedUploadsSweep', new Promise<AbandonedSweepResult | undefined>((resolve) => { settle = resolve }))
    app.addHook('onReady', async () => {
      abortAbandonedUploads({ s3: app.s3, sts: options.sts, bucket: options.bucket, olderThanMs: options.olderThanMs }).then(
        (result) => {
          app.log.info({ ...result, olderThanMs: options.olderThanMs }, 'abandoned multipart uploads swept')
          settle(result)
        },
        (err: unknown) => {
          const problem = toProblem(err, { action: 's3:ListBucketMultipartUploads' })
          app.log.warn({ problem: problem.code, awsErrorCode: problem.awsErrorCode, action: problem.action, detail: problem.detail }, 'could not sweep abandoned multipart uploads; the bucket lifecycle rule (AbortIncompleteMultipartUpload) remains the backstop')
          settle(undefined)
        },
      )
    })
    app.addHook('onClose', async () => {
      options.sts.destroy()
    })
  },
  { name: 'upload-abandoned-uploads', fastify: '5.x', dependencies: ['kms-share-s3'] },
)
