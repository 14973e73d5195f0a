// Fastify plugins every service registers: problem+json errors, request-id echo,
// health and readiness routes, and the S3 client closed with the app.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { S3Client } from '@aws-sdk/client-s3'
import { Type } from 'typebox'
import { createS3Client } from './aws.js'
import type { AwsConfig } from './config.js'
import { problemErrorHandler, problemNotFoundHandler, problemOf, problemResponses, sendProblem, SharedErrors, toProblem } from './errors.js'
import { REQUEST_ID_HEADER } from './logger.js'

export type ReadinessCheck = () => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** Registers a dependency that GET /readyz asks; it throws when the dependency does not answer. */
    addReadinessCheck(name: string, check: ReadinessCheck): void
    s3: S3Client
  }
}

/** Error and not-found handlers (problem+json), X-Request-Id on every response, /healthz and /readyz. */
export const basePlugin = fp(
  async function basePlugin(app: FastifyInstance) {
    const checks = new Map<string, ReadinessCheck>()
    app.decorate('addReadinessCheck', (name: string, check: ReadinessCheck) => {
      checks.set(name, check)
    })
    app.setErrorHandler(problemErrorHandler)
    app.setNotFoundHandler(problemNotFoundHandler)
    app.addHook('onRequest', async (request, reply) => {
      reply.header(REQUEST_ID_HEADER, request.id)
    })

    app.get('/healthz', {
      schema: {
        summary: 'Liveness: the process answers.',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
      logLevel: 'warn',
    }, async () => ({ status: 'ok' as const }))

    app.get('/readyz', {
      schema: {
        summary: 'Readiness: every dependency answers.',
        tags: ['health'],
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Type.Record(Type.String(), Type.Literal('ok')) }),
          ...problemResponses(503),
        },
      },
      logLevel: 'warn',
    }, async (request, reply) => {
      const results: Record<string, 'ok'> = {}
      for (const [name, check] of checks) {
        try {
          await check()
          results[name] = 'ok'
        } catch (err) {
          const cause = toProblem(err)
          request.log.warn({ check: name, problem: cause.code, awsErrorCode: cause.awsErrorCode }, 'readiness check failed')
          return sendProblem(reply, problemOf(new SharedErrors.UNAVAILABLE(`${name}: ${cause.awsErrorCode ?? cause.code}`), {
            ...(cause.awsErrorCode ? { awsErrorCode: cause.awsErrorCode } : {}),
          }))
        }
      }
      return { status: 'ready' as const, checks: results }
    })
  },
  { name: 'kms-share-base', fastify: '5.x' },
)

/** Decorates `app.s3` with a client built from the config, destroyed when the app closes. */
export const s3Plugin = fp(
  async function s3Plugin(app: FastifyInstance, options: { config: AwsConfig; client?: S3Client }) {
    const client = options.client ?? createS3Client(options.config)
    app.decorate('s3', client)
    app.addHook('onClose', async () => {
      client.destroy()
    })
  },
  { name: 'kms-share-s3', fastify: '5.x' },
)
