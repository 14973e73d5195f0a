// KMS cryptography for the lab: real AES-256-GCM over a versioned, length-prefixed blob whose
// header and canonical encryption context are both bound into the GCM tag.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/** The blob format version this lab writes (the first byte of every ciphertext blob). */
export const BLOB_VERSION = 0x01
export const IV_LENGTH = 12
export const TAG_LENGTH = 16
export const KEY_MATERIAL_LENGTH = 32

export type EncryptionContext = Record<string, string>

/**
 * Canonical encryption context: pair count, then the pairs sorted by key (UTF-8 byte order),
 * each key and value as a 4-byte big-endian length and its UTF-8 bytes. Length prefixes make
 * `{a: "bc"}` and `{ab: "c"}` encode differently, which naive concatenation would not.
 */
export function encodeEncryptionContext(context: EncryptionContext | undefined): Buffer {
  const pairs = Object.entries(context ?? {}).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const)
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]))
  const parts: Buffer[] = [u32(pairs.length)]
  for (const [k, v] of pairs) parts.push(u32(k.length), k, u32(v.length), v)
  return Buffer.concat(parts)
}

/** What a blob's header says: which key and which of its key materials encrypted it. */
export interface BlobHeader {
  version: number
  keyId: string
  materialVersion: number
}

export interface ParsedBlob extends BlobHeader {
  /** The header bytes exactly as they appear in the blob (they are part of the AAD). */
  header: Buffer
  iv: Buffer
  ciphertext: Buffer
  tag: Buffer
}

/** Header: version byte, key id as a 2-byte length + UTF-8, key-material version as 4 bytes. */
export function encodeHeader(keyId: string, materialVersion: number): Buffer {
  const id = Buffer.from(keyId, 'utf8')
  if (id.length > 0xffff) throw new RangeError('key id too long')
  return Buffer.concat([Buffer.from([BLOB_VERSION]), u16(id.length), id, u32(materialVersion)])
}

/** AAD = header ‖ canonical context, so neither the key reference nor the context can be swapped. */
export function additionalData(header: Buffer, context: EncryptionContext | undefined): Buffer {
  return Buffer.concat([header, encodeEncryptionContext(context)])
}

export function encryptBlob(opts: {
  keyId: string
  materialVersion: number
  material: Buffer
  plaintext: Buffer
  context?: EncryptionContext
  /** Only for golden vectors; production calls draw a fresh random IV. */
  iv?: Buffer
}): Buffer {
  const iv = opts.iv ?? randomBytes(IV_LENGTH)
  if (iv.length !== IV_LENGTH) throw new RangeError('IV must be 12 bytes')
  const header = encodeHeader(opts.keyId, opts.materialVersion)
  const cipher = createCipheriv('aes-256-gcm', opts.material, iv, { authTagLength: TAG_LENGTH })
  cipher.setAAD(additionalData(header, opts.context))
  const ciphertext = Buffer.concat([cipher.update(opts.plaintext), cipher.final()])
  return Buffer.concat([header, iv, ciphertext, cipher.getAuthTag()])
}

/** Parses a blob's structure; returns undefined for anything that is not one of ours. */
export function parseBlob(blob: Buffer): ParsedBlob | undefined {
  if (blob.length < 1 + 2 + 4 + IV_LENGTH + TAG_LENGTH) return undefined
  if (blob[0] !== BLOB_VERSION) return undefined
  const idLength = blob.readUInt16BE(1)
  const headerLength = 1 + 2 + idLength + 4
  if (blob.length < headerLength + IV_LENGTH + TAG_LENGTH) return undefined
  const keyIdBytes = blob.subarray(3, 3 + idLength)
  const keyId = keyIdBytes.toString('utf8')
  if (!Buffer.from(keyId, 'utf8').equals(keyIdBytes)) return undefined
  const materialVersion = blob.readUInt32BE(3 + idLength)
  const header = blob.subarray(0, headerLength)
  const iv = blob.subarray(headerLength, headerLength + IV_LENGTH)
  const ciphertext = blob.subarray(headerLength + IV_LENGTH, blob.length - TAG_LENGTH)
  const tag = blob.subarray(blob.length - TAG_LENGTH)
  return { version: BLOB_VERSION, keyId, materialVersion, header, iv, ciphertext, tag }
}

/** Decrypts a parsed blob; returns undefined when the tag does not verify (wrong material, context or tampering). */
export function decryptBlob(parsed: ParsedBlob, material: Buffer, context: EncryptionContext | undefined): Buffer | undefined {
  const decipher = createDecipheriv('aes-256-gcm', material, parsed.iv, { authTagLength: TAG_LENGTH })
  decipher.setAAD(additionalData(parsed.header, context))
  decipher.setAuthTag(parsed.tag)
  try {
    return Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()])
  } catch {
    return undefined
  }
}

export function newKeyMaterial(): Buffer {
  return randomBytes(KEY_MATERIAL_LENGTH)
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
