// problem+json (RFC 9457) for every error a service answers, the mapping from AWS SDK
// errors to problems, and the one Fastify error handler that writes them.
import createError from '@fastify/error'
import { Type, type Static } from 'typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { awsErrorCode, isAwsServiceError, type AwsServiceError } from './aws-errors.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'URI naming the kind of problem: urn:kms-share:problem:<code>.' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable error code (SHR_, UPL_, DWN_ …), documented in the package README.' }),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    awsErrorCode: Type.Optional(Type.String({ description: "AWS's error code, e.g. AccessDenied." })),
    action: Type.Optional(Type.String({ description: 'The denied action, e.g. kms:Decrypt.' })),
    resource: Type.Optional(Type.String({ description: 'The resource AWS named in its denial.' })),
    policyType: Type.Optional(Type.String({ description: 'Which policy type denied or failed to allow.' })),
    awsRequestId: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
)
export type Problem = Static<typeof ProblemSchema>

/** Response schemas for a route's error statuses: `{ 400: ProblemSchema, 403: ProblemSchema }`. */
export function problemResponses<S extends number>(...statuses: S[]): Record<S, typeof ProblemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, ProblemSchema])) as Record<S, typeof ProblemSchema>
}

export function problemType(code: string): string {
  return `urn:kms-share:problem:${code}`
}

/** The SHR_ catalogue: errors any service may answer. Each is documented in the README. */
export const SharedErrors = {
  VALIDATION: createError('SHR_VALIDATION', 'The request is invalid: %s', 400),
  BAD_REQUEST: createError('SHR_BAD_REQUEST', '%s', 400),
  NOT_FOUND: createError('SHR_NOT_FOUND', 'No route %s %s', 404),
  PAYLOAD_TOO_LARGE: createError('SHR_PAYLOAD_TOO_LARGE', 'The request body is too large: %s', 413),
  UNSUPPORTED_MEDIA_TYPE: createError('SHR_UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type: %s', 415),
  AWS_ACCESS_DENIED: createError('SHR_AWS_ACCESS_DENIED', 'AWS denied the request: %s', 403),
  AWS_NO_SUCH_KEY: createError('SHR_AWS_NO_SUCH_KEY', 'No such object: %s', 404),
  AWS_PRECONDITION_FAILED: createError('SHR_AWS_PRECONDITION_FAILED', 'A precondition failed: %s', 412),
  AWS_CONFLICT: createError('SHR_AWS_CONFLICT', 'A conflicting operation is in progress: %s', 409),
  AWS_INVALID_RANGE: createError('SHR_AWS_INVALID_RANGE', 'The requested range cannot be satisfied: %s', 416),
  AWS_KMS_KEY_UNAVAILABLE: createError('SHR_AWS_KMS_KEY_UNAVAILABLE', 'The KMS key cannot be used: %s', 502),
  AWS_CREDENTIALS: createError('SHR_AWS_CREDENTIALS', "AWS refused the service's credentials", 502),
  AWS_NO_SUCH_BUCKET: createError('SHR_AWS_NO_SUCH_BUCKET', 'The configured bucket does not exist', 502),
  AWS_THROTTLED: createError('SHR_AWS_THROTTLED', 'AWS is throttling requests; retry later', 503),
  AWS_UNAVAILABLE: createError('SHR_AWS_UNAVAILABLE', 'AWS did not answer as expected', 502),
  INTERNAL: createError('SHR_INTERNAL', 'Internal server error', 500),
  UNAVAILABLE: createError('SHR_UNAVAILABLE', 'The service is not ready: %s', 503),
  REQUEST_TIMEOUT: createError('SHR_REQUEST_TIMEOUT', 'Request timeout: %s', 408),
  HEADERS_TOO_LARGE: createError('SHR_HEADERS_TOO_LARGE', 'The request headers are too large; send fewer or shorter headers (cookies included)', 431),
  MALFORMED_REQUEST: createError('SHR_MALFORMED_REQUEST', 'Malformed HTTP request: %s', 400),
  BAD_URL: createError('SHR_BAD_URL', 'The URL is not valid percent-encoding: each "%" must start a %XX escape of UTF-8 bytes; write a literal "%" as %25', 400),
  URL_TOO_LONG: createError('SHR_URL_TOO_LONG', 'A path parameter is too long; shorten the URL', 414),
  BAD_CURSOR: createError('SHR_BAD_CURSOR', 'The cursor was not given by this listing (or it is for another sort): %s; list again without it', 400),
  SHUTTING_DOWN: createError('SHR_SHUTTING_DOWN', 'The service is shutting down; retry on another instance or in a moment', 503),
} as const

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 409: 'Conflict', 411: 'Length Required',
  412: 'Precondition Failed', 413: 'Content Too Large', 414: 'URI Too Long', 415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable', 431: 'Request Header Fields Too Large', 499: 'Client Closed Request', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable',
}

export function statusTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error')
}

/** An error that already knows its problem document (services build them for special cases). */
export class ProblemError extends Error {
  readonly statusCode: number
  readonly code: string
  /** Response headers the problem needs (WWW-Authenticate for a step-up). */
  readonly headers: Record<string, string>
  constructor(readonly problem: Problem, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(problem.detail, options)
    this.headers = options?.headers ?? {}
    this.name = 'ProblemError'
    this.statusCode = problem.status
    this.code = problem.code
  }
}

export function isProblemError(err: unknown): err is ProblemError {
  return err instanceof Error && typeof (err as Partial<ProblemError>).problem === 'object' && (err as ProblemError).problem !== null
}

/** A problem document from a catalogue error (SHR_/UPL_/DWN_) and optional extra members. */
export function problemOf(err: { code: string; statusCode?: number; message: string }, extra: Partial<Problem> = {}): Problem {
  const status = err.statusCode ?? 500
  return { type: problemType(err.code), title: statusTitle(status), status, detail: err.message, code: err.code, ...extra }
}

/** What AWS's denial sentence says: "User: ARN is not authorized to perform: ACTION on resource: ARN because …". */
export interface AwsDenial {
  principal?: string
  action?: string
  resource?: string
  policyType?: string
  explicit?: boolean
}

export function parseAwsDenial(message: string): AwsDenial {
  const denial: AwsDenial = {}
  const principal = /User: (\S+) is not authorized/.exec(message)
  if (principal) denial.principal = principal[1]
  const action = /not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)/.exec(message)
  if (action) denial.action = action[1]
  const resource = /on resource: "?([^\s"]+?)"?(?=\s|$)/.exec(message)
  if (resource) denial.resource = resource[1].replace(/[.,;]$/, '')
  const explicit = /with an explicit deny in (?:an?|the) ([\w -]+?policy)\b/.exec(message)
  const implicit = /because no ([\w -]+?policy) allows/.exec(message)
  if (explicit) {
    denial.policyType = explicit[1]
    denial.explicit = true
  } else if (implicit) {
    denial.policyType = implicit[1]
    denial.explicit = false
  }
  return denial
}

const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'ExpiredTokenException', 'InvalidToken',
  'UnrecognizedClientException', 'InvalidSignatureException', 'InvalidClientTokenId', 'IncompleteSignature',
  'CredentialsProviderError', 'AuthFailure',
])
const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException'])
const KMS_KEY_CODES = new Set([
  'KMS.DisabledException', 'KMS.KMSInvalidStateException', 'KMS.NotFoundException', 'KMS.KeyUnavailableException',
  'DisabledException', 'KMSInvalidStateException', 'KeyUnavailableException', 'KMS.InvalidKeyUsageException',
])

export interface AwsProblemHints {
  /** The action the service was performing, named when AWS's message does not say (`s3:PutObject`). */
  action?: string
  /** The object or resource the request was about, for 404/412 details. */
  subject?: string
}

/**
 * Maps an AWS SDK error to a problem. Denials keep AWS's sentence as the detail (it names the
 * caller, action, resource and policy type) — that sentence is what makes the rules visible.
 */
export function awsErrorToProblem(err: AwsServiceError, hints: AwsProblemHints = {}): Problem {
  const code = awsErrorCode(err)
  const status = err.$metadata.httpStatusCode
  const aws = { awsErrorCode: code, ...(err.$metadata.requestId ? { awsRequestId: err.$metadata.requestId } : {}) }
  if (code === 'AccessDenied' || code === 'AccessDeniedException' || code === 'KMS.AccessDeniedException') {
    const denial = parseAwsDenial(err.message)
    const action = denial.action ?? hints.action
    return problemOf(new SharedErrors.AWS_ACCESS_DENIED(action ?? 'access denied'), {
      detail: err.message || `AWS denied ${action ?? 'the request'}`,
      ...aws,
      ...(action ? { action } : {}),
      ...(denial.resource ? { resource: denial.resource } : {}),
      ...(denial.policyType ? { policyType: denial.policyType } : {}),
    })
  }
  if (code === 'NoSuchKey' || (code === 'NotFound' && status === 404)) {
    return problemOf(new SharedErrors.AWS_NO_SUCH_KEY(hints.subject ?? 'the object'), aws)
  }
  if (code === 'NoSuchBucket') return problemOf(new SharedErrors.AWS_NO_SUCH_BUCKET(), aws)
  if (code === 'PreconditionFailed' || status === 412) {
    return problemOf(new SharedErrors.AWS_PRECONDITION_FAILED(hints.subject ?? err.message), aws)
  }
  if (code === 'ConditionalRequestConflict' || code === 'OperationAborted') {
    return problemOf(new SharedErrors.AWS_CONFLICT(hints.subject ?? err.message), aws)
  }
  if (code === 'InvalidRange' || status === 416) return problemOf(new SharedErrors.AWS_INVALID_RANGE(hints.subject ?? 'range'), aws)
  if (KMS_KEY_CODES.has(code)) return problemOf(new SharedErrors.AWS_KMS_KEY_UNAVAILABLE(err.message), aws)
  if (CREDENTIAL_CODES.has(code)) return problemOf(new SharedErrors.AWS_CREDENTIALS(), aws)
  if (THROTTLE_CODES.has(code) || status === 503) return problemOf(new SharedErrors.AWS_THROTTLED(), aws)
  return problemOf(new SharedErrors.AWS_UNAVAILABLE(), aws)
}

const CATALOGUE_CODE = /^[A-Z]+_[A-Z0-9_]+$/
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])

/** Any error → problem. 5xx problems never carry the error's own message or stack. */
export function toProblem(err: unknown, hints: AwsProblemHints = {}): Problem {
  if (isProblemError(err)) return err.problem
  if (isAwsServiceError(err)) return awsErrorToProblem(err, hints)
  const e = err as Partial<FastifyError> & Error
  if (e?.name === 'CredentialsProviderError') return problemOf(new SharedErrors.AWS_CREDENTIALS())
  // The services' only outbound calls go to AWS: a connection failure means AWS did not answer.
  if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) return problemOf(new SharedErrors.AWS_UNAVAILABLE())
  if (e?.name === 'TimeoutError') return problemOf(new SharedErrors.AWS_UNAVAILABLE())
  if (e && Array.isArray(e.validation)) return problemOf(new SharedErrors.VALIDATION(e.message))
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500
  // Catalogue errors (SHR_/UPL_/DWN_ …) keep their code and message: both are ours, safe to show even on 5xx.
  if (typeof e?.statusCode === 'number' && typeof e.code === 'string' && CATALOGUE_CODE.test(e.code) && !e.code.startsWith('FST_') && status >= 400) {
    return problemOf({ code: e.code, statusCode: status, message: e.message })
  }
  if (status === 413) return problemOf(new SharedErrors.PAYLOAD_TOO_LARGE(e.message))
  if (status === 415) return problemOf(new SharedErrors.UNSUPPORTED_MEDIA_TYPE(e.message))
  // Other 4xx (Fastify's own) become SHR_BAD_REQUEST with their status.
  if (status >= 400 && status < 500) return problemOf(new SharedErrors.BAD_REQUEST(e.message), { status, title: statusTitle(status) })
  return problemOf(new SharedErrors.INTERNAL())
}

/** A problem as an unauthenticated caller may read it: no AWS sentence, resource, policy type or request id. */
export function anonymousProblem(problem: Problem): Problem {
  const { resource: _resource, policyType: _policyType, awsRequestId: _awsRequestId, ...rest } = problem
  return { ...rest, detail: `AWS refused the request${problem.action ? ` (${problem.action})` : ''}; authenticated callers and the service log get the details` }
}

/** Whether a problem carries what AWS said about the caller or the resource (ARNs, policy types). */
function revealsAwsDetails(problem: Problem): boolean {
  return problem.resource !== undefined || problem.policyType !== undefined || /\barn:aws/.test(problem.detail)
}

/** Writes a problem as application/problem+json. */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  // Callers the auth plugin did not identify never read AWS's sentences (roles, sessions, key ARNs); the log keeps them.
  if ((reply.request as { principal?: unknown }).principal === undefined && revealsAwsDetails(problem)) {
    reply.request.log.info({ problem: problem.code, awsErrorCode: problem.awsErrorCode, resource: problem.resource }, `withheld from an unauthenticated caller: ${problem.detail}`)
    problem = anonymousProblem(problem)
  }
  const body: Problem = { ...problem, instance: problem.instance ?? reply.request.url, requestId: String(reply.request.id) }
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body)
}

/** The Fastify error handler: every error becomes problem+json; 5xx details go to the log only. */
export function problemErrorHandler(this: unknown, err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply | void {
  const problem = toProblem(err)
  if (problem.status >= 500) request.log.error({ err, problem: problem.code }, 'request failed')
  else request.log.info({ problem: problem.code, status: problem.status, awsErrorCode: problem.awsErrorCode, action: problem.action }, problem.detail)
  if (reply.raw.headersSent) {
    // Too late for a problem document: cut the connection so the client sees a failed transfer.
    reply.raw.destroy(err)
    return
  }
  if (isProblemError(err) && err.headers) reply.headers(err.headers)
  return sendProblem(reply, problem)
}

/** 404 for unknown routes, as problem+json. */
export function problemNotFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, problemOf(new SharedErrors.NOT_FOUND(request.method, request.url.split('?')[0])))
}

/** The codes of a catalogue of `createError` constructors, for the uniqueness/documentation tests. */
export function catalogueCodes(catalogue: Record<string, new () => { code: string }>): string[] {
  return Object.values(catalogue).map((Ctor) => new Ctor().code)
}
