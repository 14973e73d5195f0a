// An object's metadata on the wire: ETags, SSE and user headers, read and write preconditions,
// ranges and copy sources, shared by the object, multipart and listing operations.
import { createHash, randomBytes, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { AwsError } from '../core/types.js'
import { headerFor, type Checksummer } from './checksums.js'
import { s3Errors } from './errors.js'
import type { BucketRecord, ObjectHeaders, ObjectMeta } from './model.js'
import type { SseRecord, SseRequest } from './sse.js'

export function quoteEtag(hex: string): string {
  return `"${hex}"`
}

/** SSE-KMS objects' ETags are "not an MD5 digest of their object data" (S3 API, Object): derived from it with a random salt, stable once stored. */
export function etagFor(md5Hex: string, sse: SseRecord): string {
  if (sse.algorithm !== 'aws:kms') return quoteEtag(md5Hex)
  return quoteEtag(createHash('md5').update(md5Hex).update(randomBytes(16)).digest('hex'))
}

export function unquote(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '')
}

/** What SSE a write asks for: request headers first, then the bucket default, then SSE-S3. */
export function sseRequest(headers: Record<string, string>, bucket: BucketRecord): SseRequest {
  const algorithm = headers['x-amz-server-side-encryption']
  const keyId = headers['x-amz-server-side-encryption-aws-kms-key-id']
  const bucketKeyHeader = headers['x-amz-server-side-encryption-bucket-key-enabled']
  const context = headers['x-amz-server-side-encryption-context']
  if (algorithm === undefined) {
    if (keyId || context)
      throw s3Errors.invalidArgument(
        'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms',
        'x-amz-server-side-encryption',
        'null',
      )
    const d = bucket.encryption
    if (d?.algorithm === 'aws:kms') {
      return { algorithm: 'aws:kms', kmsKeyId: d.kmsKeyId, bucketKeyEnabled: bucketKeyHeader !== undefined ? bucketKeyHeader === 'true' : d.bucketKeyEnabled }
    }
    return { algorithm: 'AES256', bucketKeyEnabled: false }
  }
  if (algorithm === 'AES256') {
    if (keyId) throw s3Errors.invalidArgument('Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms', 'x-amz-server-side-encryption', algorithm)
    return { algorithm: 'AES256', bucketKeyEnabled: false }
  }
  if (algorithm === 'aws:kms') {
    const d = bucket.encryption
    const bucketKeyEnabled = bucketKeyHeader !== undefined ? bucketKeyHeader === 'true' : d?.algorithm === 'aws:kms' ? d.bucketKeyEnabled : false
    // "If you specify aws:kms but no key id, Amazon S3 uses the AWS managed key (aws/s3)" — even when the bucket default names one.
    return { algorithm: 'aws:kms', kmsKeyId: keyId || undefined, bucketKeyEnabled, callerContext: context }
  }
  throw s3Errors.invalidArgument('The encryption method specified is not supported', 'x-amz-server-side-encryption', algorithm)
}

export function sseHeaders(sse: SseRecord): Record<string, string | undefined> {
  return {
    'x-amz-server-side-encryption': sse.algorithm,
    'x-amz-server-side-encryption-aws-kms-key-id': sse.kmsKeyArn,
    'x-amz-server-side-encryption-bucket-key-enabled': sse.bucketKeyEnabled ? 'true' : undefined,
    'x-amz-server-side-encryption-context': sse.callerContext,
  }
}

export function objectHeadersFrom(headers: Record<string, string>): ObjectHeaders {
  const userMetadata = Object.create(null) as Record<string, string>
  for (const [name, value] of Object.entries(headers)) if (name.startsWith('x-amz-meta-')) userMetadata[name.slice(11)] = value
  return {
    contentType: headers['content-type'] ?? 'application/octet-stream',
    contentEncoding: stripAwsChunked(headers['content-encoding']),
    contentDisposition: headers['content-disposition'],
    contentLanguage: headers['content-language'],
    cacheControl: headers['cache-control'],
    expires: headers['expires'],
    userMetadata,
    tags: headers['x-amz-tagging'] ? Object.fromEntries(new URLSearchParams(headers['x-amz-tagging'])) : undefined,
  }
}

export function describeHeaders(meta: ObjectMeta, query: Record<string, string> = {}): Record<string, string | number | undefined> {
  const out: Record<string, string | number | undefined> = {
    'last-modified': new Date(meta.lastModified).toUTCString(),
    'etag': meta.etag,
    'content-type': query['response-content-type'] ?? meta.contentType,
    'content-encoding': query['response-content-encoding'] ?? meta.contentEncoding,
    'content-disposition': query['response-content-disposition'] ?? meta.contentDisposition,
    'content-language': query['response-content-language'] ?? meta.contentLanguage,
    'cache-control': query['response-cache-control'] ?? meta.cacheControl,
    'expires': query['response-expires'] ?? meta.expires,
    'accept-ranges': 'bytes',
    ...sseHeaders(meta.sse),
  }
  if (meta.partsCount) out['x-amz-mp-parts-count'] = meta.partsCount
  for (const [k, v] of Object.entries(meta.userMetadata)) out[`x-amz-meta-${k}`] = v
  return out
}

export function checksumHeaders(meta: ObjectMeta, headers: Record<string, string>): Record<string, string | undefined> {
  if (!meta.checksum || (headers['x-amz-checksum-mode'] ?? '').toUpperCase() !== 'ENABLED') return {}
  return { [headerFor(meta.checksum.algorithm)]: meta.checksum.value, 'x-amz-checksum-type': meta.checksum.type }
}

/** If-Match / If-None-Match / If-(Un)Modified-Since on reads, as RFC 7232 orders them. */
export function readPreconditions(meta: ObjectMeta, headers: Record<string, string>): 304 | undefined {
  const etag = unquote(meta.etag)
  const modified = Math.floor(meta.lastModified / 1000) * 1000
  const ifMatch = headers['if-match']
  if (ifMatch !== undefined) {
    const tags = ifMatch.split(',').map(unquote)
    if (!tags.includes('*') && !tags.includes(etag)) throw s3Errors.preconditionFailed('If-Match')
  } else if (headers['if-unmodified-since'] !== undefined) {
    const t = Date.parse(headers['if-unmodified-since'])
    if (!Number.isNaN(t) && modified > t) throw s3Errors.preconditionFailed('If-Unmodified-Since')
  }
  const ifNoneMatch = headers['if-none-match']
  if (ifNoneMatch !== undefined) {
    const tags = ifNoneMatch.split(',').map(unquote)
    if (tags.includes('*') || tags.includes(etag)) return 304
  } else if (headers['if-modified-since'] !== undefined) {
    const t = Date.parse(headers['if-modified-since'])
    if (!Number.isNaN(t) && modified <= t) return 304
  }
  return undefined
}

/** Conditional writes: If-None-Match: * (create only) and If-Match: ETag. */
export function writePreconditions(existing: ObjectMeta | undefined, headers: Record<string, string>, key: string): void {
  const ifNoneMatch = headers['if-none-match']
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new AwsError('NotImplemented', 'A header you provided implies functionality that is not implemented', 501, { Header: 'If-None-Match' })
    if (existing) throw s3Errors.preconditionFailed('If-None-Match')
  }
  const ifMatch = headers['if-match']
  if (ifMatch !== undefined) {
    if (!existing) throw s3Errors.noSuchKey(key)
    if (unquote(ifMatch) !== unquote(existing.etag)) throw s3Errors.preconditionFailed('If-Match')
  }
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined when absent or not a single byte range (served whole, as S3 does). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined
  let start: number
  let end: number
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0) throw s3Errors.invalidRange(header, size)
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(m[1])
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
    if (m[2] !== '' && Number(m[2]) < start) return undefined
  }
  if (start >= size || size === 0) throw s3Errors.invalidRange(header, size)
  return { start, end }
}

export function copySource(header: string | undefined): { bucket: string; key: string } {
  if (!header) throw s3Errors.invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source', '')
  const raw = header.split('?')[0]
  const decoded = decodeURIComponent(raw.startsWith('/') ? raw.slice(1) : raw)
  const slash = decoded.indexOf('/')
  if (slash <= 0 || slash === decoded.length - 1) throw s3Errors.invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source', header)
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) }
}

export function copyPreconditions(meta: ObjectMeta, headers: Record<string, string>): void {
  const etag = unquote(meta.etag)
  const m = headers['x-amz-copy-source-if-match']
  if (m !== undefined && !m.split(',').map(unquote).includes(etag)) throw s3Errors.preconditionFailed('x-amz-copy-source-If-Match')
  const n = headers['x-amz-copy-source-if-none-match']
  if (n !== undefined && n.split(',').map(unquote).includes(etag)) throw s3Errors.preconditionFailed('x-amz-copy-source-If-None-Match')
}

/** A pass-through feeding a copied body to the MD5 of its ETag and to its checksum. */
export function digestOf(md5: Hash, checksummer: Checksummer | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, done: TransformCallback) {
      md5.update(chunk)
      checksummer?.update(chunk)
      done(null, chunk)
    },
  })
}

export function pickHeaders(m: ObjectMeta): ObjectHeaders {
  return {
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
    contentDisposition: m.contentDisposition,
    contentLanguage: m.contentLanguage,
    cacheControl: m.cacheControl,
    expires: m.expires,
    userMetadata: { ...m.userMetadata },
    tags: m.tags ? { ...m.tags } : undefined,
  }
}

/** aws-chunked is transport framing, not the object's content encoding. */
function stripAwsChunked(value: string | undefined): string | undefined {
  if (!value) return undefined
  const rest = value.split(',').map((s) => s.trim()).filter((s) => s && s.toLowerCase() !== 'aws-chunked')
  return rest.length ? rest.join(',') : undefined
}
