// AWS's wire errors for authentication and request shape, per protocol family.
import { AwsError } from './types.js'

/** Protocol families answer authentication failures with different codes and statuses. */
export type Family = 'json' | 'query' | 's3' | 'ec2'

export function familyOf(service: string): Family {
  if (service === 's3') return 's3'
  if (service === 'kms' || service === 'cloudtrail' || service === 'ssm') return 'json'
  if (service === 'ec2') return 'ec2'
  return 'query'
}

const SIGNATURE_SENTENCE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'
const S3_SIGNATURE_SENTENCE =
  'The request signature we calculated does not match the signature you provided. Check your key and signing method.'
const INVALID_TOKEN_SENTENCE = 'The security token included in the request is invalid.'

export function unknownAccessKey(family: Family): AwsError {
  switch (family) {
    case 'json':
      return new AwsError('UnrecognizedClientException', INVALID_TOKEN_SENTENCE, 400)
    case 's3':
      return new AwsError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 403)
    case 'ec2':
      return new AwsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401)
    default:
      return new AwsError('InvalidClientTokenId', INVALID_TOKEN_SENTENCE, 403)
  }
}

export function invalidSessionToken(family: Family): AwsError {
  if (family === 's3') return new AwsError('InvalidToken', 'The provided token is malformed or otherwise invalid.', 400)
  return unknownAccessKey(family)
}

export function expiredToken(family: Family): AwsError {
  if (family === 's3') return new AwsError('ExpiredToken', 'The provided token has expired.', 400)
  if (family === 'json') return new AwsError('ExpiredTokenException', 'The security token included in the request is expired', 400)
  return new AwsError('ExpiredToken', 'The security token included in the request is expired', 403)
}

export function signatureMismatch(family: Family): AwsError {
  switch (family) {
    case 'json':
      return new AwsError('InvalidSignatureException', SIGNATURE_SENTENCE, 400)
    case 's3':
      return new AwsError('SignatureDoesNotMatch', S3_SIGNATURE_SENTENCE, 403)
    case 'ec2':
      return new AwsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401)
    default:
      return new AwsError('SignatureDoesNotMatch', SIGNATURE_SENTENCE, 403)
  }
}

export function missingAuthentication(family: Family): AwsError {
  switch (family) {
    case 'json':
      return new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token', 400)
    case 's3':
      return new AwsError('AccessDenied', 'Access Denied', 403)
    case 'ec2':
      return new AwsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401)
    default:
      return new AwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403)
  }
}

export function incompleteSignature(family: Family, detail: string): AwsError {
  if (family === 's3') return new AwsError('AuthorizationHeaderMalformed', detail, 400)
  return new AwsError(family === 'json' ? 'IncompleteSignatureException' : 'IncompleteSignature', detail, 400)
}

/** More than 15 minutes between the request's date and now. */
export function requestExpired(family: Family, amzDate: string, now: Date): AwsError {
  if (family === 's3') {
    return new AwsError('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', 403)
  }
  const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const limit = new Date(now.getTime() - 15 * 60_000)
  const message = `Signature expired: ${amzDate} is now earlier than ${stamp(limit)} (${stamp(now)} - 15 min.)`
  return new AwsError(family === 'json' ? 'InvalidSignatureException' : 'SignatureDoesNotMatch', message, family === 'json' ? 400 : 403)
}

export function unknownOperation(family: Family, operation: string): AwsError {
  if (family === 'json') return new AwsError('UnknownOperationException', '', 400)
  if (family === 's3') return new AwsError('NotImplemented', 'A header you provided implies functionality that is not implemented', 501)
  return new AwsError('InvalidAction', `Could not find operation ${operation}`, 400)
}

export function internalError(family: Family): AwsError {
  if (family === 'json') return new AwsError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500)
  if (family === 's3') return new AwsError('InternalError', 'We encountered an internal error. Please try again.', 500)
  return new AwsError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500)
}
