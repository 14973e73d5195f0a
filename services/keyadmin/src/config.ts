// The keyadmin service's environment, validated at boot. The only module that reads process.env.
import { Type, type Static } from 'typebox'
import { auditQueueConfigProperties } from '@kms-share/shared'
import { authConfigProperties, frameConfigProperties, loadConfig as loadSchema, portProperty, serviceConfigProperties } from '@kms-share/shared'

export const KeyadminConfigSchema = Type.Object({
  ...serviceConfigProperties,
  ...auditQueueConfigProperties,
  ...authConfigProperties,
  ...frameConfigProperties,
  PORT: portProperty(3003),
  // Administration calls are small: a whole call gets seconds, not the data services' 15 minutes.
  AWS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000, description: 'Longest AWS call keyadmin makes, request and response together (connect: at most 5 s).' }),
  KEYADMIN_MFA_PROFILE: Type.Optional(Type.String({ minLength: 1, description: 'Profile of the IAM user who owns the MFA device; with KEYADMIN_MFA_SERIAL, sensitive operations need X-MFA-Code and run as this user.' })),
  KEYADMIN_MFA_CREDENTIALS_FILE: Type.Optional(Type.String({ minLength: 1, description: "A shared-credentials file holding KEYADMIN_MFA_PROFILE's keys alone, for the MFA user's calls only (keyadmin's own calls keep its instance role); default: AWS_SHARED_CREDENTIALS_FILE." })),
  KEYADMIN_MFA_SERIAL: Type.Optional(Type.String({ minLength: 1, description: "The MFA device's serial number (arn:aws:iam::ACCT:mfa/NAME)." })),
  AUDIT_VERIFY_KEY: Type.Optional(Type.String({ minLength: 1, description: "The audit worker's Ed25519 public key (PEM, SPKI), or AUDIT_VERIFY_KEY_FILE: verdicts and readers whose signature fails show as TAMPERED. Required with REDIS_URL." })),
  KEYADMIN_UPLOADER_ROLE: Type.String({ default: 'kms-share-uploader', description: "The upload service's role name, the templates' default writer." }),
  KEYADMIN_DOWNLOADER_ROLE: Type.String({ default: 'kms-share-downloader', description: "The download service's role name, the templates' default reader." }),
})

export type KeyadminConfig = Static<typeof KeyadminConfigSchema>

/** The validated configuration from `env` (the process environment unless given). */
export function loadConfig(env: Record<string, string | undefined> = process.env): KeyadminConfig {
  const config = loadSchema(KeyadminConfigSchema, { env })
  if (Boolean(config.KEYADMIN_MFA_PROFILE) !== Boolean(config.KEYADMIN_MFA_SERIAL)) {
    throw new Error('invalid configuration: set both KEYADMIN_MFA_PROFILE and KEYADMIN_MFA_SERIAL, or neither')
  }
  if (config.REDIS_URL && !config.AUDIT_VERIFY_KEY) {
    throw new Error("invalid configuration: REDIS_URL needs AUDIT_VERIFY_KEY (or AUDIT_VERIFY_KEY_FILE), the audit worker's public key, to check the verdicts it signed")
  }
  return config
}
