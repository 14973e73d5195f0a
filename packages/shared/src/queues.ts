// The audit queue's contract, in one place for its producer (upload) and its worker (keyadmin):
// the queue's name, the job's schema (references only, never content or keys), the
// deduplicating job id and the options every `add` sets.
import { hash } from 'node:crypto'
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
  const digest = hash('sha256', JSON.stringify([bucket, key, etag]), 'hex').slice(0, 40)
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

/**
 * Who may do what in the audit's Redis (Redis ACL users): the upload service only adds jobs to its
 * queue, the worker alone writes verdicts and readers, keyadmin only reads. The default user is off.
 */
export const AUDIT_REDIS_USERS = {
  producer: 'kms-audit-producer',
  worker: 'kms-audit-worker',
  reader: 'kms-audit-reader',
} as const
export type AuditRedisRole = keyof typeof AUDIT_REDIS_USERS

const queueKeys = `bull:${AUDIT_QUEUE}:*`
const resultKeys = `${AUDIT_RESULTS_PREFIX}:*`

/** Each user's rules (after `on` and its password), in Redis ACL syntax. */
export const AUDIT_REDIS_RULES: Record<AuditRedisRole, string> = {
  // BullMQ's Queue.add: the connection's HELLO and INFO, its Lua script (EVALSHA, EVAL when not cached yet),
  // the commands that script runs and the queue's meta HSET — on the queue's own keys, nothing else.
  producer: `resetkeys ~${queueKeys} resetchannels -@all +hello +ping +info +evalsha +eval +incr +exists +hget +hmget +hset +hmset +xadd +lpush +zadd`,
  // BullMQ's worker and the results; never commands that reach beyond its keys (FLUSHALL, KEYS, CONFIG …).
  worker: `resetkeys ~${queueKeys} ~${resultKeys} resetchannels -@all +@read +@write +@keyspace +@list +@hash +@sortedset +@stream +@string +@scripting +@transaction +@blocking +@connection +@fast -@dangerous +info +client|setname +client|getname -script|flush -script|kill`,
  // Reads only: read commands, and BullMQ's read scripts, whose every command Redis checks against the same rules.
  reader: `resetkeys ~${queueKeys} ~${resultKeys} resetchannels -@all +@read -@dangerous +hello +ping +info +client|setname +evalsha +eval`,
}

/** The ACL file (`redis-server --aclfile`) for these users, with SHA-256 password hashes only. */
export function auditRedisAclFile(passwords: Record<AuditRedisRole, string>): string {
  const lines = ['user default off resetkeys -@all']
  for (const role of Object.keys(AUDIT_REDIS_USERS) as AuditRedisRole[]) {
    if (!/^[\w.~-]{16,}$/.test(passwords[role])) throw new Error(`the ${role}'s Redis password must be 16+ URL-safe characters`)
    lines.push(`user ${AUDIT_REDIS_USERS[role]} on #${hash('sha256', passwords[role], 'hex')} ${AUDIT_REDIS_RULES[role]}`)
  }
  return `${lines.join('\n')}\n`
}

/** A Redis URL for one of the audit's users: redis://USER:PASSWORD@host:port. */
export function auditRedisUrl(hostPort: string, role: AuditRedisRole, password: string): string {
  return `redis://${AUDIT_REDIS_USERS[role]}:${encodeURIComponent(password)}@${hostPort}`
}

/** The environment of anything that talks to the audit queue (upload's producer, keyadmin, the worker). */
export const auditQueueConfigProperties = {
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: "Redis for the audit queue as this service's ACL user, redis://USER:PASSWORD@host:6379 (give it as REDIS_URL_FILE: it holds a password); unset: no audit queue." })),
  AUDIT_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 50, default: 8, description: 'Tries per audit job before UNVERIFIED (no event) or the failed set (errors).' }),
  AUDIT_BACKOFF_MS: Type.Integer({ minimum: 10, default: 15_000, description: 'First retry delay of an audit job, doubled on each retry.' }),
  AUDIT_ENQUEUE_TIMEOUT_MS: Type.Integer({ minimum: 50, default: 2_000, description: 'How long an upload waits for Redis to take its audit job before answering "audit": "pending".' }),
} satisfies TProperties
