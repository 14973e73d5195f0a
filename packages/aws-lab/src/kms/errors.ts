// KMS's error codes and sentences (JSON 1.1 `__type`; all 400 except KMSInternalException).
// https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html and each operation's "Errors".
import { AwsError, text } from '../core/types.js'

const e = (code: string) => (message: string) => new AwsError(code, message, 400)

export const kmsErrors = {
  notFound: e('NotFoundException'),
  disabled: e('DisabledException'),
  invalidState: e('KMSInvalidStateException'),
  validation: e('ValidationException'),
  invalidCiphertext: e('InvalidCiphertextException'),
  incorrectKey: e('IncorrectKeyException'),
  malformedPolicy: e('MalformedPolicyDocumentException'),
  alreadyExists: e('AlreadyExistsException'),
  invalidAliasName: e('InvalidAliasNameException'),
  notAuthorized: e('NotAuthorizedException'),
  unsupported: e('UnsupportedOperationException'),
  tag: e('TagException'),
  limitExceeded: e('LimitExceededException'),
  accessDenied: e('AccessDeniedException'),
  invalidMarker: e('InvalidMarkerException'),
  invalidArn: e('InvalidArnException'),
  invalidImportToken: e('InvalidImportTokenException'),
  expiredImportToken: e('ExpiredImportTokenException'),
  incorrectKeyMaterial: e('IncorrectKeyMaterialException'),
  invalidKeyUsage: e('InvalidKeyUsageException'),
  dryRun: e('DryRunOperationException'),
} as const

/** AWS's generic constraint sentence, e.g. for `pendingWindowInDays` out of range. */
export function constraintViolation(value: unknown, member: string, constraint: string): AwsError {
  const shown = value === undefined || value === null ? 'null' : `'${text(value)}'`
  return kmsErrors.validation(`1 validation error detected: Value ${shown} at '${member}' failed to satisfy constraint: ${constraint}`)
}

/** The same sentence for a sensitive member (Plaintext): AWS leaves its value out — "Value at 'plaintext' failed …". */
export function sensitiveConstraintViolation(member: string, constraint: string): AwsError {
  return kmsErrors.validation(`1 validation error detected: Value at '${member}' failed to satisfy constraint: ${constraint}`)
}

export function requireMember<T>(value: T | undefined | null, member: string): T {
  if (value === undefined || value === null || value === '') throw constraintViolation(undefined, member, 'Member must not be null')
  return value
}
