// Streaming checksums S3 accepts (x-amz-checksum-*), computed as bytes arrive so bodies stay streams.
import { createHash, type Hash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { Crc32c } from '@aws-crypto/crc32c'

export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'] as const
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number]

export interface Checksummer {
  update(chunk: Buffer): void
  /** Base64 of the big-endian digest, as S3 headers carry it. */
  digest(): string
}

/** `x-amz-checksum-crc32` → `CRC32`; undefined for other headers. */
export function algorithmFromHeader(header: string): ChecksumAlgorithm | undefined {
  const m = /^x-amz-checksum-(crc32|crc32c|sha1|sha256|crc64nvme)$/i.exec(header)
  return m ? (m[1].toUpperCase() as ChecksumAlgorithm) : undefined
}

export function headerFor(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`
}

export function isChecksumAlgorithm(value: string | undefined): value is ChecksumAlgorithm {
  return value !== undefined && (CHECKSUM_ALGORITHMS as readonly string[]).includes(value.toUpperCase())
}

function u32(value: number): string {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(value >>> 0)
  return b.toString('base64')
}

class Crc32Checksummer implements Checksummer {
  private value = 0
  update(chunk: Buffer): void { this.value = crc32(chunk, this.value) }
  digest(): string { return u32(this.value) }
}

class Crc32cChecksummer implements Checksummer {
  private readonly crc = new Crc32c()
  update(chunk: Buffer): void { this.crc.update(chunk) }
  digest(): string { return u32(this.crc.digest()) }
}

class HashChecksummer implements Checksummer {
  private readonly hash: Hash
  constructor(name: string) { this.hash = createHash(name) }
  update(chunk: Buffer): void { this.hash.update(chunk) }
  digest(): string { return this.hash.digest('base64') }
}

// CRC-64/NVME (reflected, poly 0x9a6c9329ac4bc9b5): split into two 32-bit halves to avoid BigInt per byte.
const CRC64_TABLE_HI = new Uint32Array(256)
const CRC64_TABLE_LO = new Uint32Array(256)
{
  const poly = 0x9a6c9329ac4bc9b5n
  for (let i = 0; i < 256; i++) {
    let c = BigInt(i)
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n
    CRC64_TABLE_HI[i] = Number(c >> 32n)
    CRC64_TABLE_LO[i] = Number(c & 0xffffffffn)
  }
}

class Crc64NvmeChecksummer implements Checksummer {
  private hi = 0xffffffff
  private lo = 0xffffffff
  update(chunk: Buffer): void {
    let hi = this.hi
    let lo = this.lo
    for (let i = 0; i < chunk.length; i++) {
      const idx = (lo ^ chunk[i]) & 0xff
      // crc = table[idx] ^ (crc >> 8), on the 64-bit value held as hi:lo
      const nlo = ((lo >>> 8) | ((hi & 0xff) << 24)) >>> 0
      const nhi = hi >>> 8
      lo = (nlo ^ CRC64_TABLE_LO[idx]) >>> 0
      hi = (nhi ^ CRC64_TABLE_HI[idx]) >>> 0
    }
    this.hi = hi
    this.lo = lo
  }

  digest(): string {
    const b = Buffer.alloc(8)
    b.writeUInt32BE((this.hi ^ 0xffffffff) >>> 0, 0)
    b.writeUInt32BE((this.lo ^ 0xffffffff) >>> 0, 4)
    return b.toString('base64')
  }
}

export function createChecksummer(algorithm: ChecksumAlgorithm): Checksummer {
  switch (algorithm) {
    case 'CRC32': return new Crc32Checksummer()
    case 'CRC32C': return new Crc32cChecksummer()
    case 'SHA1': return new HashChecksummer('sha1')
    case 'SHA256': return new HashChecksummer('sha256')
    case 'CRC64NVME': return new Crc64NvmeChecksummer()
  }
}

/** One-shot checksum of a buffer (for tests and composite multipart checksums). */
export function checksumOf(algorithm: ChecksumAlgorithm, data: Buffer): string {
  const c = createChecksummer(algorithm)
  c.update(data)
  return c.digest()
}

/** Multipart "composite" checksum: the checksum of the concatenated binary part checksums, with `-N`. */
export function compositeChecksum(algorithm: ChecksumAlgorithm, partChecksums: string[]): string {
  const c = createChecksummer(algorithm)
  for (const p of partChecksums) c.update(Buffer.from(p, 'base64'))
  return `${c.digest()}-${partChecksums.length}`
}

const CRC_POLY: Partial<Record<ChecksumAlgorithm, { poly: bigint; width: number }>> = {
  CRC32: { poly: 0xedb88320n, width: 32 },
  CRC32C: { poly: 0x82f63b78n, width: 32 },
  CRC64NVME: { poly: 0x9a6c9329ac4bc9b5n, width: 64 },
}

/** Whether parts' checksums can be combined into the whole object's (FULL_OBJECT multipart checksums). */
export function isCrc(algorithm: ChecksumAlgorithm): boolean {
  return CRC_POLY[algorithm] !== undefined
}

function gf2Times(mat: bigint[], vec: bigint): bigint {
  let sum = 0n
  for (let i = 0; vec; i++, vec >>= 1n) if (vec & 1n) sum ^= mat[i]
  return sum
}

function gf2Square(mat: bigint[]): bigint[] {
  return mat.map((row) => gf2Times(mat, row))
}

/** crc(A ‖ B) from crc(A), crc(B) and len(B), as zlib's crc32_combine (GF(2) matrices), for any reflected CRC. */
function crcCombine(algorithm: ChecksumAlgorithm, crcA: bigint, crcB: bigint, lengthB: number): bigint {
  const spec = CRC_POLY[algorithm]!
  if (lengthB === 0) return crcA
  // The operator for one zero bit, then squared to two and four zero bits.
  let odd: bigint[] = [spec.poly]
  for (let n = 1; n < spec.width; n++) odd.push(1n << BigInt(n - 1))
  let even = gf2Square(odd)
  odd = gf2Square(even)
  let len = BigInt(lengthB)
  let crc = crcA
  for (;;) {
    even = gf2Square(odd)
    if (len & 1n) crc = gf2Times(even, crc)
    len >>= 1n
    if (!len) break
    odd = gf2Square(even)
    if (len & 1n) crc = gf2Times(odd, crc)
    len >>= 1n
    if (!len) break
  }
  return crc ^ crcB
}

function toBig(b64: string): bigint {
  return BigInt(`0x${Buffer.from(b64, 'base64').toString('hex') || '0'}`)
}

function fromBig(value: bigint, width: number): string {
  return Buffer.from(value.toString(16).padStart(width / 4, '0'), 'hex').toString('base64')
}

/** The whole object's CRC from its parts' CRCs and sizes (multipart uploads with checksum type FULL_OBJECT). */
export function fullObjectChecksum(algorithm: ChecksumAlgorithm, parts: Array<{ checksum: string; size: number }>): string {
  const spec = CRC_POLY[algorithm]
  if (!spec) throw new Error(`${algorithm} cannot be combined`)
  let crc: bigint | undefined
  for (const p of parts) crc = crc === undefined ? toBig(p.checksum) : crcCombine(algorithm, crc, toBig(p.checksum), p.size)
  return fromBig(crc ?? toBig(checksumOf(algorithm, Buffer.alloc(0))), spec.width)
}
