// Sending part of a cached file to a client with two reused read buffers. A stream of the file
// (fs.createReadStream) allocates a new 1 MiB buffer for every read: 256 of them for a 256 MiB hit,
// each counted by V8 as external memory, so a large hit set off several full garbage collections.
// In a long-running service, whose heap is larger than a fresh one's, those took ten times the CPU
// of the transfer itself. Here one buffer is read into while the other is being written, and a
// buffer is read into again only once the socket has taken its previous bytes.
import type { FileHandle } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'

/** Bytes per read and per write. */
export const SEND_CHUNK = 1024 * 1024

/**
 * Write bytes `start`..`end` (inclusive) of `handle` to `res`, whose status and headers are already
 * set, then end it. Resolves when the response is finished or the client is gone (never rejects: a
 * failed read destroys the response, so the client sees a cut transfer, never a short 200). Does
 * not close `handle`.
 */
export async function sendFileRange(res: ServerResponse, handle: FileHandle, start: number, end: number): Promise<void> {
  const size = end - start + 1
  const buffers = [Buffer.allocUnsafe(Math.min(SEND_CHUNK, size)), Buffer.allocUnsafe(Math.min(SEND_CHUNK, size))]
  // The write that last used each buffer; the buffer is free once it settles.
  const writes: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()]
  const gone = new Promise<void>((resolve) => res.once('close', resolve))
  const write = (chunk: Buffer): Promise<void> => new Promise((resolve) => res.write(chunk, () => resolve()))
  let position = start
  let turn = 0
  try {
    while (position <= end) {
      await Promise.race([writes[turn], gone])
      if (res.destroyed) return
      const buffer = buffers[turn]
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position + 1), position)
      if (bytesRead === 0) throw new Error('the cache file ended before its entry said')
      if (res.destroyed) return
      position += bytesRead
      writes[turn] = write(buffer.subarray(0, bytesRead))
      turn = 1 - turn
    }
    await Promise.race([Promise.all(writes), gone])
    if (!res.destroyed) await Promise.race([new Promise<void>((resolve) => res.end(resolve)), gone])
  } catch (err) {
    res.destroy(err as Error)
  }
}
