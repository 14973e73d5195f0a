// The local file cache: `localfile-*` files in CACHE_DIR (0700, files 0600), an index mapping each
// file to its object key, ETag and inode, names reserved before any write, atomic writes
// (temporary file, fsync, rename), LRU eviction, and no temporary file left on any exit.
import { createWriteStream, unlinkSync, type WriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import { chmod, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { cacheFileName, CACHE_FILE_PREFIX, isCacheFileName } from './cache-names.js'

export const INDEX_FILE = 'cache-index.json'
/** The largest entry also kept in memory (see FileCache's memoryMaxBytes). */
export const MEMORY_ITEM_MAX_BYTES = 64 * 1024
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
  /** The file's inode when written: a file that is not this one is never served for this entry. */
  ino?: number
}

// Temporary files of every cache in this process, removed synchronously however the process exits.
const liveTemps = new Set<string>()
let exitHookInstalled = false
function trackTemp(path: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const temp of liveTemps) {
        try {
          unlinkSync(temp)
        } catch {
          // already gone
        }
      }
    })
  }
  liveTemps.add(path)
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

/**
 * A write in progress under a reserved name: feed `stream` (sequential) or write to `handle`
 * (positional), then `commit()` or `abort()`. With `keepOpen` the caller closes `handle`.
 */
export interface CacheWriter {
  /** The `localfile-…` name reserved for this write: no other key can take it meanwhile. */
  name: string
  handle: FileHandle
  readonly stream: WriteStream
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
  // Names taken by writes in progress (file name → object key), reserved synchronously.
  private reserved = new Map<string, string>()
  private closed = false
  // Small entries' bytes, least recently served first: a hit on one touches no file. Dropped with the entry.
  private memory = new Map<CacheEntry, Buffer>()
  private memoryBytes = 0

  /**
   * @param memoryMaxBytes bytes of small entries (up to MEMORY_ITEM_MAX_BYTES each) also kept in memory; 0: none
   */
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly log: CacheLogger,
    readonly memoryMaxBytes = 0,
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
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      // Other local users must not list or read what was downloaded, whatever the folder was before.
      await chmod(this.dir, 0o700)
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
      if (!info || info.size !== entry.size || (entry.ino !== undefined && info.ino !== entry.ino)) continue
      if ((info.mode & 0o777) !== 0o600) await chmod(join(this.dir, entry.name), 0o600).catch(() => undefined)
      entry.ino = info.ino
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

  /** The entry for `key`, only if the entry under that name is this key's. */
  lookup(key: string): CacheEntry | undefined {
    const name = this.byKey.get(key)
    const entry = name === undefined ? undefined : this.entries.get(name)
    return entry && entry.key === key ? entry : undefined
  }

  /** Whether an opened file is the one written for `entry` (same inode and size), so never another object's bytes. */
  async matches(entry: CacheEntry, handle: FileHandle): Promise<boolean> {
    const info = await handle.stat()
    return info.size === entry.size && (entry.ino === undefined || info.ino === entry.ino) && this.entries.get(entry.name) === entry
  }

  /** The bytes of a current entry kept in memory, if any. */
  inMemory(entry: CacheEntry): Buffer | undefined {
    const bytes = this.memory.get(entry)
    if (!bytes) return undefined
    if (this.entries.get(entry.name) !== entry) {
      this.forgetBytes(entry)
      return undefined
    }
    // Most recently served last.
    this.memory.delete(entry)
    this.memory.set(entry, bytes)
    return bytes
  }

  /** Keep a current small entry's bytes (read from its verified file) in memory, evicting the least recently served. */
  keepInMemory(entry: CacheEntry, bytes: Buffer): void {
    if (bytes.length > MEMORY_ITEM_MAX_BYTES || bytes.length > this.memoryMaxBytes || bytes.length !== entry.size) return
    if (this.entries.get(entry.name) !== entry || this.memory.has(entry)) return
    for (const [old] of this.memory) {
      if (this.memoryBytes + bytes.length <= this.memoryMaxBytes) break
      this.forgetBytes(old)
    }
    this.memory.set(entry, bytes)
    this.memoryBytes += bytes.length
  }

  private forgetBytes(entry: CacheEntry): void {
    const bytes = this.memory.get(entry)
    if (!bytes) return
    this.memory.delete(entry)
    this.memoryBytes -= bytes.length
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

  /**
   * Reserve the name a new entry for `key` gets — its current one, else the first form no other
   * key holds or has reserved — synchronously, so two writes can never pick the same file.
   */
  private reserveName(key: string): string {
    const current = this.lookup(key)?.name
    for (let attempt = 0; ; attempt++) {
      const name = current && attempt === 0 ? current : cacheFileName(key, attempt)
      const holder = this.entries.get(name)?.key ?? this.reserved.get(name)
      if (holder === undefined || (holder === key && !this.reserved.has(name))) {
        this.reserved.set(name, key)
        return name
      }
    }
  }

  /** Create a temporary file (0600, never followed through a link) and remember it for cleanup. */
  private async createTemp(flags: string): Promise<{ temp: string; handle: FileHandle }> {
    const temp = join(this.dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`)
    const handle = await open(temp, flags, 0o600)
    this.pendingTemps.add(temp)
    trackTemp(temp)
    return { temp, handle }
  }

  private forgetTemp(temp: string): void {
    this.pendingTemps.delete(temp)
    liveTemps.delete(temp)
  }

  /**
   * A file for bytes that are never cached (a range, an object larger than the cache): created
   * and unlinked at once, so it vanishes when closed, even after a crash. Undefined when the cache is off.
   */
  async anonymousFile(): Promise<FileHandle | undefined> {
    if (!this.enabledFlag || this.closed) return undefined
    try {
      const { temp, handle } = await this.createTemp('wx+')
      await unlink(temp)
      this.forgetTemp(temp)
      return handle
    } catch (err) {
      this.log.warn({ err, cacheDir: this.dir }, 'cannot create a spool file')
      return undefined
    }
  }

  /** Start writing an entry; undefined when the cache is off or the object could never fit. */
  async beginWrite(meta: CacheWriteMeta, options: { keepOpen?: boolean } = {}): Promise<CacheWriter | undefined> {
    if (!this.enabledFlag || this.closed || meta.expectedSize > this.maxBytes) return undefined
    const name = this.reserveName(meta.key)
    let temp: string
    let handle: FileHandle
    try {
      ;({ temp, handle } = await this.createTemp('wx+'))
    } catch (err) {
      this.reserved.delete(name)
      this.log.warn({ err, cacheDir: this.dir }, 'cannot create a cache file: streaming without caching')
      return undefined
    }
    let settled = false
    let stream: WriteStream | undefined
    const closeIfOwned = async (): Promise<void> => {
      if (stream && !stream.closed) {
        stream.destroy()
        await finished(stream).catch(() => undefined)
      }
      if (!options.keepOpen) await handle.close().catch(() => undefined)
    }
    const discard = async (): Promise<void> => {
      this.reserved.delete(name)
      await closeIfOwned()
      await unlink(temp).catch(() => undefined)
      this.forgetTemp(temp)
    }

    return {
      name,
      handle,
      get stream() {
        // Sequential writes through the same descriptor, for callers that prefer a stream.
        stream ??= createWriteStream('', { fd: handle.fd, autoClose: false })
        return stream
      },
      commit: async () => {
        if (settled) return undefined
        settled = true
        try {
          if (stream) {
            stream.end()
            await finished(stream)
          }
          // The data is on disk before the name is: a renamed file is a durable one.
          await handle.sync()
          const info = await handle.stat()
          if (info.size !== meta.expectedSize) {
            this.log.warn({ key: meta.key, written: info.size, expected: meta.expectedSize }, 'transfer size mismatch: not cached')
            await discard()
            return undefined
          }
          if (this.closed) throw new Error('the cache is closing')
          await rename(temp, join(this.dir, name))
          // From the rename to the new entry nothing awaits: no other change can slip in between.
          this.forgetTemp(temp)
          this.reserved.delete(name)
          const previous = this.lookup(meta.key)
          if (previous && previous.name !== name) void this.drop(previous)
          const entry: CacheEntry = {
            name,
            key: meta.key,
            size: info.size,
            etag: meta.etag,
            contentType: meta.contentType,
            ...(meta.lastModified ? { lastModified: meta.lastModified } : {}),
            cachedAt: new Date().toISOString(),
            lastAccess: Date.now(),
            ino: info.ino,
          }
          this.entries.set(name, entry)
          this.byKey.set(meta.key, name)
          if (!options.keepOpen) await handle.close().catch(() => undefined)
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
    // A newer entry under the same name (rewritten meanwhile) is not this one's to remove.
    if (this.entries.get(entry.name) !== entry) return
    this.entries.delete(entry.name)
    this.forgetBytes(entry)
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

  /** Remove this entry, unless a newer one has replaced it meanwhile. */
  async discard(entry: CacheEntry): Promise<void> {
    if (this.entries.get(entry.name) !== entry) return
    await this.drop(entry)
    await this.saveIndex()
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

  /** Stop timers, refuse new writes, remove temporary files of writes still running, save the index. */
  async close(): Promise<void> {
    this.closed = true
    if (this.touchTimer) clearTimeout(this.touchTimer)
    this.touchTimer = undefined
    for (const temp of [...this.pendingTemps]) {
      await unlink(temp).catch(() => undefined)
      this.forgetTemp(temp)
    }
    await this.saveIndex()
  }
}
