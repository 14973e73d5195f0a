// What an AWS SDK v3 error looks like, apart from aws.ts so that errors.ts can read one
// without importing the client factory (and through it the config).
/** An error thrown by an AWS SDK v3 client (a service answer, not a network failure). */
export interface AwsServiceError extends Error {
  name: string
  message: string
  Code?: string
  $fault?: 'client' | 'server'
  $metadata: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string }
}

export function isAwsServiceError(err: unknown): err is AwsServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<AwsServiceError>).$metadata === 'object' &&
    (err as Partial<AwsServiceError>).$metadata !== null
  )
}

/** The AWS error code: the SDK puts it in `name` (and S3 sometimes in `Code`). */
export function awsErrorCode(err: AwsServiceError): string {
  return err.Code ?? err.name
}
