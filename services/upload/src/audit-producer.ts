// The audit queue's producer: after each stored object, one BullMQ job on `kms-audit` with
// references only. Redis being down never fails an upload: the answer says "pending" and the
// worker's sweep picks the object up later.
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts'
import { AUDIT_JOB_NAME, AUDIT_QUEUE, auditJobOptions, createStsClient, parseAuditJob, type AuditJob, type AuditRetryPolicy } from '@kms-share/shared'
import type { UploadConfig } from './config.js'
import type { OnUploaded } from './routes/files.js'
import type { StoredObject } from './s3-upload.js'

export type AuditStatus = 'queued' | 'pending'

export interface AuditProducerOptions {
  redisUrl: string
  retry: AuditRetryPolicy
  /** How long an upload waits for Redis before answering "pending". */
  enqueueTimeoutMs: number
  /** The uploader's own ARN (STS GetCallerIdentity), asked once; null when it cannot be learnt. */
  principal: () => Promise<string | null>
  /** For connection troubles (uploads log through their request's logger). */
  log?: FastifyBaseLogger
}

export interface UploadedObject extends StoredObject {
  bucket: string
  /** When the upload request began. */
  startedAt: string
}

/** A promise that rejects after `ms`, so a stuck Redis cannot hold an upload's answer. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export class AuditProducer {
  private queue: Queue | undefined
  private connection: Redis | undefined
  private connecting: Promise<Queue> | undefined
  private closed = false
  private principalAsked: Promise<string | null> | undefined

  constructor(private readonly options: AuditProducerOptions) {}

  /** The queue once Redis has answered; a queue whose first connection failed is dropped and made again next time. */
  private async ready(): Promise<Queue> {
    if (this.queue) return this.queue
    if (!this.connecting) {
      this.connecting = (async () => {
        // Fail fast: no offline queue, one retry per command; ioredis keeps reconnecting in the background.
        const connection = new Redis(this.options.redisUrl, {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: this.options.enqueueTimeoutMs,
          retryStrategy: (times) => Math.min(times * 200, 2_000),
        })
        connection.on('error', (err) => this.options.log?.debug({ err: err.message }, 'audit queue: redis connection error'))
        const queue = new Queue(AUDIT_QUEUE, { connection })
        queue.on('error', (err) => this.options.log?.debug({ err: err.message }, 'audit queue error'))
        try {
          await withTimeout(queue.waitUntilReady(), this.options.enqueueTimeoutMs, 'connecting to Redis')
          this.queue = queue
          this.connection = connection
          return queue
        } catch (err) {
          await queue.close().catch(() => {})
          connection.disconnect()
          throw err
        } finally {
          this.connecting = undefined
        }
      })()
    }
    return this.connecting
  }

  private principal(log: FastifyBaseLogger): Promise<string | null> {
    if (!this.principalAsked) {
      this.principalAsked = this.options.principal().catch((err) => {
        log.warn({ err }, 'audit: could not learn the uploader principal; the worker checks the configured role only')
        this.principalAsked = undefined
        return null
      })
    }
    return this.principalAsked
  }

  /** Enqueues the object's audit; "pending" when Redis did not take it in time (the sweep will). */
  async enqueue(object: UploadedObject, log: FastifyBaseLogger): Promise<AuditStatus> {
    if (this.closed) return 'pending'
    try {
      const job: AuditJob = parseAuditJob({
        v: 1,
        source: 'upload',
        bucket: object.bucket,
        key: object.key,
        etag: object.etag,
        ...(object.versionId ? { versionId: object.versionId } : {}),
        expectedKeyArn: object.kmsKeyArn,
        principal: await withTimeout(this.principal(log), this.options.enqueueTimeoutMs, 'asking STS who the uploader is').catch(() => null),
        bucketKey: object.bucketKeyEnabled,
        startedAt: object.startedAt,
        uploadedAt: new Date().toISOString(),
      })
      const queue = await this.ready()
      await withTimeout(queue.add(AUDIT_JOB_NAME, job, auditJobOptions(job, this.options.retry)), this.options.enqueueTimeoutMs, 'adding the audit job')
      return 'queued'
    } catch (err) {
      log.warn({ err: (err as Error).message, key: object.key }, 'audit job not queued; the sweep will audit the object')
      return 'pending'
    }
  }

  async close(): Promise<void> {
    this.closed = true
    const queue = this.queue ?? (await this.connecting?.catch(() => undefined))
    if (!queue) return
    // A connection passed in is the caller's to close: BullMQ leaves it open.
    await queue.close().catch(() => {})
    this.connection?.disconnect()
  }
}

/** The producer for a config with REDIS_URL (undefined without), and the `onUploaded` hook that feeds it. */
export function createAuditProducer(config: UploadConfig & { AWS_TIMEOUT_MS?: number }): { producer: AuditProducer; onUploaded: OnUploaded } | undefined {
  if (!config.REDIS_URL) return undefined
  const timeoutMs = config.AWS_TIMEOUT_MS ?? 10_000
  const producer = new AuditProducer({
    redisUrl: config.REDIS_URL,
    retry: { attempts: config.AUDIT_ATTEMPTS, backoffMs: config.AUDIT_BACKOFF_MS },
    enqueueTimeoutMs: config.AUDIT_ENQUEUE_TIMEOUT_MS,
    principal: async () => {
      // Needs no permission: any identity may ask who it is.
      const sts = createStsClient(config, { requestHandler: { connectionTimeout: Math.min(timeoutMs, 5_000), requestTimeout: timeoutMs }, maxAttempts: 2 })
      try {
        return (await sts.send(new GetCallerIdentityCommand({}))).Arn ?? null
      } finally {
        sts.destroy()
      }
    },
  })
  return { producer, onUploaded: async (object, request) => ({ audit: await producer.enqueue(object, request.log) }) }
}
