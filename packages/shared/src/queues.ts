// The audit queue's contract, in one place for its producer (upload) and its worker (keyadmin):
// the queue's name, the job's schema (references only, never content or keys), the
// deduplicating job id and the options every `add` sets.
import { createHash } from 'node:crypto'
import { Type, type Static, type TProperties } from 'typebox'
import { Compile } from 'typebox/compile'

/** The BullMQ queue every stored object's audit goes through. */
export const AUDIT_QUEUE = 'kms-audit'
/** The one job name on that queue. */
export const AUDIT_JOB_NAME = 'audit-object'
/** Where audit results live in Redis (keys `kms-audit:…`), apart from BullMQ's own `bull:kms-audit:…`. */
export const AUDIT_RESULTS_PREFIX = 'kms-audit'

const IsoTime = (description: string) => Type.String({ format: 'date-time', description })

/** What a job carries: references to an object and what its writer expected. */
export const AuditJobSchema = Type.Object(
  {
    v: Type.Literal(1, { description: 'Schema version.' }),
    source: Type.Union([Type.Literal('upload'), Type.Literal('sweep')], { description: 'Who enqueued it: the upload service, or the sweep that lists the bucket.' }),
    bucket: Type.String({ minLength: 3, maxLength: 63 }),
    key: Type.String({ minLength: 1, maxLength: 1024 }),
    etag: Type.String({ minLength: 1, maxLength: 128, description: "The object's ETag as S3 returned it (quoted)." }),
    versionId: Type.Optional(Type.String({ maxLength: 1024 })),
    expectedKeyArn: Type.Union([Type.String({ pattern: '^arn:aws[\\w-]*:kms:' }), Type.Null()], { description: 'The KMS key the writer asked for, as S3 reported it; null when unknown (sweep).' }),
    principal: Type.Union([Type.String({ pattern: '^arn:aws[\\w-]*:(sts|iam)::' }), Type.Null()], { description: "The writer's ARN (an assumed-role session); null when unknown (sweep)." }),
    bucketKey: Type.Boolean({ description: 'S3 Bucket Key on: the GenerateDataKey context names the bucket, not the object.' }),
    startedAt: Type.Optional(IsoTime('When the upload request began (the GenerateDataKey happens between this and uploadedAt).')),
    uploadedAt: IsoTime('When S3 answered the write (or, from the sweep, LastModified).'),
  },
  { additionalProperties: false },
)
export type AuditJob = Static<typeof AuditJobSchema>

const auditJobValidator = Compile(AuditJobSchema)

/** Validates a job's data (the worker trusts nothing it reads from Redis); throws with what is wrong. */
export function parseAuditJob(data: unknown): AuditJob {
  if (auditJobValidator.Check(data)) return data
  const errors = auditJobValidator.Errors(data).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`)
  throw new Error(`invalid audit job: ${errors.join('; ')}`)
}

/** The deduplicating job id: the same object version (bucket, key, ETag) is audited once. */
export function auditJobId(bucket: string, key: string, etag: string): string {
  // BullMQ reserves ':' in custom ids, and keys may hold anything: hash them.
  // JSON keeps the fields apart even when a key holds a newline.
  const digest = createHash('sha256').update(JSON.stringify([bucket, key, etag])).digest('hex').slice(0, 40)
  return `obj-${digest}`
}

/** The part of BullMQ's JobsOptions every audit `add` sets (structurally compatible, so this package needs no bullmq). */
export interface AuditJobOptions {
  jobId: string
  attempts: number
  backoff: { type: 'exponential'; delay: number }
  removeOnComplete: { age: number; count: number }
  removeOnFail: { age: number; count: number }
}

export interface AuditRetryPolicy {
  /** Tries before the job gives up (the last one records UNVERIFIED when no event was found). */
  attempts: number
  /** First retry delay; doubled each time (CloudTrail is minutes late in AWS). */
  backoffMs: number
}

/** Options for adding an object's audit job: attempts, back-off, retention and the dedup id. */
export function auditJobOptions(job: Pick<AuditJob, 'bucket' | 'key' | 'etag'>, retry: AuditRetryPolicy): AuditJobOptions {
  return {
    jobId: auditJobId(job.bucket, job.key, job.etag),
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    // Completed jobs are kept a day (their id keeps deduplicating); failed ones a week, for their reason.
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  }
}

/** The environment of anything that talks to the audit queue (upload's producer, keyadmin, the worker). */
export const auditQueueConfigProperties = {
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'Redis for the audit queue, e.g. redis://127.0.0.1:6379; unset: no audit queue.' })),
  AUDIT_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 50, default: 8, description: 'Tries per audit job before UNVERIFIED (no event) or the failed set (errors).' }),
  AUDIT_BACKOFF_MS: Type.Integer({ minimum: 10, default: 15_000, description: 'First retry delay of an audit job, doubled on each retry.' }),
  AUDIT_ENQUEUE_TIMEOUT_MS: Type.Integer({ minimum: 50, default: 2_000, description: 'How long an upload waits for Redis to take its audit job before answering "audit": "pending".' }),
} satisfies TProperties
