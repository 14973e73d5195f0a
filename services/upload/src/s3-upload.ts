// Streaming an upload into S3 under SSE-KMS: one PutObject when the length is known and
// within S3's single-PUT limit, else lib-storage's multipart upload. Nothing is held whole.
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { UploadErrors } from './errors.js'

/** S3's largest single PUT: 5 GiB (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html). */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3

export interface UploadTarget {
  s3: S3Client
  bucket: string
  key: string
  kmsKeyId: string
  bucketKey: boolean
  /** false: a conditional write (If-None-Match: *) that fails when the key exists. */
  overwrite: boolean
  partBytes: number
  /** Stored as the object's Content-Type. */
  contentType?: string
}

/** What the 201 answers: read from S3's response headers, not from configuration. */
export interface StoredObject {
  key: string
  size: number
  etag: string
  sseAlgorithm: string | null
  kmsKeyArn: string | null
  bucketKeyEnabled: boolean
  versionId?: string
}

interface S3WriteOutput {
  ETag?: string
  ServerSideEncryption?: string
  SSEKMSKeyId?: string
  BucketKeyEnabled?: boolean
  VersionId?: string
}

function writeParams(target: UploadTarget): Omit<PutObjectCommandInput, 'Body'> {
  return {
    Bucket: target.bucket,
    Key: target.key,
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: target.kmsKeyId,
    BucketKeyEnabled: target.bucketKey,
    ...(target.contentType ? { ContentType: target.contentType } : {}),
    // Conditional write: S3 refuses with 412 when the key exists, with no check-then-put race.
    ...(target.overwrite ? {} : { IfNoneMatch: '*' }),
  }
}

function stored(target: UploadTarget, size: number, out: S3WriteOutput): StoredObject {
  return {
    key: target.key,
    size,
    etag: out.ETag ?? '',
    sseAlgorithm: out.ServerSideEncryption ?? null,
    kmsKeyArn: out.SSEKMSKeyId ?? null,
    bucketKeyEnabled: out.BucketKeyEnabled === true,
    ...(out.VersionId ? { versionId: out.VersionId } : {}),
  }
}

/**
 * One streamed PutObject of exactly `contentLength` bytes; `signal` aborts it (client gone, idle,
 * shutdown). The call paces at the client's speed, so it may outlast the client's usual whole-call limit.
 */
export async function putObjectStream(target: UploadTarget, body: Readable, contentLength: number, signal: AbortSignal, requestTimeoutMs?: number): Promise<StoredObject> {
  const out = await target.s3.send(
    new PutObjectCommand({ ...writeParams(target), Body: body, ContentLength: contentLength }),
    { abortSignal: signal, ...(requestTimeoutMs ? { requestTimeout: requestTimeoutMs } : {}) },
  )
  return stored(target, contentLength, out)
}

/**
 * A multipart upload (lib-storage) of a stream of unknown or very large size. When `body`
 * errors, lib-storage aborts the multipart upload before rejecting, so nothing is left behind.
 */
export async function multipartUploadStream(target: UploadTarget, body: ByteCounter, contentLength?: number): Promise<StoredObject> {
  const upload = new Upload({
    client: target.s3,
    params: { ...writeParams(target), Body: body, ...(contentLength !== undefined ? { ContentLength: contentLength } : {}) },
    partSize: target.partBytes,
    queueSize: 2,
    leavePartsOnError: false,
  })
  const out = (await upload.done()) as S3WriteOutput
  return stored(target, body.bytes, out)
}

/**
 * The size of the pieces handed to the SDK. The request socket yields about 64 KiB at a time; each piece
 * becomes one aws-chunked frame and several HTTP writes to S3, so joining them takes per-frame work off
 * this service and S3 for one memcpy. 256 KiB measured best (`pnpm bench:upload`, 2 cores): the service
 * cost 1.35–1.64 CPU-s/GiB against 1.79–2.21 with 1 MiB frames (the join's copies into fresh 1 MiB
 * buffers were a fifth of its CPU), while 128 KiB frames raised the lab's CPU per byte.
 */
export const FRAME_BYTES = 256 * 1024

/**
 * Counts bytes on their way to S3, fails past `limit` (413), joins small pieces into FRAME_BYTES
 * (at most one frame is held), and holds back the end of the stream until `beforeEnd` settles, so
 * a form that turns out bad aborts instead of completing.
 */
export class ByteCounter extends Transform {
  bytes = 0
  private held: Buffer[] = []
  private heldBytes = 0
  constructor(private readonly limit: number, private readonly beforeEnd?: Promise<void>, private readonly frameBytes = FRAME_BYTES) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.limit) return callback(new UploadErrors.TOO_LARGE(this.limit))
    if (this.heldBytes === 0 && chunk.length >= this.frameBytes) return callback(null, chunk)
    this.held.push(chunk)
    this.heldBytes += chunk.length
    if (this.heldBytes < this.frameBytes) return callback()
    callback(null, this.release())
  }

  override _flush(callback: TransformCallback): void {
    if (this.heldBytes > 0) this.push(this.release())
    if (!this.beforeEnd) callback()
    else this.beforeEnd.then(() => callback(), (err: Error) => callback(err))
  }

  private release(): Buffer {
    const frame = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held, this.heldBytes)
    this.held = []
    this.heldBytes = 0
    return frame
  }
}
