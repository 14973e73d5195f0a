// The idle-body limit: an upload whose client sends nothing for UPLOAD_IDLE_TIMEOUT_MS is
// aborted, so a stalled client never holds an S3 socket (and a multipart upload) for long.
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * Narrows the connection's inactivity timeout to `idleMs` while the body is being received and
 * calls `onIdle` when it passes with the body unfinished. Time spent waiting on our own side
 * (S3 slower than the client, so the request is paused, or the whole body already in) does not
 * count. Returns the function that restores the server's own idle timeout; it also runs by
 * itself when the body ends.
 */
export function watchBodyIdle(request: FastifyRequest, reply: FastifyReply, idleMs: number, serverIdleMs: number, onIdle: () => void): () => void {
  const raw = request.raw
  const socket = raw.socket
  let done = false
  // Node destroys an idle socket unless the response (or an unfinished request) has a 'timeout' listener: this one decides.
  const onTimeout = () => {
    if (raw.complete) {
      // Everything arrived; what remains is our wait on S3, which the server's own idle limit covers.
      restore()
      return
    }
    if (raw.isPaused()) return
    request.log.warn({ idleMs }, 'upload idle: no data from the client')
    onIdle()
  }
  const restore = () => {
    if (done) return
    done = true
    reply.raw.off('timeout', onTimeout)
    raw.off('end', restore)
    if (!socket.destroyed) socket.setTimeout(serverIdleMs)
  }
  reply.raw.on('timeout', onTimeout)
  raw.once('end', restore)
  socket.setTimeout(idleMs)
  return restore
}
