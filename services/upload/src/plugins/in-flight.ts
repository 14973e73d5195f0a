// Tracks uploads in progress so shutdown can abort the ones that outlive the grace period
// cleanly (multipart aborted, PutObject cancelled) instead of leaving parts behind.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export type AbortUpload = (reason: Error) => void

declare module 'fastify' {
  interface FastifyInstance {
    inFlightUploads: {
      /** Registers an upload; returns the function that unregisters it. */
      track(abort: AbortUpload): () => void
      readonly size: number
      /** Aborts every upload still running (used when the shutdown grace period ends). */
      abortAll(reason: Error): void
    }
  }
}

export const inFlightPlugin = fp(
  async function inFlightPlugin(app: FastifyInstance) {
    const running = new Set<AbortUpload>()
    app.decorate('inFlightUploads', {
      track(abort: AbortUpload) {
        running.add(abort)
        return () => running.delete(abort)
      },
      get size() {
        return running.size
      },
      abortAll(reason: Error) {
        for (const abort of running) abort(reason)
      },
    })
  },
  { name: 'upload-in-flight', fastify: '5.x' },
)
