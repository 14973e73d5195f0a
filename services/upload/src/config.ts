// The upload service's environment, validated at boot; the only reader of process.env here.
import { Type, type Static } from 'typebox'
import { authConfigProperties } from '@kms-share/shared'
import { auditQueueConfigProperties, EnvBoolean, frameConfigProperties, listingConfigProperties, loadConfig, portProperty, serviceConfigProperties } from '@kms-share/shared'

export const UploadConfigSchema = Type.Object({
  ...serviceConfigProperties,
  ...authConfigProperties,
  ...auditQueueConfigProperties,
  ...frameConfigProperties,
  ...listingConfigProperties,
  PORT: portProperty(3001),
  KMS_KEY_ID: Type.String({ minLength: 1, description: 'The KMS key S3 encrypts under: key id, key ARN, alias name or alias ARN.' }),
  BUCKET_KEY: EnvBoolean(false, 'Use S3 Bucket Keys (fewer KMS calls; the encryption context becomes the bucket ARN).'),
  MAX_UPLOAD_BYTES: Type.Integer({ minimum: 0, default: 10 * 1024 ** 3, description: 'Largest accepted upload in bytes (413 above).' }),
  MULTIPART_PART_BYTES: Type.Integer({ minimum: 5 * 1024 ** 2, default: 8 * 1024 ** 2, description: 'Part size for multipart uploads (memory per upload is about 2 parts).' }),
  // Uploads are long requests: the shared 5-minute whole-request limit would cut a large file on a slow link.
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 3_600_000, description: 'A client has this long to send a whole upload (408 after).' }),
  // Each upload holds one or two S3 sockets for as long as its client takes: a pool sized above the expected concurrent uploads keeps slow ones from queueing the rest.
  AWS_CLIENT_MAX_SOCKETS: Type.Integer({ minimum: 1, maximum: 10_000, default: 200, description: 'Sockets in the S3 client pool; uploads beyond wait for a free one.' }),
  UPLOAD_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 30_000, description: 'An upload whose client sends nothing for this long is aborted (408; no object, multipart upload aborted).' }),
  MULTIPART_ABANDONED_AFTER_MS: Type.Integer({ minimum: 0, default: 86_400_000, description: "On start, multipart uploads begun by this service's role and older than this are aborted (left by a crash); keep it above HTTP_REQUEST_TIMEOUT_MS when several instances share the bucket." }),
})

export type UploadConfig = Static<typeof UploadConfigSchema>

export function loadUploadConfig(env?: Record<string, string | undefined>): UploadConfig {
  return loadConfig(UploadConfigSchema, env ? { env } : {})
}
