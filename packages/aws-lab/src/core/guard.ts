// One request's bug must not end the lab (and with it `pnpm start`): every request runs in an
// AsyncLocalStorage scope, so an error that escapes its promise chain (a throw in a timer, an
// 'error' event nobody listens to) is answered as that request's 500 in its protocol's format,
// logged, and the process carries on. server.ts installs the process handlers.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { ServerResponse } from 'node:http'

export interface LabRequestScope {
  res: ServerResponse
  /** Writes the request's 500 in its protocol's format, once the protocol is known. */
  answer?: () => void
}

const scopes = new AsyncLocalStorage<LabRequestScope>()

/** Runs a request's handling in its own scope. */
export function inRequestScope<T>(scope: LabRequestScope, fn: () => T): T {
  return scopes.run(scope, fn)
}

/** The scope of the request being handled, if any. */
export function currentRequestScope(): LabRequestScope | undefined {
  return scopes.getStore()
}

/** Process handlers for errors nothing caught: answer the request they came from, log, carry on. */
export function guardLabProcess(log: (line: Record<string, unknown>) => void): void {
  const onError = (err: unknown, origin: string) => {
    const scope = scopes.getStore()
    log({ level: 'error', msg: scope ? 'uncaught error in a request: answered 500; the lab carries on' : 'uncaught error outside any request; the lab carries on', origin, err: String((err as Error)?.stack ?? err) })
    if (!scope) return
    const { res } = scope
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (scope.answer) scope.answer()
    else res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal error\n')
  }
  process.on('uncaughtException', (err) => onError(err, 'uncaughtException'))
  process.on('unhandledRejection', (err) => onError(err, 'unhandledRejection'))
}
