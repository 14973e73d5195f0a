// Fastify plugins every service registers: problem+json errors, request-id echo,
// health and readiness routes (each check with a deadline), and the S3 client closed with the app.
import fp from 'fastify-plugin'
import type { FastifyInstance, LogLevel } from 'fastify'
import type { S3Client } from '@aws-sdk/client-s3'
import { Type } from 'typebox'
import { createS3Client } from './aws.js'
import type { AwsConfig } from './aws-config.js'
import { httpLimits, type HttpLimitsConfig } from './http-limits.js'
import { problemErrorHandler, problemNotFoundHandler, problemOf, problemResponses, sendProblem, SharedErrors, toProblem } from './errors.js'
import { REQUEST_ID_HEADER } from './logger.js'
import { trackRequestScopes } from './process-guard.js'
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet'

/**
 * Security headers on every answer (pages, API, errors, 404s). Pages send their own, stricter
 * Content-Security-Policy; this one covers the rest (the audit queue dashboard's own scripts and
 * inline styles included; the web fonts it asks Google for are refused, it falls back to local ones). HSTS is the TLS-terminating proxy's to send: on http://127.0.0.1 it would
 * pin every local port to https.
 */
export const SECURITY_HEADERS: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      // The queue dashboard sets <base href> to its own path.
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  frameguard: { action: 'deny' },
  // Not no-referrer: with it a browser sends `Origin: null` on a page's form posts (sign-in, sign-out), which the CSRF origin check refuses.
  referrerPolicy: { policy: 'same-origin' },
  strictTransportSecurity: false,
}

/** Throws when the dependency does not answer; `signal` aborts when the readiness deadline passes. */
export type ReadinessCheck = (signal: AbortSignal) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** Registers a dependency that GET /readyz asks; it throws when the dependency does not answer. */
    addReadinessCheck(name: string, check: ReadinessCheck): void
    s3: S3Client
  }
}

/** The time limit on each readiness check: whatever does not answer within it counts as down. */
class ReadinessTimeout extends Error {
  constructor(readonly limitMs: number) {
    super(`no answer within ${limitMs} ms`)
  }
}

async function runCheck(check: ReadinessCheck, limitMs: number): Promise<void> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const reason = new ReadinessTimeout(limitMs)
      controller.abort(reason)
      reject(reason)
    }, limitMs)
  })
  try {
    await Promise.race([check(controller.signal), deadline])
  } finally {
    clearTimeout(timer)
  }
}

export interface BasePluginOptions {
  /** READINESS_TIMEOUT_MS and the other HTTP limits (defaults when absent). */
  config?: Partial<HttpLimitsConfig>
}

/** Error and not-found handlers (problem+json), X-Request-Id on every response, /healthz and /readyz, 503 while closing. */
export const basePlugin = fp(
  async function basePlugin(app: FastifyInstance, options: BasePluginOptions) {
    const readinessTimeoutMs = httpLimits(options.config ?? {}).READINESS_TIMEOUT_MS
    // Probes are frequent: log them only from warn up, and never louder than the app (a silent app stays silent).
    const quietLevel: LogLevel = ['error', 'fatal', 'silent'].includes(app.log.level) ? app.log.level as LogLevel : 'warn'
    const checks = new Map<string, ReadinessCheck>()
    app.decorate('addReadinessCheck', (name: string, check: ReadinessCheck) => {
      checks.set(name, check)
    })
    app.setErrorHandler(problemErrorHandler)
    app.setNotFoundHandler(problemNotFoundHandler)
    trackRequestScopes(app)
    await app.register(helmet, SECURITY_HEADERS)
    let closing = false
    app.addHook('preClose', async () => {
      closing = true
    })
    app.addHook('onRequest', async (request, reply) => {
      reply.header(REQUEST_ID_HEADER, request.id)
      // In place of Fastify's plain-JSON 503 (return503OnClosing is off in serverOptions).
      if (closing) {
        reply.header('connection', 'close')
        return sendProblem(reply, problemOf(new SharedErrors.SHUTTING_DOWN()))
      }
    })

    app.get('/healthz', {
      schema: {
        summary: 'Liveness: the process answers.',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
      logLevel: quietLevel,
    }, async () => ({ status: 'ok' as const }))

    app.get('/readyz', {
      schema: {
        summary: `Readiness: every dependency answers (each within READINESS_TIMEOUT_MS, ${readinessTimeoutMs} ms here).`,
        tags: ['health'],
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Type.Record(Type.String(), Type.Literal('ok')) }),
          ...problemResponses(503),
        },
      },
      logLevel: quietLevel,
    }, async (request, reply) => {
      // All at once, so the answer takes at most one deadline however many checks there are.
      const names = [...checks.keys()]
      const outcomes = await Promise.allSettled([...checks.values()].map((check) => runCheck(check, readinessTimeoutMs)))
      const results: Record<string, 'ok'> = {}
      for (const [i, outcome] of outcomes.entries()) {
        const name = names[i]
        if (outcome.status === 'fulfilled') {
          results[name] = 'ok'
          continue
        }
        const err: unknown = outcome.reason
        if (err instanceof ReadinessTimeout) {
          request.log.warn({ check: name, limitMs: err.limitMs }, 'readiness check timed out')
          return sendProblem(reply, problemOf(new SharedErrors.UNAVAILABLE(`${name}: ${err.message}`)))
        }
        const cause = toProblem(err)
        request.log.warn({ check: name, problem: cause.code, awsErrorCode: cause.awsErrorCode }, 'readiness check failed')
        return sendProblem(reply, problemOf(new SharedErrors.UNAVAILABLE(`${name}: ${cause.awsErrorCode ?? cause.code}`), {
          ...(cause.awsErrorCode ? { awsErrorCode: cause.awsErrorCode } : {}),
        }))
      }
      return { status: 'ready' as const, checks: results }
    })
  },
  { name: 'kms-share-base', fastify: '5.x' },
)

/** Decorates `app.s3` with a client built from the config, destroyed when the app closes. */
export const s3Plugin = fp(
  async function s3Plugin(app: FastifyInstance, options: { config: AwsConfig; client?: S3Client }) {
    // The SDK's own warnings (socket exhaustion, aborted streaming requests) as JSON log lines instead of bare console output;
    // debug/info stay off: the SDK would log every call's input there.
    const log = app.log.child({ component: 's3-client' })
    const logger = { debug() {}, info() {}, warn: (...args: unknown[]) => log.warn(args.map(String).join(' ')), error: (...args: unknown[]) => log.error(args.map(String).join(' ')) }
    const client = options.client ?? createS3Client(options.config, { logger })
    app.decorate('s3', client)
    app.addHook('onClose', async () => {
      client.destroy()
    })
  },
  { name: 'kms-share-s3', fastify: '5.x' },
)
