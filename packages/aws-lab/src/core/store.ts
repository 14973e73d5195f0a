// The lab's persistent state: one JSON file per section, each write atomic (temp file, fsync, rename).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { StateStore } from './types.js'

const SECTION_NAME = /^[a-z0-9][a-z0-9-]*$/

/**
 * State objects are keyed by what callers chose (bucket, user, role, policy names): without a prototype,
 * `constructor` finds nothing and `__proto__` is an ordinary key. Arrays stay arrays.
 */
function dictionaries(_key: string, value: unknown): unknown {
  return value && typeof value === 'object' && !Array.isArray(value) ? Object.assign(Object.create(null), value) : value
}

function dictionariesOf<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), dictionaries) as T
}

export class FileStateStore implements StateStore {
  readonly stateDir: string
  private readonly sections = new Map<string, object>()

  constructor(readonly dataDir: string) {
    this.stateDir = join(dataDir, 'state')
    mkdirSync(this.stateDir, { recursive: true })
  }

  section<T extends object>(name: string, init: () => T): T {
    if (!SECTION_NAME.test(name)) throw new Error(`bad state section name: ${name}`)
    let value = this.sections.get(name)
    if (!value) {
      const file = join(this.stateDir, `${name}.json`)
      value = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8'), dictionaries) as T) : dictionariesOf(init())
      this.sections.set(name, value)
    }
    return value as T
  }

  /** A section if it was ever created, without creating it (so its owner's `init` still runs). */
  peek<T extends object>(name: string): T | undefined {
    if (this.sections.has(name) || existsSync(join(this.stateDir, `${name}.json`))) return this.section<T>(name, () => ({}) as T)
    return undefined
  }

  save(name: string): void {
    const value = this.sections.get(name)
    if (!value) return
    writeFileAtomic(join(this.stateDir, `${name}.json`), JSON.stringify(value))
  }

  saveAll(): void {
    for (const name of this.sections.keys()) this.save(name)
  }
}

/** Write then rename, with fsyncs, so a crash leaves either the old or the new file, never a torn one. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  const fd = openSync(tmp, 'w', mode)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  // The rename itself is durable only once the directory entry is flushed.
  const dir = openSync(join(file, '..'), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}
