// The audit worker's environment (its own process, as the auditor role), validated at boot.
import { Type, type Static } from 'typebox'
import { auditQueueConfigProperties, loadConfig, serviceConfigProperties } from '@kms-share/shared'

export const AuditWorkerConfigSchema = Type.Object({
  ...serviceConfigProperties,
  ...auditQueueConfigProperties,
  REDIS_URL: Type.String({ pattern: '^rediss?://', description: 'Redis holding the audit queue and the verdicts (as the worker\'s ACL user: redis://kms-audit-worker:PASSWORD@host:port; give it as REDIS_URL_FILE).' }),
  AUDIT_SIGNING_KEY: Type.String({ minLength: 1, description: 'The Ed25519 private key (PEM, PKCS#8) that signs every verdict and reader; give it as AUDIT_SIGNING_KEY_FILE, a file only the worker\'s user can read.' }),
  AWS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000, description: 'Time limit for each AWS call.' }),
  AUDIT_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Jobs worked on at once (they share one CloudTrail reading).' }),
  AUDIT_SWEEP_INTERVAL: Type.Integer({ minimum: 0, default: 3600, description: 'Seconds between sweeps that enqueue every object without a verdict (also on start); 0: on start only.' }),
  AUDIT_READERS_POLL_SECONDS: Type.Number({ minimum: 0.2, default: 30, description: 'How often CloudTrail is read for new Decrypt events (who read which object).' }),
  AUDIT_EVENT_LATENESS_SECONDS: Type.Integer({ minimum: 0, default: 300, description: 'How late CloudTrail may deliver an event; each reading goes back this far (AWS: typically about 5 minutes).' }),
  AUDIT_CLOCK_SKEW_SECONDS: Type.Integer({ minimum: 0, default: 60, description: "Allowed difference between the uploader's clock and CloudTrail's." }),
  AUDIT_UPLOAD_LOOKBACK_SECONDS: Type.Integer({ minimum: 0, default: 3600, description: 'For objects found by the sweep (no upload start known): how long before LastModified their GenerateDataKey may be.' }),
  AUDIT_BUCKET_KEY_LOOKBACK_SECONDS: Type.Integer({ minimum: 0, default: 3600, description: 'With S3 Bucket Keys: how long before an upload the bucket-level GenerateDataKey may be (S3 reuses it for a time).' }),
  AUDIT_LOOKUP_INTERVAL_MS: Type.Integer({ minimum: 500, default: 550, description: 'Least time between two LookupEvents calls, across all workers sharing Redis (AWS allows 2 per second per account and region).' }),
  AUDIT_KMS_KEY_ARN: Type.Optional(Type.String({ pattern: '^arn:aws[\\w-]*:kms:', description: 'The key every object must be under; unset: the key the uploader reported (sweep: the key HeadObject reports).' })),
  AUDIT_EXPECT_BUCKET_KEY: Type.Boolean({ default: false, description: 'Whether objects found by the sweep are expected to use an S3 Bucket Key.' }),
  AUDIT_UPLOADER_ROLE: Type.String({ default: 'kms-share-uploader', description: 'The role every object must be written by.' }),
  AUDIT_DOWNLOADER_ROLE: Type.String({ default: 'kms-share-downloader', description: 'The role expected to read objects; other readers are flagged.' }),
  AUDIT_LOCK_MS: Type.Integer({ minimum: 500, default: 30_000, description: "A job's lock; a worker that dies loses it after this long and the job runs again." }),
  AUDIT_HEARTBEAT_FILE: Type.Optional(Type.String({ minLength: 1, description: 'Touched every 10 s while Redis answers: a container healthcheck reads its age (the worker serves no HTTP).' })),
  AUDIT_STALLED_INTERVAL_MS: Type.Integer({ minimum: 500, default: 30_000, description: 'How often workers look for jobs whose worker died (stalled).' }),
})

export type AuditWorkerConfig = Static<typeof AuditWorkerConfigSchema>

export function loadAuditWorkerConfig(env?: Record<string, string | undefined>): AuditWorkerConfig {
  return loadConfig(AuditWorkerConfigSchema, env ? { env } : {})
}
