// The local file cache: `localfile-*` files in CACHE_DIR, an index mapping each file to its
// object key and ETag, atomic writes (temporary file, fsync, rename) and LRU eviction.
import { createWriteStream, type WriteStream } from 'node:fs'
import { once } from 'node:events'
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { cacheFileName, CACHE_FILE_PREFIX, isCacheFileName } from './cache-names.js'

export const INDEX_FILE = 'cache-index.json'
/** Temporary files start with a dot so no listing ever mistakes them for entries. */
const TEMP_PREFIX = '.tmp-'

export interface CacheEntry {
  /** The cache file's name (`localfile-…`). */
  name: string
  key: string
  size: number
  etag: string
  contentType: string
  lastModified?: string
  /** ISO time the file was written. */
  cachedAt: string
  /** Epoch ms of the last time the file was served, for LRU. */
  lastAccess: number
}

export interface CacheLogger {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export interface CacheWriteMeta {
  key: string
  etag: string
  contentType: string
  lastModified?: string
  /** The size S3 announced; a transfer that ends short or long is discarded. */
  expectedSize: number
}

/** A write in progress: feed `stream`, then `commit()` or `abort()`. */
export interface CacheWriter {
  stream: WriteStream
  commit(): Promise<CacheEntry | undefined>
  abort(): Promise<void>
}

interface IndexFile {
  version: 1
  entries: CacheEntry[]
}

export class FileCache {
  private entries = new Map<string, CacheEntry>() // by file name
  private byKey = new Map<string, string>() // object key → file name
  private enabledFlag = false
  private indexWrite: Promise<void> = Promise.resolve()
  private touchTimer: NodeJS.Timeout | undefined
  private pendingTemps = new Set<string>()

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly log: CacheLogger,
  ) {}

  get enabled(): boolean {
    return this.enabledFlag
  }

  get totalBytes(): number {
    let total = 0
    for (const entry of this.entries.values()) total += entry.size
    return total
  }

  /** Prepare the folder; an unwritable one leaves the cache disabled (the service streams instead). */
  async init(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true })
      const probe = join(this.dir, `${TEMP_PREFIX}probe-${randomBytes(4).toString('hex')}`)
      await writeFile(probe, 'probe')
      await unlink(probe)
    } catch (err) {
      this.enabledFlag = false
      this.log.warn({ err, cacheDir: this.dir }, 'cache folder is not writable: serving without a cache')
      return
    }
    this.enabledFlag = true
    await this.loadIndex()
  }

  private async loadIndex(): Promise<void> {
    let saved: IndexFile | undefined
    try {
      saved = JSON.parse(await readFile(join(this.dir, INDEX_FILE), 'utf8')) as IndexFile
    } catch {
      saved = undefined
    }
    const files = new Set(await readdir(this.dir))
    for (const entry of saved?.entries ?? []) {
      if (!files.has(entry.name) || !isCacheFileName(entry.name)) continue
      const info = await stat(join(this.dir, entry.name)).catch(() => undefined)
      if (!info || info.size !== entry.size) continue
      this.entries.set(entry.name, entry)
      this.byKey.set(entry.key, entry.name)
    }
    // Leftovers of a crash: temporary files and cache files the index does not vouch for.
    for (const name of files) {
      if (name.startsWith(TEMP_PREFIX) || (name.startsWith(CACHE_FILE_PREFIX) && !this.entries.has(name))) {
        await unlink(join(this.dir, name)).catch(() => undefined)
      }
    }
    await this.evict()
    await this.saveIndex()
  }

  list(): CacheEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  lookup(key: string): CacheEntry | undefined {
    const name = this.byKey.get(key)
    return name === undefined ? undefined : this.entries.get(name)
  }

  path(entry: CacheEntry): string {
    return join(this.dir, entry.name)
  }

  /** Mark an entry used; the index is saved a little later so hot reads do not each write it. */
  touch(entry: CacheEntry): void {
    entry.lastAccess = Date.now()
    if (this.touchTimer) return
    this.touchTimer = setTimeout(() => {
      this.touchTimer = undefined
      void this.saveIndex()
    }, 1000)
    this.touchTimer.unref()
  }

  /** The name a new entry for `key` gets: its current one, else the plain form unless another key holds it. */
  private nameFor(key: string): string {
    const current = this.byKey.get(key)
    if (current) return current
    for (let attempt = 0; ; attempt++) {
      const name = cacheFileName(key, attempt)
      const holder = this.entries.get(name)
      if (!holder || holder.key === key) return name
    }
  }

  /** Start writing an entry; undefined when the cache is off or the object could never fit. */
  async beginWrite(meta: CacheWriteMeta): Promise<CacheWriter | undefined> {
    if (!this.enabledFlag || meta.expectedSize > this.maxBytes) return undefined
    const temp = join(this.dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`)
    // flush: the data is fsynced before the stream closes, so a renamed file is a durable one.
    const stream = createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true })
    try {
      await once(stream, 'open')
    } catch (err) {
      this.log.warn({ err, cacheDir: this.dir }, 'cannot create a cache file: streaming without caching')
      return undefined
    }
    this.pendingTemps.add(temp)
    let settled = false

    const discard = async (): Promise<void> => {
      if (!stream.closed) {
        const closed = once(stream, 'close').catch(() => undefined)
        stream.destroy()
        await closed
      }
      await unlink(temp).catch(() => undefined)
      this.pendingTemps.delete(temp)
    }

    return {
      stream,
      commit: async () => {
        if (settled) return undefined
        settled = true
        try {
          if (stream.destroyed && !stream.closed) await once(stream, 'close')
          if (!stream.closed) {
            const closed = once(stream, 'close')
            stream.end()
            await closed
          }
          if (stream.errored) throw stream.errored
          const written = stream.bytesWritten
          if (written !== meta.expectedSize) {
            this.log.warn({ key: meta.key, written, expected: meta.expectedSize }, 'transfer size mismatch: not cached')
            await discard()
            return undefined
          }
          const name = this.nameFor(meta.key)
          await rename(temp, join(this.dir, name))
          this.pendingTemps.delete(temp)
          const previous = this.byKey.get(meta.key)
          if (previous && previous !== name) this.entries.delete(previous)
          const entry: CacheEntry = {
            name,
            key: meta.key,
            size: written,
            etag: meta.etag,
            contentType: meta.contentType,
            ...(meta.lastModified ? { lastModified: meta.lastModified } : {}),
            cachedAt: new Date().toISOString(),
            lastAccess: Date.now(),
          }
          this.entries.set(name, entry)
          this.byKey.set(meta.key, name)
          await this.evict(name)
          await this.saveIndex()
          return entry
        } catch (err) {
          this.log.warn({ err, key: meta.key }, 'cache write failed: not cached')
          await discard()
          return undefined
        }
      },
      abort: async () => {
        if (settled) return
        settled = true
        await discard()
      },
    }
  }

  /** Evict least recently used entries until the total fits, sparing `keep` (the entry just written). */
  private async evict(keep?: string): Promise<void> {
    let total = this.totalBytes
    if (total <= this.maxBytes) return
    const byAge = [...this.entries.values()].filter((e) => e.name !== keep).sort((a, b) => a.lastAccess - b.lastAccess)
    for (const entry of byAge) {
      if (total <= this.maxBytes) break
      await this.drop(entry)
      total -= entry.size
      this.log.info({ name: entry.name, key: entry.key, size: entry.size }, 'cache entry evicted (least recently used)')
    }
  }

  private async drop(entry: CacheEntry): Promise<void> {
    this.entries.delete(entry.name)
    if (this.byKey.get(entry.key) === entry.name) this.byKey.delete(entry.key)
    // Readers that already opened the file keep reading it: unlink only removes the name.
    await unlink(join(this.dir, entry.name)).catch(() => undefined)
  }

  /** Remove one entry by file name; false when there is none. */
  async remove(name: string): Promise<boolean> {
    const entry = this.entries.get(name)
    if (!entry) return false
    await this.drop(entry)
    await this.saveIndex()
    return true
  }

  /** Forget the entry for a key (the object changed or is gone). */
  async invalidate(key: string): Promise<void> {
    const entry = this.lookup(key)
    if (entry) await this.remove(entry.name)
  }

  async clear(): Promise<number> {
    const all = [...this.entries.values()]
    for (const entry of all) await this.drop(entry)
    await this.saveIndex()
    return all.length
  }

  /** Write the index atomically, one write at a time, each with the state at its turn. */
  saveIndex(): Promise<void> {
    if (!this.enabledFlag) return Promise.resolve()
    this.indexWrite = this.indexWrite.then(async () => {
      const data: IndexFile = { version: 1, entries: this.list() }
      const temp = join(this.dir, `${TEMP_PREFIX}index-${randomBytes(6).toString('hex')}`)
      try {
        const handle = await open(temp, 'w', 0o600)
        try {
          await handle.writeFile(JSON.stringify(data, null, 1))
          await handle.sync()
        } finally {
          await handle.close()
        }
        await rename(temp, join(this.dir, INDEX_FILE))
      } catch (err) {
        await unlink(temp).catch(() => undefined)
        this.log.warn({ err }, 'cache index write failed')
      }
    })
    return this.indexWrite
  }

  /** Stop timers, remove temporary files of writes still running, save the index. */
  async close(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer)
    this.touchTimer = undefined
    for (const temp of this.pendingTemps) await unlink(temp).catch(() => undefined)
    await this.saveIndex()
  }
}
