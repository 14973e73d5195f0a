// The audit's judgement, apart from any I/O: given what the writer expected, what HeadObject
// reports and the KMS events naming the object (or its bucket), a verdict that says what differs.
import type { AuditJob } from '@kms-share/shared'
import type { KmsEvent } from './trail.js'

export type Verdict = 'VERIFIED' | 'MISMATCH' | 'UNVERIFIED'
export const VERDICTS: readonly Verdict[] = ['VERIFIED', 'MISMATCH', 'UNVERIFIED']

/** What HeadObject said about the object. */
export interface HeadFacts {
  etag: string
  sseAlgorithm: string | null
  kmsKeyArn: string | null
  bucketKeyEnabled: boolean
  lastModified: string | null
  /** Content-Length in bytes (absent in verdicts stored before it was recorded). */
  size?: number
}

export interface MatchedEvent {
  eventId: string
  eventName: string
  eventTime: string
  keyArn: string | null
  principal: string
  invokedBy: string | null
  encryptionContext: Record<string, string>
  requestId: string | null
}

export interface AuditRecord {
  bucket: string
  key: string
  etag: string
  versionId?: string
  verdict: Verdict
  /** What differs (MISMATCH), why there is no verdict yet (UNVERIFIED), and what a verdict cannot prove. */
  reasons: string[]
  /** "object": the event's context names the object; "bucket": an S3 Bucket Key's context names only the bucket. */
  proves: 'object' | 'bucket'
  source: AuditJob['source']
  expected: { keyArn: string | null; role: string; principal: string | null; encryptionContext: Record<string, string> }
  head: HeadFacts
  event: MatchedEvent | null
  uploadedAt: string
  verdictAt: string
  attempts: number
  /** Who read the object so far (Decrypt events naming it), counted when the verdict was last signed. */
  reads?: ReadsSummary
  /** READ_BY_OTHER_ROLE: a role other than the download role read it; READ_ATTEMPT_BY_OTHER_ROLE: one was refused. */
  flags?: string[]
}

export interface ReadsSummary {
  total: number
  byOtherRoles: number
  /** The newest readers that are not the download role. */
  otherReaders: Array<{ principal: string; eventTime: string; outcome: 'ok' | 'denied'; viaS3: boolean }>
}

export interface JudgeInput {
  job: AuditJob
  head: HeadFacts
  /** KMS events whose context names the expected S3 ARN (object, or bucket with bucket keys). */
  candidates: readonly KmsEvent[]
  /** The window the GenerateDataKey must fall in (ms). */
  window: { from: number; until: number }
  expectedKeyArn: string | null
  uploaderRole: string
  /** True on the job's last attempt: no event becomes UNVERIFIED instead of "try again". */
  lastAttempt: boolean
  attempts: number
  now?: Date
}

/** null: no event yet and attempts remain (try again later). */
export function judge(input: JudgeInput): AuditRecord | null {
  const { job, head } = input
  const bucketKey = head.bucketKeyEnabled
  const objectArn = `arn:aws:s3:::${job.bucket}/${job.key}`
  const expectedContextArn = job.bucketKey ? `arn:aws:s3:::${job.bucket}` : objectArn
  const reasons: string[] = []
  if (head.sseAlgorithm !== 'aws:kms' && head.sseAlgorithm !== 'aws:kms:dsse') {
    reasons.push(`HeadObject reports server-side encryption ${head.sseAlgorithm ?? 'none'}, not aws:kms`)
  }
  if (input.expectedKeyArn && head.kmsKeyArn !== input.expectedKeyArn) {
    reasons.push(`HeadObject reports KMS key ${head.kmsKeyArn ?? 'none'}, expected ${input.expectedKeyArn}`)
  }
  if (job.expectedKeyArn && input.expectedKeyArn && job.expectedKeyArn !== input.expectedKeyArn) {
    reasons.push(`the uploader asked for key ${job.expectedKeyArn}, expected ${input.expectedKeyArn}`)
  }
  if (bucketKey !== job.bucketKey) {
    reasons.push(bucketKey
      ? `the object uses an S3 Bucket Key, so its encryption context is aws:s3:arn=arn:aws:s3:::${job.bucket}, expected aws:s3:arn=${objectArn}`
      : `the object does not use an S3 Bucket Key, expected one (context aws:s3:arn=arn:aws:s3:::${job.bucket})`)
  }
  const keyArn = input.expectedKeyArn ?? head.kmsKeyArn
  const contextArn = bucketKey ? `arn:aws:s3:::${job.bucket}` : objectArn
  const inWindow = input.candidates.filter((e) =>
    e.eventName === 'GenerateDataKey' && !e.errorCode && e.time >= input.window.from && e.time <= input.window.until &&
    e.encryptionContext['aws:s3:arn'] === contextArn)
  // The writer's own event is the best match; else the latest one, to say what differs.
  const right = (e: KmsEvent) => e.roleName === input.uploaderRole && (!job.principal || e.principal === job.principal) && e.keyArn === keyArn
  const chosen = [...inWindow].reverse().find(right) ?? inWindow.at(-1)

  const proves: 'object' | 'bucket' = bucketKey ? 'bucket' : 'object'
  const base = {
    bucket: job.bucket,
    key: job.key,
    etag: job.etag,
    ...(job.versionId ? { versionId: job.versionId } : {}),
    proves,
    source: job.source,
    expected: { keyArn, role: input.uploaderRole, principal: job.principal, encryptionContext: { 'aws:s3:arn': expectedContextArn } },
    head,
    uploadedAt: job.uploadedAt,
    verdictAt: (input.now ?? new Date()).toISOString(),
    attempts: input.attempts,
  }
  if (bucketKey) reasons.push('S3 Bucket Key: the event proves the key and the bucket, not this object (its context names the bucket)')

  if (!chosen) {
    if (reasons.some((r) => !r.startsWith('S3 Bucket Key:'))) {
      return { ...base, verdict: 'MISMATCH', reasons: [...reasons, `no GenerateDataKey event with aws:s3:arn=${contextArn} found`], event: null }
    }
    if (!input.lastAttempt) return null
    return {
      ...base,
      verdict: 'UNVERIFIED',
      reasons: [...reasons, `no GenerateDataKey event with aws:s3:arn=${contextArn} between ${new Date(input.window.from).toISOString()} and ${new Date(input.window.until).toISOString()} after ${input.attempts} attempts`],
      event: null,
    }
  }
  if (keyArn && chosen.keyArn !== keyArn) reasons.push(`GenerateDataKey used key ${chosen.keyArn ?? 'unknown'}, expected ${keyArn}`)
  if (chosen.roleName !== input.uploaderRole) reasons.push(`GenerateDataKey was called by ${chosen.principal}, expected the role ${input.uploaderRole}`)
  else if (job.principal && chosen.principal !== job.principal) reasons.push(`GenerateDataKey was called by ${chosen.principal}, expected ${job.principal}`)
  if (chosen.invokedBy !== 'fas.s3.amazonaws.com' && !/^s3\./.test(chosen.invokedBy ?? '')) {
    reasons.push(`GenerateDataKey was not invoked by S3 (invokedBy ${chosen.invokedBy ?? 'none'})`)
  }
  const event: MatchedEvent = {
    eventId: chosen.eventId,
    eventName: chosen.eventName,
    eventTime: new Date(chosen.time).toISOString(),
    keyArn: chosen.keyArn,
    principal: chosen.principal,
    invokedBy: chosen.invokedBy,
    encryptionContext: chosen.encryptionContext,
    requestId: chosen.requestId,
  }
  const mismatch = reasons.some((r) => !r.startsWith('S3 Bucket Key:'))
  return { ...base, verdict: mismatch ? 'MISMATCH' : 'VERIFIED', reasons, event }
}
