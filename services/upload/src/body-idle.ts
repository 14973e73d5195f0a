// The idle-body limit: an upload whose client sends nothing for UPLOAD_IDLE_TIMEOUT_MS is
// aborted, so a stalled client never holds an S3 socket (and a multipart upload) for long.
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * Narrows the connection's inactivity timeout to `idleMs` while the body is being received and
 * calls `onIdle` when it passes with the body unfinished. Time spent waiting on our own side
 * (S3 slower than the client, so the request is paused) does not count; once the whole body is
 * in, the wait for S3 (a large CompleteMultipartUpload takes minutes) has no client idle limit,
 * only the S3 client's own. Returns the function that restores the server's idle timeout
 * (`serverIdleMs`), to call when the answer is sent.
 */
export function watchBodyIdle(request: FastifyRequest, reply: FastifyReply, idleMs: number, serverIdleMs: number, onIdle: () => void): () => void {
  const raw = request.raw
  const socket = raw.socket
  let watching = true
  // Node destroys an idle socket unless the response (or an unfinished request) has a 'timeout' listener: this one decides.
  const onTimeout = () => {
    if (raw.complete) {
      bodyIn()
      return
    }
    if (raw.isPaused()) return
    request.log.warn({ idleMs }, 'upload idle: no data from the client')
    onIdle()
  }
  const stopWatching = () => {
    if (!watching) return
    watching = false
    reply.raw.off('timeout', onTimeout)
    raw.off('end', bodyIn)
  }
  const bodyIn = () => {
    stopWatching()
    if (!socket.destroyed) socket.setTimeout(0)
  }
  reply.raw.on('timeout', onTimeout)
  raw.once('end', bodyIn)
  socket.setTimeout(idleMs)
  return () => {
    stopWatching()
    if (!socket.destroyed) socket.setTimeout(serverIdleMs)
  }
}
