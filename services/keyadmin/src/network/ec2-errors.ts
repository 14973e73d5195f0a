// EC2's answers as problems: a missing endpoint is a 404, a refused input a 400 with EC2's own
// sentence, a denial (UnauthorizedOperation) a 403 naming the denied action.
import { awsErrorCode, isAwsServiceError, parseAwsDenial, problemOf, ProblemError, SharedErrors, toProblem } from '@kms-share/shared'
import { NetworkErrors } from './errors.js'

const NOT_FOUND = new Set(['InvalidVpcEndpointId.NotFound', 'InvalidVpcEndpoint.NotFound', 'InvalidVpcEndpointId.Malformed'])
const DENIED = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException'])

/** Maps an error from an EC2 call made for `action` (ec2:CreateVpcEndpoint …) to a ProblemError. */
export function ec2Problem(err: unknown, action: string, subject?: string): ProblemError {
  if (!isAwsServiceError(err)) return new ProblemError(toProblem(err, { action }), { cause: err })
  const code = awsErrorCode(err)
  const aws = { awsErrorCode: code, ...(err.$metadata.requestId ? { awsRequestId: err.$metadata.requestId } : {}) }
  if (DENIED.has(code)) {
    const denial = parseAwsDenial(err.message)
    const denied = denial.action ?? action
    return new ProblemError(problemOf(new SharedErrors.AWS_ACCESS_DENIED(denied), {
      ...aws, action: denied, detail: err.message || `AWS denied ${denied}`, ...(denial.policyType ? { policyType: denial.policyType } : {}),
    }), { cause: err })
  }
  if (NOT_FOUND.has(code)) return new ProblemError(problemOf(new NetworkErrors.VPC_ENDPOINT_NOT_FOUND(subject ?? err.message), { ...aws, detail: `No such VPC endpoint: ${subject ?? ''} (AWS: ${err.message})` }), { cause: err })
  if (err.$metadata.httpStatusCode === 400 && !/^(AuthFailure|RequestLimitExceeded)$/.test(code)) {
    return new ProblemError(problemOf(new NetworkErrors.EC2_REJECTED(err.message), { ...aws, action }), { cause: err })
  }
  return new ProblemError(toProblem(err, { action }), { cause: err })
}

/** Runs an EC2 call and turns its failure into a problem. */
export async function ec2Call<T>(call: Promise<T>, action: string, subject?: string): Promise<T> {
  try {
    return await call
  } catch (err) {
    throw ec2Problem(err, action, subject)
  }
}
