// Logging and request ids: pino JSON logs, one id per request (taken from a well-formed
// X-Request-Id or generated), secrets redacted.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { LogController, type FastifyServerOptions } from 'fastify'
import { serverLimitOptions, type HttpLimitsConfig } from './http-limits.js'

export const REQUEST_ID_HEADER = 'x-request-id'

/** Paths pino censors wherever they occur in a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-amz-security-token"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.authorization',
  '*.password',
  '*.secret',
  '*.secretAccessKey',
  '*.SecretAccessKey',
  '*.sessionToken',
  '*.SessionToken',
  '*.accessKeyId',
  '*.Plaintext',
  '*.plaintext',
  '*.token',
]

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** A caller's X-Request-Id when it is safe to log and echo, else a fresh UUID. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER]
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID()
}

export interface LoggingConfig {
  LOG_LEVEL: string
}

export function loggerOptions(config: LoggingConfig, service?: string) {
  return {
    level: config.LOG_LEVEL,
    ...(service ? { base: { service } } : {}),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      // Method and path only: query strings can carry presigned signatures.
      req(req: { method: string; url: string; headers: Record<string, unknown>; ip?: string }) {
        return {
          method: req.method,
          url: req.url.split('?')[0],
          remoteAddress: req.ip,
          contentLength: req.headers['content-length'],
          userAgent: req.headers['user-agent'],
        }
      },
    },
  }
}

/** Fastify server options every service uses: logger, request ids, the request-id log label, time limits, problem+json refusals. */
/** TRUST_PROXY as Fastify's trustProxy: `true` (any proxy) or the proxies' addresses/CIDRs, comma-separated. */
export function trustProxyOption(value: string | undefined): boolean | string | undefined {
  if (value === undefined || value === 'false') return undefined
  return value === 'true' ? true : value
}

export function serverOptions(config: LoggingConfig & Partial<HttpLimitsConfig> & { TRUST_PROXY?: string }, service?: string): FastifyServerOptions {
  const trustProxy = trustProxyOption(config.TRUST_PROXY)
  return {
    ...serverLimitOptions(config),
    ...(trustProxy !== undefined ? { trustProxy } : {}),
    logger: loggerOptions(config, service),
    requestIdHeader: false,
    genReqId: requestId,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
  }
}
