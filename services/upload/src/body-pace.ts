// The minimum body rate: a client that keeps a connection alive by trickling (a byte every few
// seconds is never idle) is cut once its average over a window falls below a floor far under any
// real network's. Sampled from the socket's byte counter on a timer, so the body's chunks pay nothing.
import type { FastifyRequest } from 'fastify'

/**
 * Calls `onSlow(bytesPerSecond)` when the bytes received over the last `windowMs` of the client's
 * time average less than `minBytesPerSecond`. A sample taken while the request is paused (S3 slower
 * than the client) is ours, not the client's, and is left out. Returns the function that stops it
 * (it also stops when the body is in). 0 for either setting turns it off.
 */
export function watchBodyPace(request: FastifyRequest, minBytesPerSecond: number, windowMs: number, onSlow: (bytesPerSecond: number) => void): () => void {
  if (minBytesPerSecond <= 0 || windowMs <= 0) return () => {}
  const raw = request.raw
  const socket = raw.socket
  const sampleMs = Math.min(1_000, windowMs / 4)
  const slots = Math.round(windowMs / sampleMs)
  const floor = (minBytesPerSecond * slots * sampleMs) / 1_000
  const ring = new Float64Array(slots)
  let filled = 0
  let next = 0
  let sum = 0
  let last = socket.bytesRead
  const timer = setInterval(() => {
    if (raw.complete || socket.destroyed) return stop()
    const now = socket.bytesRead
    const delta = now - last
    last = now
    if (raw.isPaused()) return
    sum += delta - ring[next]
    ring[next] = delta
    next = (next + 1) % slots
    if (filled < slots) filled++
    if (filled === slots && sum < floor) {
      stop()
      onSlow(Math.round((sum * 1_000) / (slots * sampleMs)))
    }
  }, sampleMs)
  timer.unref()
  const stop = () => {
    clearInterval(timer)
    raw.off('end', stop)
  }
  raw.once('end', stop)
  return stop
}
