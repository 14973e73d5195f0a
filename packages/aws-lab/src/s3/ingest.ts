// Takes a request body off the wire as S3 does: decodes aws-chunked (verifying chunk and trailer
// signatures), checks x-amz-content-sha256, Content-MD5 and x-amz-checksum-* (header or trailer),
// and streams the plaintext, encrypted, into a temporary file. Nothing is kept unless all checks pass.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
import { createHash, type Hash } from 'node:crypto'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import type { OperationContext } from '../core/types.js'
import { AwsChunkedDecoder } from './aws-chunked.js'
import { algorithmFromHeader, createChecksummer, headerFor, isChecksumAlgorithm, type ChecksumAlgorithm, type Checksummer } from './checksums.js'
import { s3Errors } from './errors.js'
import { discardTemp, writeEncryptedTemp, type TempBlob } from './object-store.js'

export interface BodySource {
  headers: Record<string, string>
  body?: Readable
  /** UploadPart's uploadId is here: a part's MD5 is always its ETag's input. */
  query?: Record<string, string | undefined>
}

export interface Ingested {
  temp: TempBlob
  size: number
  /** Hex MD5 of the plaintext (the ETag of a single-part object); '' for a PutObject under SSE-KMS without Content-MD5, whose ETag is not the MD5. */
  md5: string
  /** The checksum the client asked for (header or trailer), verified; undefined when it sent none. */
  checksum?: { algorithm: ChecksumAlgorithm; value: string }
}

/** Counts bytes and feeds every digest the request needs, passing data through untouched. */
class Meter extends Transform {
  size = 0
  constructor(private readonly digests: Array<Hash | Checksummer>) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length
    for (const d of this.digests) d.update(chunk)
    done(null, chunk)
  }
}

function requestedChecksum(headers: Record<string, string>): ChecksumAlgorithm | undefined {
  let declared: ChecksumAlgorithm | undefined
  for (const name of Object.keys(headers)) declared ??= algorithmFromHeader(name)
  const trailer = (headers['x-amz-trailer'] ?? '').split(',').map((s) => s.trim().toLowerCase())
  for (const name of trailer) declared ??= algorithmFromHeader(name)
  const sdk = headers['x-amz-sdk-checksum-algorithm']
  if (sdk !== undefined) {
    if (!isChecksumAlgorithm(sdk)) throw s3Errors.invalidRequest('Value for x-amz-sdk-checksum-algorithm header is invalid.')
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html (x-amz-sdk-checksum-algorithm)
    if (!declared) throw s3Errors.invalidRequest('x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.')
    if (declared !== sdk.toUpperCase()) throw s3Errors.badDigest(sdk.toUpperCase())
  }
  return declared
}

/**
 * Streams the body, encrypted under `dataKey`, to a temporary file beside `finalPath`.
 * `payloadHash` is the SigV4 x-amz-content-sha256 claim (UNSIGNED-PAYLOAD for presigned URLs).
 */
export async function ingestBody(src: BodySource, ctx: OperationContext, dataKey: Buffer, finalPath: string): Promise<Ingested> {
  const headers = src.headers
  const sig = ctx.meta.sigv4
  const claim = sig?.payloadHash ?? headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD'
  const chunked = claim.startsWith('STREAMING-') || /(^|,)\s*aws-chunked\s*(,|$)/i.test(headers['content-encoding'] ?? '')
  if (claim.startsWith('STREAMING-AWS4-ECDSA')) throw s3Errors.notImplemented('SigV4a streaming payloads')
  const signedChunks = claim === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' || claim === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
  if (signedChunks && !sig) throw s3Errors.signatureDoesNotMatch()
  const trailerNames = (headers['x-amz-trailer'] ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)

  const algorithm = requestedChecksum(headers)
  const checksummer = algorithm ? createChecksummer(algorithm) : undefined
  const contentMd5 = headers['content-md5']
  // S3 does not give SSE-KMS objects the MD5 as ETag (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html): no need to pay for it.
  const kmsPut = /^aws:kms$/.test(headers['x-amz-server-side-encryption'] ?? '') && src.query?.uploadId === undefined
  const md5 = kmsPut && contentMd5 === undefined ? undefined : createHash('md5')
  const sha256 = /^[0-9a-f]{64}$/i.test(claim) ? createHash('sha256') : undefined
  if (contentMd5 !== undefined && Buffer.from(contentMd5, 'base64').length !== 16) throw s3Errors.invalidDigest()

  const digests: Array<Hash | Checksummer> = []
  if (md5) digests.push(md5)
  if (checksummer) digests.push(checksummer)
  if (sha256) digests.push(sha256)
  const meter = new Meter(digests)

  let decoder: AwsChunkedDecoder | undefined
  if (chunked) {
    decoder = new AwsChunkedDecoder({
      signing: signedChunks ? { signingKey: sig!.signingKey, seedSignature: sig!.seedSignature, amzDate: sig!.amzDate, scope: sig!.scope } : undefined,
      expectedTrailers: trailerNames,
    })
  }
  const transforms: Transform[] = decoder ? [decoder, meter] : [meter]
  const temp = await writeEncryptedTemp(src.body ?? Readable.from([]), dataKey, finalPath, transforms)
  try {
    const declared = headers['x-amz-decoded-content-length']
    if (decoder && declared !== undefined && Number(declared) !== meter.size) throw s3Errors.incompleteBody()
    if (!decoder && headers['content-length'] !== undefined && Number(headers['content-length']) !== meter.size) throw s3Errors.incompleteBody()
    if (sha256) {
      const computed = sha256.digest('hex')
      if (computed !== claim.toLowerCase()) throw s3Errors.sha256Mismatch(claim, computed)
    }
    const md5hex = md5 ? md5.digest('hex') : ''
    if (contentMd5 !== undefined && Buffer.from(contentMd5, 'base64').toString('hex') !== md5hex) throw s3Errors.badContentMd5()
    let checksum: Ingested['checksum']
    if (algorithm && checksummer) {
      const header = headerFor(algorithm)
      const claimed = headers[header] ?? decoder?.trailers[header]
      const computed = checksummer.digest()
      if (claimed !== undefined && claimed !== computed) throw s3Errors.badDigest(algorithm.toLowerCase() === 'crc64nvme' ? 'CRC64NVME' : algorithm)
      checksum = { algorithm, value: computed }
    }
    return { temp, size: meter.size, md5: md5hex, checksum }
  } catch (err) {
    discardTemp(temp.tempPath)
    throw err
  }
}
