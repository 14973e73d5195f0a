// One request's bug must not end the process: an error that escapes a request's promise chain (a
// throw in a timer or an 'error' event nobody listens to) would reach process 'uncaughtException',
// where close-with-grace shuts the service down. Each request runs in an AsyncLocalStorage scope, so
// the process handler can tell whose error it was and answer that request 500 (problem+json through
// the app's error handler); the process carries on. Errors outside any request are logged.
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

interface RequestScope {
  request: FastifyRequest
  reply: FastifyReply
}

const scopes = new AsyncLocalStorage<RequestScope>()
const kResource = Symbol('kms-share.requestScope')

/** The process-level events close-with-grace must leave to guardProcess (its `skip` option). */
export const GUARDED_PROCESS_EVENTS: Array<'uncaughtException' | 'unhandledRejection'> = ['uncaughtException', 'unhandledRejection']

/** Runs each request of `app` in its own scope (basePlugin calls it). */
export function trackRequestScopes(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    scopes.run({ request, reply }, () => {
      ;(request as unknown as Record<symbol, AsyncResource>)[kResource] = new AsyncResource('kms-share-request')
      done()
    })
  })
  // A body is read in the socket's async context: re-enter the request's scope before the handler runs.
  app.addHook('preValidation', (request, _reply, done) => {
    const resource = (request as unknown as Record<symbol, AsyncResource | undefined>)[kResource]
    if (resource) resource.runInAsyncScope(done)
    else done()
  })
}

interface GuardLogger {
  error(obj: object, msg: string): void
}

let installed: { uninstall(): void } | undefined

/**
 * Keeps the process alive through errors no request handled: the request they came from (if any)
 * is answered 500, and the error is logged with its request id. Once per process; returns uninstall.
 */
export function guardProcess(log: GuardLogger): { uninstall(): void } {
  if (installed) return installed
  const onError = (raw: unknown, origin: string) => {
    const err = raw instanceof Error ? raw : new Error(String(raw))
    const scope = scopes.getStore()
    if (!scope) {
      log.error({ err, origin }, 'uncaught error outside any request; the process carries on')
      return
    }
    const { request, reply } = scope
    request.log.error({ err, origin }, 'uncaught error in a request: answered 500; the process carries on')
    if (!reply.sent && !reply.raw.headersSent) {
      // The app's error handler writes the problem (a 5xx never shows internals).
      reply.code(500).send(err)
    } else {
      // Headers are gone: the client learns of the failure from the cut connection.
      reply.raw.destroy(err)
    }
  }
  const onException = (err: unknown) => onError(err, 'uncaughtException')
  const onRejection = (err: unknown) => onError(err, 'unhandledRejection')
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  installed = {
    uninstall() {
      process.removeListener('uncaughtException', onException)
      process.removeListener('unhandledRejection', onRejection)
      installed = undefined
    },
  }
  return installed
}
