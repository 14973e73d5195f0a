// KMS's answers to an administrator, as problems: a missing key is a 404 and a refused input a 400
// with AWS's own sentence — not the data services' "key unavailable" 502.
import { awsErrorCode, isAwsServiceError, problemOf, ProblemError, toProblem } from '@kms-share/shared'
import { KeyadminErrors } from './errors.js'

const REJECTED = new Set([
  'ValidationException', 'MalformedPolicyDocumentException', 'InvalidAliasNameException', 'TagException',
  'LimitExceededException', 'InvalidArnException', 'InvalidMarkerException', 'IncorrectKeyMaterialException',
  'ExpiredImportTokenException', 'InvalidImportTokenException',
])

export interface KmsHints {
  /** The action keyadmin was performing, for denials whose sentence does not say. */
  action: string
  /** What the 404 is about: a key or an alias. */
  subject?: { alias: string } | { key: string }
}

/** Maps an error from a KMS (or IAM/STS) call to a ProblemError. */
export function kmsProblem(err: unknown, hints: KmsHints): ProblemError {
  if (!isAwsServiceError(err)) return new ProblemError(toProblem(err, { action: hints.action }), { cause: err })
  const code = awsErrorCode(err).replace(/^KMS\./, '')
  const aws = { awsErrorCode: code, ...(err.$metadata.requestId ? { awsRequestId: err.$metadata.requestId } : {}) }
  // AWS's own sentence once: after ours, unless ours already quotes it.
  const withAws = (e: { code: string; statusCode?: number; message: string }) => new ProblemError(problemOf(e, { ...aws, detail: e.message.includes(err.message) ? e.message : `${e.message} (AWS: ${err.message})` }), { cause: err })
  if (code === 'NotFoundException') {
    const subject = hints.subject
    return withAws(subject && 'alias' in subject ? new KeyadminErrors.ALIAS_NOT_FOUND(subject.alias) : new KeyadminErrors.KEY_NOT_FOUND(subject && 'key' in subject ? subject.key : err.message))
  }
  if (code === 'AlreadyExistsException') return withAws(new KeyadminErrors.ALREADY_EXISTS(err.message))
  if (code === 'KMSInvalidStateException' || code === 'DisabledException') return withAws(new KeyadminErrors.INVALID_KEY_STATE(err.message))
  if (code === 'UnsupportedOperationException') return withAws(new KeyadminErrors.UNSUPPORTED_OPERATION(err.message))
  if (REJECTED.has(code)) return withAws(new KeyadminErrors.AWS_REJECTED(err.message))
  return new ProblemError(toProblem(err, { action: hints.action }), { cause: err })
}

/** Runs an AWS call and turns its failure into a problem. */
export async function aws<T>(call: Promise<T>, hints: KmsHints): Promise<T> {
  try {
    return await call
  } catch (err) {
    throw kmsProblem(err, hints)
  }
}
