// Time limits on the services' HTTP servers (headers, whole request, idle connection, readiness)
// and problem+json for what Fastify and Node refuse before any route runs.
import { randomUUID } from 'node:crypto'
import type { ServerOptions as HttpServerOptions } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import { Type, type Static, type TObject } from 'typebox'
import { problemOf, PROBLEM_CONTENT_TYPE, SharedErrors, type Problem } from './errors.js'

export const httpLimitProperties = {
  HTTP_HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 10_000, description: 'A client has this long to send the request line and headers (408 after).' }),
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 300_000, description: 'A client has this long to send the whole request, body included (408 after).' }),
  HTTP_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 120_000, description: 'A connection with no bytes in either direction for this long is closed (stalled readers and writers).' }),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 72_000, description: 'An idle keep-alive connection is closed after this long (above a load balancer idle timeout).' }),
  READINESS_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 3_000, description: 'GET /readyz fails when a dependency has not answered within this long.' }),
}

export type HttpLimitsConfig = Static<TObject<typeof httpLimitProperties>>

const HTTP_LIMIT_DEFAULTS: HttpLimitsConfig = {
  HTTP_HEADERS_TIMEOUT_MS: 10_000,
  HTTP_REQUEST_TIMEOUT_MS: 300_000,
  HTTP_IDLE_TIMEOUT_MS: 120_000,
  HTTP_KEEP_ALIVE_TIMEOUT_MS: 72_000,
  READINESS_TIMEOUT_MS: 3_000,
}

/** The limits from a config, defaults for what it does not set (configs built by hand in tests and scripts). */
export function httpLimits(config: Partial<HttpLimitsConfig>): HttpLimitsConfig {
  return { ...HTTP_LIMIT_DEFAULTS, ...definedOnly(config, HTTP_LIMIT_DEFAULTS) }
}

function definedOnly<T extends object>(config: Partial<T>, keys: T): Partial<T> {
  const out: Partial<T> = {}
  for (const k of Object.keys(keys) as (keyof T)[]) {
    const v = config[k]
    // Configs that skipped validation may carry the raw environment string.
    if (v !== undefined && v !== null && v !== '') out[k] = (typeof v === 'string' ? Number(v) : v) as T[keyof T]
  }
  return out
}

/** What the HTTP parser or a Node deadline refused, said so a caller knows what to fix. */
export function clientErrorProblem(code: string | undefined): Problem {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return problemOf(new SharedErrors.REQUEST_TIMEOUT('the request line, headers or body did not arrive in time; send the whole request without pausing'))
    case 'HPE_HEADER_OVERFLOW':
      return problemOf(new SharedErrors.HEADERS_TOO_LARGE())
    case 'HPE_INVALID_CONTENT_LENGTH':
      return problemOf(new SharedErrors.MALFORMED_REQUEST('the Content-Length header is not a valid length; send the body size in bytes as one decimal number'))
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return problemOf(new SharedErrors.MALFORMED_REQUEST('the request has both Content-Length and Transfer-Encoding; send only one of them'))
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return problemOf(new SharedErrors.MALFORMED_REQUEST('the Transfer-Encoding is not valid (or comes with a Content-Length); send "chunked" last and only one of Transfer-Encoding and Content-Length'))
    case 'HPE_INVALID_CHUNK_SIZE':
      return problemOf(new SharedErrors.MALFORMED_REQUEST('the chunked body is malformed; send valid chunk sizes or a Content-Length'))
    default:
      return problemOf(new SharedErrors.MALFORMED_REQUEST(`the request is not valid HTTP/1.1 (${code ?? 'parse error'}); check the request line and headers`))
  }
}

/**
 * Fastify's clientErrorHandler: what the HTTP parser and Node's deadlines refuse before a request
 * exists (bad Content-Length, header overflow, headers/request timeout), answered as problem+json.
 */
export function problemClientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const problem = clientErrorProblem(err.code)
  const id = randomUUID()
  this.log.info({ requestId: id, problem: problem.code, parserCode: err.code, status: problem.status }, problem.detail)
  // As Node does: raw bytes only while no response of a running request has started on this socket.
  const running = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && !running?.headersSent) {
    const body = JSON.stringify({ ...problem, requestId: id })
    socket.write(`HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}

/** Fastify's frameworkErrors: routing failures that never reach the error handler (bad %-escapes, over-long params). */
export function problemFrameworkErrors(err: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply): void {
  let problem: Problem
  if (err.code === 'FST_ERR_BAD_URL') problem = problemOf(new SharedErrors.BAD_URL())
  else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') problem = problemOf(new SharedErrors.URL_TOO_LONG())
  else problem = problemOf(new SharedErrors.INTERNAL())
  if (problem.status >= 500) request.log.error({ err }, 'framework error')
  else request.log.info({ problem: problem.code, status: problem.status, fastifyCode: err.code }, problem.detail)
  void reply.code(problem.status).header('x-request-id', request.id).type(`${PROBLEM_CONTENT_TYPE}; charset=utf-8`)
    .send({ ...problem, instance: request.url.split('?')[0], requestId: String(request.id) })
}

/** Node checks header and request deadlines only this often; often enough to keep them honest. */
function checkingInterval(limits: HttpLimitsConfig): number {
  return Math.max(50, Math.min(1_000, Math.floor(Math.min(limits.HTTP_HEADERS_TIMEOUT_MS, limits.HTTP_REQUEST_TIMEOUT_MS) / 4)))
}

/** The server half of serverOptions: every connection and request has a deadline, every refusal is problem+json. */
export function serverLimitOptions(config: Partial<HttpLimitsConfig>): Partial<FastifyServerOptions> {
  const limits = httpLimits(config)
  // Node refuses headersTimeout above requestTimeout.
  const headersTimeout = Math.min(limits.HTTP_HEADERS_TIMEOUT_MS, limits.HTTP_REQUEST_TIMEOUT_MS)
  const http: HttpServerOptions = {
    headersTimeout,
    requestTimeout: limits.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: limits.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: checkingInterval(limits),
  }
  return {
    connectionTimeout: limits.HTTP_IDLE_TIMEOUT_MS,
    requestTimeout: limits.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: limits.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    http,
    clientErrorHandler: problemClientErrorHandler,
    frameworkErrors: problemFrameworkErrors,
    // basePlugin answers requests that arrive while closing with a problem document instead.
    return503OnClosing: false,
  } as Partial<FastifyServerOptions>
}
