// A service's process around its app, in one place for every service: the process guard, a graceful
// close on SIGTERM/SIGINT (close-with-grace), and listen — where a port it cannot take ends it with code 1.
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { GUARDED_PROCESS_EVENTS, guardProcess } from './process-guard.js'

export interface ServeOptions {
  /** The closing log line (default `closing`) and what it adds, e.g. the uploads in flight. */
  closingMessage?: string
  closingFields?: () => Record<string, unknown>
  /** Time close-with-grace allows beyond SHUTDOWN_GRACE_MS, for work the service winds down itself. */
  extraGraceMs?: number
  /** Closes the app (and what the service winds down around it) instead of `app.close()` alone. */
  close?: () => Promise<void>
}

export async function serve(app: FastifyInstance, config: { HOST: string; PORT: number; SHUTDOWN_GRACE_MS: number }, options: ServeOptions = {}): Promise<void> {
  // An error no request handled answers its request 500 and is logged; close-with-grace leaves it to the guard.
  guardProcess(app.log)
  closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS + (options.extraGraceMs ?? 0), skip: GUARDED_PROCESS_EVENTS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal, ...options.closingFields?.() }, options.closingMessage ?? 'closing')
    await (options.close ? options.close() : app.close())
  })
  try {
    await app.listen({ port: config.PORT, host: config.HOST })
  } catch (err) {
    // Not a clean exit: whoever started the service (pnpm start, a supervisor) must see it failed.
    app.log.fatal({ err }, `cannot listen on ${config.HOST}:${config.PORT}`)
    await app.close().catch(() => undefined)
    process.exit(1)
  }
}
