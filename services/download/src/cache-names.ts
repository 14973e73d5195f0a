// Cache file names: `localfile-<name>`, readable where possible, always one path segment
// under the file system's 255-byte name limit, whatever the object key.
import { hash } from 'node:crypto'
import { extname } from 'node:path'
import { replaceInvisible } from '@kms-share/shared'

export const CACHE_FILE_PREFIX = 'localfile-'
/** NAME_MAX on Linux file systems (ext4, xfs, tmpfs), counted in bytes. */
export const MAX_FILE_NAME_BYTES = 255
const HASH_CHARS = 12
// Bytes kept for `~` + hash, so a hashed name still fits.
const HASH_SUFFIX_BYTES = 1 + HASH_CHARS

/** Characters that cannot or should not appear in one path segment: `/`, `\`, NUL and other C0/C1 controls, line separators. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this removes
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029/\\]/g

export function keyHash(key: string): string {
  return hash('sha256', key, 'base64url').slice(0, HASH_CHARS)
}

/** Cut a string to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text
  let out = ''
  let used = 0
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8')
    if (used + size > maxBytes) break
    out += ch
    used += size
  }
  return out
}

/**
 * The cache file name for a key. The plain form `localfile-<key>` is used when the key is a
 * safe single segment that fits; otherwise (or when `forceHash`, after a collision) a
 * sanitised, truncated readable part plus a hash of the whole key, keeping the extension.
 * `attempt` > 0 forces the hashed form; each further attempt salts the hash (collisions).
 */
export function cacheFileName(key: string, attempt = 0): string {
  const plain = CACHE_FILE_PREFIX + key
  // Bidi controls and invisible characters would make a listing (ls, the cache page) show another name.
  const safe = !UNSAFE.test(key) && replaceInvisible(key) === key && key !== '' && key !== '.' && key !== '..'
  UNSAFE.lastIndex = 0
  if (attempt === 0 && safe && Buffer.byteLength(plain, 'utf8') <= MAX_FILE_NAME_BYTES) return plain

  const readable = replaceInvisible(key.normalize('NFC')).replace(UNSAFE, '_')
  let ext = extname(readable)
  // An extension is only worth keeping when it is short; otherwise it is part of the readable text.
  if (Buffer.byteLength(ext, 'utf8') > 16) ext = ''
  const stem = ext ? readable.slice(0, -ext.length) : readable
  const budget = MAX_FILE_NAME_BYTES - Buffer.byteLength(CACHE_FILE_PREFIX, 'utf8') - HASH_SUFFIX_BYTES - Buffer.byteLength(ext, 'utf8')
  // Later attempts (after a collision) salt the hash so each gives a new name.
  const hash = keyHash(attempt <= 1 ? key : `${attempt}\u0000${key}`)
  return `${CACHE_FILE_PREFIX}${truncateUtf8(stem, budget)}~${hash}${ext}`
}

/** Whether a name is one this cache could have written (guards DELETE /cache/:name against paths). */
export function isCacheFileName(name: string): boolean {
  return (
    name.startsWith(CACHE_FILE_PREFIX) &&
    !name.includes('/') &&
    !name.includes('\0') &&
    Buffer.byteLength(name, 'utf8') <= MAX_FILE_NAME_BYTES
  )
}
