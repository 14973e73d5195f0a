// The KMS action sets kms-share's roles and key policies are built from, each spelt out action by
// action (no wildcards), so that what a role may do is readable here and nowhere wider.
// https://docs.aws.amazon.com/kms/latest/developerguide/kms-cryptography.html#cryptographic-operations

/** The KMS actions that use a key, as the workshop's policies name them. */
export const KEY_USE_ACTIONS = [
  'kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*',
] as const

/**
 * Every cryptographic operation on a key (GenerateRandom names no key): what key administrators and
 * the auditor are explicitly denied, so that no grant can give them use of a key.
 */
export const KEY_CRYPTO_ACTIONS = [
  'kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext',
  'kms:GenerateDataKeyPair', 'kms:GenerateDataKeyPairWithoutPlaintext', 'kms:GenerateMac', 'kms:VerifyMac', 'kms:Sign', 'kms:Verify',
  'kms:DeriveSharedSecret',
] as const

/**
 * The operations that change who may use a key, whether it can be used, or whether it exists: allowed
 * only with MFA (aws:MultiFactorAuthPresent), so only as the person who owns the MFA device.
 */
export const MFA_SENSITIVE_ACTIONS = [
  'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:DeleteImportedKeyMaterial', 'kms:DeleteAlias', 'kms:UpdateAlias',
  'kms:CreateGrant',
] as const

/**
 * Key administration without the sensitive operations: exactly what keyadmin's routes call on a key
 * with its own role (reads, aliases, enable, cancel deletion, tags, the description, rotation, importing
 * material, revoking and retiring grants — both only take access away). No kms:CreateGrant: a grant is a
 * way to give use of the key.
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:GetKeyRotationStatus', 'kms:ListKeyRotations', 'kms:ListResourceTags', 'kms:ListGrants',
  'kms:RevokeGrant', 'kms:RetireGrant', 'kms:CreateAlias', 'kms:EnableKey', 'kms:CancelKeyDeletion', 'kms:TagResource', 'kms:UntagResource',
  'kms:UpdateKeyDescription', 'kms:EnableKeyRotation', 'kms:DisableKeyRotation', 'kms:RotateKeyOnDemand', 'kms:GetParametersForImport',
  'kms:ImportKeyMaterial',
] as const

/** What the MFA key administrator reads besides the sensitive operations (people use it from the CLI too). */
export const KEY_READ_ACTIONS = [
  'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:GetKeyRotationStatus', 'kms:ListKeyRotations', 'kms:ListResourceTags', 'kms:ListGrants',
  'kms:ListKeyPolicies',
] as const
