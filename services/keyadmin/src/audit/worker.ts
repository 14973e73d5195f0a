// The audit worker: takes `kms-audit` jobs, checks HeadObject and CloudTrail, stores verdicts;
// sweeps the bucket for objects without one; records who read which object (Decrypt events).
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail'
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import {
  AUDIT_JOB_NAME, AUDIT_QUEUE, auditJobOptions, awsErrorCode, createS3Client, isAwsServiceError, parseAuditJob,
  type AuditJob,
} from '@kms-share/shared'
import type { AuditWorkerConfig } from './config.js'
import { auditSigner } from './signature.js'
import { AuditStore, type Reader } from './store.js'
import { TrailReader, type KmsEvent } from './trail.js'
import { judge, type AuditRecord, type HeadFacts } from './verdict.js'

export interface AuditLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

export interface AuditWorkerOptions {
  log: AuditLogger
  /** Clients to use instead of ones built from the config (still destroyed on close). */
  s3?: S3Client
  cloudtrail?: CloudTrailClient
  /** Start without the periodic sweep and readers poll (tests drive them). */
  manual?: boolean
}

export type JobOutcome = { verdict: AuditRecord['verdict'] } | { skipped: 'gone' | 'superseded' }

/** Raised while the GenerateDataKey event is not visible yet: BullMQ retries with back-off. */
export class EventNotYetVisible extends Error {
  constructor(detail: string) {
    super(`no GenerateDataKey event yet: ${detail}`)
    this.name = 'EventNotYetVisible'
  }
}

export interface AuditWorker {
  worker: Worker
  queue: Queue
  store: AuditStore
  trail: TrailReader
  /** Lists the bucket and enqueues every object whose current ETag has no verdict; returns how many were added. */
  sweep(): Promise<number>
  /** Reads new CloudTrail events now (readers). */
  pollReaders(): Promise<void>
  close(): Promise<void>
}

/** True when `promise` settles within `ms`; never waits longer (a stuck close must not hold a shutdown). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((r) => { timer = setTimeout(() => r(false), ms) })
  try {
    return await Promise.race([promise.then(() => true, () => true), late])
  } finally {
    clearTimeout(timer)
  }
}

const isAwsCode = (err: unknown, ...codes: string[]) => isAwsServiceError(err) && (codes.includes(awsErrorCode(err)) || codes.includes(String(err.$metadata.httpStatusCode)))

export async function createAuditWorker(config: AuditWorkerConfig, options: AuditWorkerOptions): Promise<AuditWorker> {
  const { log } = options
  const timeouts = { requestHandler: { connectionTimeout: Math.min(config.AWS_TIMEOUT_MS, 5_000), requestTimeout: config.AWS_TIMEOUT_MS }, maxAttempts: 2 }
  const s3 = options.s3 ?? createS3Client(config, timeouts)
  // Same identity chain and region as the S3 client; the lab (or AWS_ENDPOINT_URL) serves CloudTrail too. Throttling is handled (and counted) by the reader.
  const cloudtrail = options.cloudtrail ?? new CloudTrailClient({
    region: s3.config.region,
    credentials: s3.config.credentials,
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    ...timeouts,
    maxAttempts: 1,
  })
  // BullMQ's worker needs commands to wait through reconnects (maxRetriesPerRequest: null).
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, connectTimeout: 5_000 })
  redis.on('error', (err) => log.debug({ err: err.message }, 'audit: redis connection error'))
  const store = new AuditStore(redis, auditSigner(config.AUDIT_SIGNING_KEY))
  const queue = new Queue<AuditJob>(AUDIT_QUEUE, { connection: redis })
  queue.on('error', (err) => log.warn({ err: err.message }, 'audit queue error'))
  const bucketPrefix = `arn:aws:s3:::${config.BUCKET}/`

  const recordReader = async (event: KmsEvent) => {
    if (event.eventName !== 'Decrypt') return
    const s3Arn = event.encryptionContext['aws:s3:arn']
    if (!s3Arn?.startsWith(bucketPrefix)) return
    const viaS3 = event.invokedBy === 'fas.s3.amazonaws.com' || /^s3\./.test(event.invokedBy ?? '')
    // S3 decrypts the parts as the uploader to complete a multipart upload: part of writing, not a read.
    const writing = viaS3 && event.roleName === config.AUDIT_UPLOADER_ROLE
    const reader: Reader = {
      eventId: event.eventId,
      eventTime: new Date(event.time).toISOString(),
      principal: event.principal,
      roleName: event.roleName,
      viaS3,
      outcome: event.errorCode ? 'denied' : 'ok',
      errorCode: event.errorCode,
      unexpected: event.roleName !== config.AUDIT_DOWNLOADER_ROLE && !writing,
      vpcEndpointId: event.vpcEndpointId,
    }
    await store.addReader(config.BUCKET, s3Arn.slice(bucketPrefix.length), reader)
  }

  const trail = new TrailReader({
    cloudtrail,
    redis,
    limiterKey: store.limiterKey(),
    intervalMs: config.AUDIT_LOOKUP_INTERVAL_MS,
    latenessMs: config.AUDIT_EVENT_LATENESS_SECONDS * 1000,
    retainMs: (Math.max(config.AUDIT_BUCKET_KEY_LOOKBACK_SECONDS, config.AUDIT_UPLOAD_LOOKBACK_SECONDS, config.AUDIT_EVENT_LATENESS_SECONDS) + config.AUDIT_CLOCK_SKEW_SECONDS) * 1000,
    timeoutMs: config.AWS_TIMEOUT_MS,
    onNewEvent: recordReader,
    onCall: (outcome) => void store.count(outcome === 'ok' ? 'lookup_calls' : 'lookup_throttles').then(
      () => outcome === 'throttled' ? store.count('lookup_calls') : undefined,
    ).catch(() => {}),
  })

  async function head(job: AuditJob): Promise<HeadFacts | 'gone'> {
    try {
      const out = await s3.send(new HeadObjectCommand({ Bucket: job.bucket, Key: job.key, ...(job.versionId ? { VersionId: job.versionId } : {}) }))
      return {
        etag: out.ETag ?? '',
        sseAlgorithm: out.ServerSideEncryption ?? null,
        kmsKeyArn: out.SSEKMSKeyId ?? null,
        bucketKeyEnabled: out.BucketKeyEnabled === true,
        lastModified: out.LastModified ? out.LastModified.toISOString() : null,
        ...(out.ContentLength !== undefined ? { size: out.ContentLength } : {}),
      }
    } catch (err) {
      if (isAwsCode(err, 'NotFound', 'NoSuchKey', '404')) return 'gone'
      // A HEAD answer has no body: name the status, which is all S3 sends (403: the auditor may not read it).
      if (isAwsServiceError(err)) throw new Error(`HeadObject s3://${job.bucket}/${job.key} failed: HTTP ${err.$metadata.httpStatusCode ?? '?'} ${awsErrorCode(err)}`, { cause: err })
      throw err
    }
  }

  async function process(job: Job<AuditJob>): Promise<JobOutcome> {
    const attemptStartedAt = Date.now()
    let data: AuditJob
    try {
      data = parseAuditJob(job.data)
    } catch (err) {
      // Retrying cannot fix bad data: straight to the failed set with the reason.
      throw new UnrecoverableError((err as Error).message)
    }
    const facts = await head(data)
    if (facts === 'gone') return { skipped: 'gone' }
    // Overwritten since: the new version has its own job (another ETag).
    if (facts.etag !== data.etag) return { skipped: 'superseded' }

    const skew = config.AUDIT_CLOCK_SKEW_SECONDS * 1000
    const uploadedAt = Date.parse(data.uploadedAt)
    const started = data.startedAt ? Date.parse(data.startedAt) : uploadedAt - config.AUDIT_UPLOAD_LOOKBACK_SECONDS * 1000
    const from = (facts.bucketKeyEnabled ? started - config.AUDIT_BUCKET_KEY_LOOKBACK_SECONDS * 1000 : started) - skew
    const until = uploadedAt + skew + (data.source === 'sweep' ? config.AUDIT_UPLOAD_LOOKBACK_SECONDS * 1000 : 0)
    // First try: any reading begun after the upload will do; retries need a reading begun after they started.
    const notBefore = job.attemptsMade === 0 ? Math.min(uploadedAt, attemptStartedAt) : attemptStartedAt
    await trail.ensure(from, notBefore)

    const contextArn = facts.bucketKeyEnabled ? `arn:aws:s3:::${data.bucket}` : `arn:aws:s3:::${data.bucket}/${data.key}`
    const attempts = job.attemptsMade + 1
    const record = judge({
      job: data,
      head: facts,
      candidates: trail.eventsFor(contextArn),
      window: { from, until },
      expectedKeyArn: config.AUDIT_KMS_KEY_ARN ?? data.expectedKeyArn ?? null,
      uploaderRole: config.AUDIT_UPLOADER_ROLE,
      lastAttempt: attempts >= (job.opts.attempts ?? 1),
      attempts,
    })
    if (!record) throw new EventNotYetVisible(`aws:s3:arn=${contextArn} (attempt ${attempts} of ${job.opts.attempts ?? 1})`)
    await store.saveVerdict(record)
    log.info({ key: data.key, verdict: record.verdict, reasons: record.reasons, attempts }, 'audit verdict')
    return { verdict: record.verdict }
  }

  const workerConnection = redis.duplicate({ maxRetriesPerRequest: null })
  workerConnection.on('error', (err) => log.debug({ err: err.message }, 'audit: redis connection error'))
  const worker = new Worker<AuditJob, JobOutcome>(AUDIT_QUEUE, process, {
    connection: workerConnection,
    concurrency: config.AUDIT_CONCURRENCY,
    lockDuration: config.AUDIT_LOCK_MS,
    stalledInterval: config.AUDIT_STALLED_INTERVAL_MS,
    // A job whose worker died twice is given up (failed set) rather than retried forever.
    maxStalledCount: 2,
    autorun: false,
  })
  worker.on('failed', (job, err) => {
    if (!job) return
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError
    if (err.name === 'EventNotYetVisible' && !final) log.debug({ key: job.data?.key, attempt: job.attemptsMade }, err.message)
    else log[final ? 'error' : 'warn']({ key: job.data?.key, attempt: job.attemptsMade, err: err.message }, final ? 'audit job failed for good' : 'audit job failed; will retry')
  })
  worker.on('stalled', (jobId) => log.warn({ jobId }, 'audit job stalled (its worker stopped); it runs again'))
  worker.on('error', (err) => log.warn({ err: err.message }, 'audit worker error'))

  async function sweep(): Promise<number> {
    let added = 0
    let token: string | undefined
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: config.BUCKET, MaxKeys: 1000, ...(token ? { ContinuationToken: token } : {}) }))
      const objects = (page.Contents ?? []).filter((o) => o.Key && o.ETag)
      const etags = await store.verdictEtags(config.BUCKET, objects.map((o) => o.Key!))
      const missing = objects.filter((o, i) => etags[i] !== o.ETag)
      if (missing.length) {
        await queue.addBulk(missing.map((o) => {
          const data: AuditJob = parseAuditJob({
            v: 1,
            source: 'sweep',
            bucket: config.BUCKET,
            key: o.Key!,
            etag: o.ETag!,
            expectedKeyArn: config.AUDIT_KMS_KEY_ARN ?? null,
            principal: null,
            bucketKey: config.AUDIT_EXPECT_BUCKET_KEY,
            uploadedAt: (o.LastModified ?? new Date()).toISOString(),
          })
          return { name: AUDIT_JOB_NAME, data, opts: auditJobOptions(data, { attempts: config.AUDIT_ATTEMPTS, backoffMs: config.AUDIT_BACKOFF_MS }) }
        }))
        added += missing.length
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    log.info({ enqueued: added }, 'audit sweep done')
    return added
  }

  const timers: NodeJS.Timeout[] = []
  let sweeping: Promise<unknown> | undefined
  const runSweep = () => {
    if (sweeping) return
    sweeping = sweep().catch((err: Error) => log.warn({ err: err.message }, 'audit sweep failed; next time')).finally(() => { sweeping = undefined })
  }
  let polling: Promise<unknown> | undefined
  const pollReaders = async () => { await trail.poll() }
  const runPoll = () => {
    if (polling) return
    polling = pollReaders().catch((err: Error) => log.warn({ err: err.message }, 'audit: reading CloudTrail failed; next time')).finally(() => { polling = undefined })
  }

  void worker.run().catch((err: Error) => log.error({ err: err.message }, 'audit worker stopped'))
  if (!options.manual) {
    runSweep()
    if (config.AUDIT_SWEEP_INTERVAL > 0) timers.push(setInterval(runSweep, config.AUDIT_SWEEP_INTERVAL * 1000))
    timers.push(setInterval(runPoll, config.AUDIT_READERS_POLL_SECONDS * 1000))
  }

  let closed = false
  return {
    worker,
    queue,
    store,
    trail,
    sweep,
    pollReaders,
    async close() {
      if (closed) return
      closed = true
      for (const t of timers) clearInterval(t)
      // Waits for the jobs in progress to finish (the rest stay queued for the next worker), within the grace period.
      if (!(await within(worker.close(), config.SHUTDOWN_GRACE_MS))) {
        log.warn({ graceMs: config.SHUTDOWN_GRACE_MS }, 'audit worker: jobs still running after the grace period; closing anyway (their locks expire and they run again)')
        await within(worker.close(true), 2_000)
      }
      await within(Promise.allSettled([sweeping, polling]), 2_000)
      await within(queue.close(), 2_000)
      store.close()
      redis.disconnect()
      workerConnection.disconnect()
      s3.destroy()
      cloudtrail.destroy()
    },
  }
}
