// S3's error codes, statuses and sentences (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
import { AwsError } from '../core/types.js'

export const s3Errors = {
  noSuchBucket: (bucket: string) => new AwsError('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket }),
  noSuchKey: (key: string) => new AwsError('NoSuchKey', 'The specified key does not exist.', 404, { Key: key }),
  noSuchUpload: (uploadId: string) =>
    new AwsError('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 404, { UploadId: uploadId }),
  bucketNotEmpty: (bucket: string) => new AwsError('BucketNotEmpty', 'The bucket you tried to delete is not empty', 409, { BucketName: bucket }),
  bucketAlreadyOwnedByYou: (bucket: string) =>
    new AwsError('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409, { BucketName: bucket }),
  invalidBucketName: (bucket: string) => new AwsError('InvalidBucketName', 'The specified bucket is not valid.', 400, { BucketName: bucket }),
  preconditionFailed: (condition: string) =>
    new AwsError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, { Condition: condition }),
  invalidRange: (range: string, size: number) =>
    new AwsError('InvalidRange', 'The requested range is not satisfiable', 416, { RangeRequested: range, ActualObjectSize: String(size) }),
  badDigest: (algorithm: string) => new AwsError('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`, 400),
  badContentMd5: () => new AwsError('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400),
  invalidDigest: () => new AwsError('InvalidDigest', 'The Content-MD5 you specified is not valid.', 400),
  sha256Mismatch: (claimed: string, computed: string) =>
    new AwsError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", 400, {
      ClientComputedContentSHA256: claimed,
      S3ComputedContentSHA256: computed,
    }),
  signatureDoesNotMatch: () =>
    new AwsError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', 403),
  incompleteBody: () => new AwsError('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header', 400),
  invalidChunkSize: () => new AwsError('InvalidChunkSizeError', 'Only the last chunk is allowed to have a size less than 8192 bytes', 403),
  malformedChunk: () => new AwsError('IncompleteBody', 'The request body terminated unexpectedly', 400),
  entityTooSmall: (partNumber: number, size: number) =>
    new AwsError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', 400, {
      ProposedSize: String(size),
      MinSizeAllowed: String(5 * 1024 * 1024),
      PartNumber: String(partNumber),
    }),
  entityTooLarge: () => new AwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', 400),
  invalidPart: (partNumber: number) =>
    new AwsError('InvalidPart', "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.", 400, { PartNumber: String(partNumber) }),
  invalidPartOrder: () => new AwsError('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.', 400),
  malformedXml: () =>
    new AwsError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema', 400),
  malformedPolicy: (detail: string) => new AwsError('MalformedPolicy', detail, 400),
  noSuchBucketPolicy: (bucket: string) => new AwsError('NoSuchBucketPolicy', 'The bucket policy does not exist', 404, { BucketName: bucket }),
  encryptionConfigNotFound: (bucket: string) =>
    new AwsError('ServerSideEncryptionConfigurationNotFoundError', 'The server side encryption configuration was not found', 404, { BucketName: bucket }),
  invalidArgument: (message: string, name?: string, value?: string) =>
    new AwsError('InvalidArgument', message, 400, name ? { ArgumentName: name, ArgumentValue: value ?? '' } : {}),
  invalidRequest: (message: string) => new AwsError('InvalidRequest', message, 400),
  notImplemented: (what: string) => new AwsError('NotImplemented', `A header or query you provided implies functionality that is not implemented: ${what}`, 501),
  methodNotAllowed: () => new AwsError('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405),
  missingContentLength: () => new AwsError('MissingContentLength', 'You must provide the Content-Length HTTP header.', 411),
  internal: () => new AwsError('InternalError', 'We encountered an internal error. Please try again.', 500),
}

/** KMS errors met while S3 works on the caller's behalf, in S3's words (KMS denials become S3's 403 AccessDenied with KMS's sentence). */
export function fromKmsError(err: unknown): AwsError {
  if (err instanceof AwsError) {
    if (err.code === 'AccessDeniedException') return new AwsError('AccessDenied', err.message, 403)
    if (err.code === 'AccessDenied') return new AwsError('AccessDenied', err.message, 403)
    if (err.code === 'InvalidCiphertextException') return new AwsError('AccessDenied', err.message, 403)
    if (err.code === 'NotFoundException') return new AwsError('KMS.NotFoundException', err.message, 400)
    if (err.code === 'DisabledException') return new AwsError('KMS.DisabledException', err.message, 400)
    if (err.code === 'KMSInvalidStateException') return new AwsError('KMS.KMSInvalidStateException', err.message, 400)
    return new AwsError(err.code.startsWith('KMS.') ? err.code : `KMS.${err.code}`, err.message, err.status >= 500 ? 500 : 400)
  }
  throw err
}
