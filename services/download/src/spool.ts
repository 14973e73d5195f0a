// A spool: an S3 body written to a local file at S3's speed, read back by any number of clients,
// each at its own pace, from the growing file or the finished one. A client that stops reading
// holds a file descriptor, never an S3 connection, and never slows the transfer or other clients.
// A client that keeps up is handed the bytes just written from memory instead of reading them back.
import { Readable } from 'node:stream'
import type { FileHandle } from 'node:fs/promises'

/** Bytes read from the file per read: large reads, no per-chunk work beyond the read itself. */
export const READ_CHUNK = 1024 * 1024

export type SpoolState = 'filling' | 'done' | 'failed'

/** A waiting batch this large holds back S3's stream until it is written. */
const BATCH_BYTES = 4 * 1024 * 1024
/** A write waits for this many bytes… */
const WRITE_BYTES = 1024 * 1024
/** …or this long after its first chunk, whichever comes first. */
const WRITE_DELAY_MS = 5
/** Bytes written between background datasyncs. */
const SYNC_EVERY = 16 * 1024 * 1024

/** The part of `buffers` after the first `skip` bytes (after a short writev). */
function remaining(buffers: Buffer[], skip: number): Buffer[] {
  if (skip === 0) return buffers
  const out: Buffer[] = []
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length
      continue
    }
    out.push(skip > 0 ? buffer.subarray(skip) : buffer)
    skip = 0
  }
  return out
}

export class Spool {
  state: SpoolState = 'filling'
  error: Error | undefined
  /** Bytes written to the file so far. */
  written = 0
  private waiters = new Set<() => void>()
  // The last batch written (its buffers and where it starts in the file): readers at its bytes take them from memory.
  private recent: { start: number; buffers: Buffer[] } = { start: 0, buffers: [] }
  // The fill holds one reference, each reader one; the file closes when the last lets go.
  private refs = 1
  private source: Readable | undefined
  private readonly finished: Promise<void>
  private settle!: () => void

  /**
   * @param handle opened for reading and writing; positional reads and writes share it
   * @param size the bytes S3 announced; fewer or more is a failed transfer
   * @param onClosed runs once the file is closed (the last reader gone)
   */
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    private readonly onClosed: () => void | Promise<void> = () => undefined,
  ) {
    this.finished = new Promise((resolve) => (this.settle = resolve))
  }

  /** Resolves once the fill is done or failed. */
  get settled(): Promise<void> {
    return this.finished
  }

  /**
   * Copy `body` into the file as fast as S3 sends it, then run `complete` (fsync, rename) before
   * the last byte is released to readers, so a client with every byte finds the file in place.
   */
  async fill(body: Readable, complete: () => Promise<void>): Promise<void> {
    this.source = body
    // Chunks gather into writes of at least WRITE_BYTES (one writev each), or whatever arrived within
    // WRITE_DELAY_MS when S3 sends slowly: a 64 KiB write costs about as much as a 1 MiB one.
    let batch: Buffer[] = []
    let batchBytes = 0
    let writing: Promise<void> | undefined
    let timer: NodeJS.Timeout | undefined
    let failure: Error | undefined
    // Flushed to disk in the background as the fill goes, so the final fsync has little left.
    let syncing: Promise<void> | undefined
    let unsynced = 0
    const flush = async (): Promise<void> => {
      const buffers = batch
      const bytes = batchBytes
      batch = []
      batchBytes = 0
      let position = this.written
      let done = 0
      while (done < bytes) {
        const { bytesWritten } = await this.handle.writev(remaining(buffers, done), position)
        done += bytesWritten
        position += bytesWritten
      }
      this.recent = { start: this.written, buffers }
      this.written += bytes
      unsynced += bytes
      if (unsynced >= SYNC_EVERY && !syncing) {
        unsynced = 0
        syncing = this.handle.datasync().catch(() => undefined).finally(() => (syncing = undefined))
      }
      this.wake()
    }
    // One write at a time: a full batch starts one now, a partial one within WRITE_DELAY_MS.
    const startWrite = (force: boolean): void => {
      if (writing || failure || batch.length === 0 || (!force && batchBytes < WRITE_BYTES)) return
      clearTimeout(timer)
      timer = undefined
      writing = flush().catch((err: Error) => void (failure = err)).finally(() => {
        writing = undefined
        schedule()
      })
    }
    const schedule = (): void => {
      if (batch.length === 0 || failure) return
      if (batchBytes >= WRITE_BYTES) return startWrite(false)
      timer ??= setTimeout(() => {
        timer = undefined
        startWrite(true)
      }, WRITE_DELAY_MS)
    }
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (failure) throw failure
        if (this.written + batchBytes + chunk.length > this.size) throw new Error(`S3 sent more than the ${this.size} bytes it announced`)
        batch.push(chunk)
        batchBytes += chunk.length
        schedule()
        // S3's stream is only held back once a whole batch is waiting behind a running write.
        while (batchBytes >= BATCH_BYTES && writing) await writing
      }
      clearTimeout(timer)
      timer = undefined
      while (writing || (batch.length > 0 && !failure)) {
        startWrite(true)
        await writing
      }
      if (failure) throw failure
      if (this.written !== this.size) throw new Error(`S3 sent ${this.written} of ${this.size} bytes`)
      await syncing
      await complete()
      this.state = 'done'
    } catch (err) {
      this.fail(err as Error)
    } finally {
      clearTimeout(timer)
      timer = undefined
      // No write or sync may still be running when the file is closed.
      while (writing) await writing
      clearTimeout(timer)
      await syncing
      this.source = undefined
      this.wake()
      this.recent = { start: 0, buffers: [] }
      this.settle()
      await this.release()
    }
  }

  /** Stop the transfer (shutdown); readers see an error. */
  abort(err: Error): void {
    if (this.state !== 'filling') return
    this.source?.destroy(err)
    this.fail(err)
  }

  private fail(err: Error): void {
    if (this.state !== 'filling') return
    this.state = 'failed'
    this.error = err
    this.wake()
  }

  private wake(): void {
    const waiting = [...this.waiters]
    this.waiters.clear()
    for (const resume of waiting) resume()
  }

  private async release(): Promise<void> {
    if (--this.refs > 0) return
    await this.handle.close().catch(() => undefined)
    await this.onClosed()
  }

  /** Bytes from `position` (below `limit`) still held from the last batch, without a copy; undefined when not held. */
  private fromMemory(position: number, limit: number): Buffer | undefined {
    let start = this.recent.start
    if (position < start) return undefined
    for (const buffer of this.recent.buffers) {
      const end = start + buffer.length
      if (position < end) return buffer.subarray(position - start, Math.min(buffer.length, limit - start))
      start = end
    }
    return undefined
  }

  /** Bytes a reader may take now: all once done; until then all but the last (held until the file is in place). */
  private available(): number {
    if (this.state === 'done') return this.written
    return Math.min(this.written, this.size - 1)
  }

  /** A stream of bytes `start`..`end` (inclusive), read from the file as they become available. */
  reader(start = 0, end = this.size - 1): Readable {
    if (this.state === 'failed') throw this.error ?? new Error('transfer failed')
    this.refs++
    let position = start
    let released = false
    let waiting: (() => void) | undefined
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- read() below runs with the stream as `this`
    const spool = this
    const letGo = (): void => {
      if (released) return
      released = true
      void spool.release()
    }
    const stream = new Readable({
      // One read in flight at a time; each read is up to READ_CHUNK straight into a fresh buffer.
      highWaterMark: READ_CHUNK,
      read() {
        const pump = (): void => {
          if (this.destroyed) return
          // An empty object's reader also waits for the file to be in place before it ends.
          if (position > end && (end < spool.size - 1 || spool.state === 'done')) {
            this.push(null)
            return
          }
          if (spool.state === 'failed') {
            this.destroy(spool.error ?? new Error('transfer failed'))
            return
          }
          const limit = Math.min(end + 1, spool.available())
          if (limit <= position) {
            waiting = pump
            spool.waiters.add(pump)
            return
          }
          const held = spool.fromMemory(position, limit)
          if (held) {
            position += held.length
            this.push(held)
            return
          }
          const length = Math.min(READ_CHUNK, limit - position)
          const buffer = Buffer.allocUnsafe(length)
          spool.handle.read(buffer, 0, length, position).then(({ bytesRead }) => {
            if (this.destroyed) return
            if (bytesRead === 0) {
              this.destroy(new Error('cache file ended early'))
              return
            }
            position += bytesRead
            this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))
          }, (err: Error) => this.destroy(err))
        }
        pump()
      },
      destroy(err, callback) {
        if (waiting) spool.waiters.delete(waiting)
        letGo()
        callback(err)
      },
    })
    stream.once('end', letGo)
    return stream
  }
}
