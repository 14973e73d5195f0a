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
  KEYADMIN_MFA_SERIAL: Type.Optional(Type.String({ minLength: 1, description: "The MFA device's serial number (arn:aws:iam::ACCT:mfa/NAME)." })),
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
  return config
}
