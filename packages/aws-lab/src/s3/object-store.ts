// Encrypted, streaming object files: AES-256-GCM in fixed-size segments (own nonce and tag each), so a
// range decrypts only the segments it touches; written to a temporary file, fsynced, renamed on success.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs'
import { writeFileAtomic } from '../core/store.js'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { createReadStream, createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'

export const SEGMENT_SIZE = 64 * 1024
const TAG = 16

/** One encrypted file holding a byte sequence (a whole object, or one part of a multipart object). */
export interface BlobRef {
  /** Path relative to the S3 data folder. */
  file: string
  /** Plaintext size. */
  size: number
  /** 8 random bytes (base64); segment nonce = prefix ‖ uint32 segment index. */
  noncePrefix: string
}

function nonce(prefix: Buffer, index: number): Buffer {
  const n = Buffer.alloc(12)
  prefix.copy(n, 0, 0, 8)
  n.writeUInt32BE(index, 8)
  return n
}

function aad(index: number, last: boolean): Buffer {
  const a = Buffer.alloc(5)
  a.writeUInt32BE(index, 0)
  a[4] = last ? 1 : 0
  return a
}

/** Encrypts its input into segments; the last segment is flagged in its AAD so truncation is detected. */
export class SegmentEncryptor extends Transform {
  size = 0
  /** The latest bytes not yet sealed (at most one segment): sealed as the last unless more bytes follow. */
  private pending: Buffer | undefined
  /** Where a segment that straddles chunks is gathered: one buffer reused, not one allocated per segment. */
  private readonly stage = Buffer.allocUnsafe(SEGMENT_SIZE)
  private index = 0
  constructor(private readonly key: Buffer, private readonly prefix: Buffer) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length
    let data = chunk
    if (this.pending) {
      if (this.pending.length < SEGMENT_SIZE) {
        // Only a segment that straddles chunks is copied (into the stage); the rest is sealed from views of the chunk.
        const have = this.pending.length
        if (this.pending.buffer !== this.stage.buffer) this.pending.copy(this.stage, 0)
        const taken = data.copy(this.stage, have, 0, SEGMENT_SIZE - have)
        this.pending = this.stage.subarray(0, have + taken)
        data = data.subarray(taken)
      }
      if (data.length === 0) return done()
      this.seal(this.pending, false)
      this.pending = undefined
    }
    while (data.length > SEGMENT_SIZE) {
      this.seal(data.subarray(0, SEGMENT_SIZE), false)
      data = data.subarray(SEGMENT_SIZE)
    }
    if (data.length > 0) this.pending = data
    done()
  }

  override _flush(done: TransformCallback): void {
    if (this.pending) this.seal(this.pending, true)
    this.pending = undefined
    done()
  }

  /** Pushes ciphertext then tag as they come (no concatenation: the file stream writes them together). */
  private seal(plain: Buffer, last: boolean): void {
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce(this.prefix, this.index))
    cipher.setAAD(aad(this.index, last))
    this.index++
    this.push(cipher.update(plain))
    cipher.final() // GCM has no buffered block: final() yields no bytes
    this.push(cipher.getAuthTag())
  }
}

export interface TempBlob {
  tempPath: string
  size: number
  noncePrefix: string
}

/** Streams `source` encrypted into a temporary file beside `finalPath` and fsyncs it; the caller commits or discards. */
export async function writeEncryptedTemp(source: Readable, key: Buffer, finalPath: string, transforms: Transform[] = []): Promise<TempBlob> {
  mkdirSync(dirname(finalPath), { recursive: true })
  const prefix = randomBytes(8)
  const tempPath = `${finalPath}.tmp-${randomBytes(6).toString('hex')}`
  const encryptor = new SegmentEncryptor(key, prefix)
  try {
    await pipeline([source, ...transforms, encryptor, createWriteStream(tempPath, { flags: 'wx', highWaterMark: 256 * 1024 })])
    const handle = await open(tempPath, 'r+')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch (err) {
    rmSync(tempPath, { force: true })
    throw err
  }
  return { tempPath, size: encryptor.size, noncePrefix: prefix.toString('base64') }
}

export function commitTemp(tempPath: string, finalPath: string): void {
  renameSync(tempPath, finalPath)
  fsyncDir(dirname(finalPath))
}

export function discardTemp(tempPath: string): void {
  rmSync(tempPath, { force: true })
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // Some filesystems refuse directory fsync; the rename is still atomic.
  }
}

/** Writes JSON atomically (temporary file, fsync, rename) with the core's writer. */
export function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileAtomic(path, JSON.stringify(value))
}

/** Sealed segments read from the file per read: fewer reads and callbacks than one per segment. */
const READ_SEGMENTS = 16

/**
 * Decrypts plaintext bytes [start, end] (inclusive) of one blob, reading only the segments they touch,
 * READ_SEGMENTS at a time; each segment is opened from a view of the chunk read (no copy unless a
 * segment straddles two reads) and yielded as GCM's output (no copy).
 */
export async function* decryptRange(absPath: string, key: Buffer, blob: BlobRef, start: number, end: number): AsyncGenerator<Buffer> {
  if (blob.size === 0 || end < start) return
  const prefix = Buffer.from(blob.noncePrefix, 'base64')
  const lastIndex = Math.ceil(blob.size / SEGMENT_SIZE) - 1
  const first = Math.floor(start / SEGMENT_SIZE)
  const last = Math.floor(end / SEGMENT_SIZE)
  const stride = SEGMENT_SIZE + TAG
  const fileEnd = blob.size + (lastIndex + 1) * TAG
  const stream = createReadStream(absPath, { start: first * stride, end: Math.min(fileEnd, (last + 1) * stride) - 1, highWaterMark: READ_SEGMENTS * stride })
  let index = first
  const open = (sealed: Buffer): Buffer => {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce(prefix, index))
    decipher.setAAD(aad(index, index === lastIndex))
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG))
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG))
    decipher.final() // verifies the tag; GCM holds back no bytes, so it returns none
    const segStart = index * SEGMENT_SIZE
    index++
    const from = Math.max(0, start - segStart)
    const to = Math.min(plain.length, end - segStart + 1)
    return from === 0 && to === plain.length ? plain : plain.subarray(from, to)
  }
  let carry: Buffer | undefined
  for await (const read of stream as AsyncIterable<Buffer>) {
    const chunk = carry ? Buffer.concat([carry, read]) : read
    carry = undefined
    let offset = 0
    while (index <= last) {
      const want = index === lastIndex ? blob.size - lastIndex * SEGMENT_SIZE + TAG : stride
      if (chunk.length - offset < want) break
      yield open(chunk.subarray(offset, offset + want))
      offset += want
    }
    if (offset < chunk.length) carry = chunk.subarray(offset)
  }
  if (index <= last) throw new Error('encrypted object file is truncated')
}

/** A readable of plaintext bytes [start, end] across a sequence of blobs (the parts of an object). */
export function readPlaintext(root: string, key: Buffer, blobs: BlobRef[], start: number, end: number): Readable {
  async function* all(): AsyncGenerator<Buffer> {
    let offset = 0
    for (const blob of blobs) {
      const blobStart = offset
      const blobEnd = offset + blob.size - 1
      offset += blob.size
      if (blob.size === 0 || blobEnd < start || blobStart > end) continue
      yield* decryptRange(`${root}/${blob.file}`, key, blob, Math.max(start, blobStart) - blobStart, Math.min(end, blobEnd) - blobStart)
    }
  }
  // Up to 1 MiB decrypted ahead while the client's socket drains the previous bytes.
  return Readable.from(all(), { objectMode: false, highWaterMark: 1024 * 1024 })
}

/** AES-256-GCM key wrap for small secrets (object keys under a bucket key or the lab's SSE-S3 key): iv ‖ tag ‖ ciphertext. */
export function wrapKey(kek: Buffer, key: Buffer, context: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', kek, iv)
  cipher.setAAD(Buffer.from(context, 'utf8'))
  const ct = Buffer.concat([cipher.update(key), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')
}

export function unwrapKey(kek: Buffer, wrapped: string, context: string): Buffer {
  const raw = Buffer.from(wrapped, 'base64')
  const decipher = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, 12))
  decipher.setAAD(Buffer.from(context, 'utf8'))
  decipher.setAuthTag(raw.subarray(12, 28))
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()])
}
