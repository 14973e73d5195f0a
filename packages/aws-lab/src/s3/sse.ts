// Server-side encryption as S3 does it: SSE-KMS data keys from KMS, asked for as the caller (forward
// access session, kms:ViaService = s3.REGION.amazonaws.com, never through the caller's VPC endpoint),
// S3 Bucket Keys cached per requester and KMS key, and SSE-S3 under a lab-internal key.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AwsError, type OperationContext, type RequestMeta } from '../core/types.js'
import { writeFileAtomic } from '../core/store.js'
import { kmsState, managedKeyFor, saveKms } from '../kms/model.js'
import { resolveKey } from '../kms/key-ref.js'
import { fromKmsError } from './errors.js'
import { unwrapKey, wrapKey } from './object-store.js'

/** How an object's (or upload's) data key is protected; stored in its metadata. */
export interface SseRecord {
  algorithm: 'aws:kms' | 'AES256'
  /** Key ARN, for aws:kms. */
  kmsKeyArn?: string
  bucketKeyEnabled?: boolean
  /** The full KMS encryption context (aws:s3:arn plus the caller's), for aws:kms without a bucket key. */
  context?: Record<string, string>
  /** The caller's own context as sent (base64 JSON), echoed in responses. */
  callerContext?: string
  /** aws:kms: KMS CiphertextBlob (base64) of the data key; bucket key: object key wrapped under the bucket key; AES256: wrapped under the lab key. */
  wrappedKey: string
  /** With a bucket key: the bucket key's KMS CiphertextBlob (base64), decrypted under context {aws:s3:arn: bucket ARN}. */
  bucketKeyBlob?: string
}

export interface SseRequest {
  algorithm: 'aws:kms' | 'AES256'
  /** Key id, ARN, alias name or alias ARN; undefined → the account's aws/s3 key. */
  kmsKeyId?: string
  bucketKeyEnabled: boolean
  /** Base64 JSON from x-amz-server-side-encryption-context. */
  callerContext?: string
}

/** How long a bucket key stays usable without asking KMS again (AWS: "time-limited"). */
export const BUCKET_KEY_TTL_MS = 5 * 60 * 1000
const BUCKET_KEY_CACHE_LIMIT = 1024
const WRAP_CONTEXT = 'aws-lab-s3-object-key'

interface CachedBucketKey {
  plaintext: Buffer
  blob: string
  keyArn: string
  expires: number
}

function toBuffer(value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'base64')
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  throw new AwsError('InternalError', 'KMS returned no key material', 500)
}

interface KmsDataKeyOutput {
  KeyId: string
  Plaintext: unknown
  CiphertextBlob: unknown
}

export class SseKeys {
  private readonly labKey: Buffer
  /** Bucket keys for writing, per (requester ARN, requested KMS key, bucket). */
  private readonly writeCache = new Map<string, CachedBucketKey>()
  /** Decrypted bucket keys for reading, per (requester ARN, bucket key blob). */
  private readonly readCache = new Map<string, CachedBucketKey>()
  /** KMS calls made on callers' behalf, for the benchmark and tests. */
  readonly kmsCalls = { GenerateDataKey: 0, Decrypt: 0 }

  constructor(s3Dir: string) {
    mkdirSync(s3Dir, { recursive: true })
    const file = join(s3Dir, 'sse-s3.key')
    if (!existsSync(file)) writeFileAtomic(file, randomBytes(32).toString('base64'))
    this.labKey = Buffer.from(readFileSync(file, 'utf8'), 'base64')
  }

  /** A fresh data key for a new object or multipart upload. */
  async newObjectKey(req: SseRequest, bucket: string, key: string, ctx: OperationContext): Promise<{ dataKey: Buffer; record: SseRecord }> {
    if (req.algorithm === 'AES256') {
      const dataKey = randomBytes(32)
      return { dataKey, record: { algorithm: 'AES256', wrappedKey: wrapKey(this.labKey, dataKey, WRAP_CONTEXT) } }
    }
    requireSigV4ForKms(ctx)
    const keyId = keyArnOf(req.kmsKeyId ?? this.managedKeyId(ctx), ctx)
    if (req.bucketKeyEnabled) {
      const bucketKey = await this.writeBucketKey(keyId, bucket, ctx)
      const dataKey = randomBytes(32)
      return {
        dataKey,
        record: {
          algorithm: 'aws:kms',
          kmsKeyArn: bucketKey.keyArn,
          bucketKeyEnabled: true,
          wrappedKey: wrapKey(bucketKey.plaintext, dataKey, WRAP_CONTEXT),
          bucketKeyBlob: bucketKey.blob,
        },
      }
    }
    const context = { ...parseCallerContext(req.callerContext), 'aws:s3:arn': `arn:aws:s3:::${bucket}/${key}` }
    const out = await this.kms<KmsDataKeyOutput>(ctx, 'GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context })
    return {
      dataKey: toBuffer(out.Plaintext),
      record: {
        algorithm: 'aws:kms',
        kmsKeyArn: out.KeyId,
        bucketKeyEnabled: false,
        context,
        callerContext: req.callerContext,
        wrappedKey: toBuffer(out.CiphertextBlob).toString('base64'),
      },
    }
  }

  /** The data key of a stored object or upload, asking KMS to decrypt as the caller where AWS would. */
  async objectKey(record: SseRecord, bucket: string, ctx: OperationContext): Promise<Buffer> {
    if (record.algorithm === 'AES256') return unwrapKey(this.labKey, record.wrappedKey, WRAP_CONTEXT)
    requireSigV4ForKms(ctx)
    if (record.bucketKeyBlob) {
      const bucketKey = await this.readBucketKey(record.bucketKeyBlob, bucket, ctx)
      return unwrapKey(bucketKey, record.wrappedKey, WRAP_CONTEXT)
    }
    const out = await this.kms<{ Plaintext: unknown }>(ctx, 'Decrypt', {
      CiphertextBlob: record.wrappedKey,
      EncryptionContext: record.context ?? {},
    })
    return toBuffer(out.Plaintext)
  }

  private async writeBucketKey(keyId: string, bucket: string, ctx: OperationContext): Promise<CachedBucketKey> {
    const cacheKey = `${ctx.caller.principal.arn}|${keyId}|${bucket}`
    const now = Date.now()
    const hit = this.writeCache.get(cacheKey)
    if (hit && hit.expires > now) return hit
    const out = await this.kms<KmsDataKeyOutput>(ctx, 'GenerateDataKey', {
      KeyId: keyId,
      KeySpec: 'AES_256',
      EncryptionContext: { 'aws:s3:arn': `arn:aws:s3:::${bucket}` },
    })
    const entry: CachedBucketKey = { plaintext: toBuffer(out.Plaintext), blob: toBuffer(out.CiphertextBlob).toString('base64'), keyArn: out.KeyId, expires: now + BUCKET_KEY_TTL_MS }
    remember(this.writeCache, cacheKey, entry)
    // The writer may read back what it wrote without another Decrypt, as its own bucket key.
    remember(this.readCache, `${ctx.caller.principal.arn}|${entry.blob}`, entry)
    return entry
  }

  private async readBucketKey(blob: string, bucket: string, ctx: OperationContext): Promise<Buffer> {
    const cacheKey = `${ctx.caller.principal.arn}|${blob}`
    const now = Date.now()
    const hit = this.readCache.get(cacheKey)
    if (hit && hit.expires > now) return hit.plaintext
    const out = await this.kms<{ Plaintext: unknown; KeyId: string }>(ctx, 'Decrypt', {
      CiphertextBlob: blob,
      EncryptionContext: { 'aws:s3:arn': `arn:aws:s3:::${bucket}` },
    })
    const entry: CachedBucketKey = { plaintext: toBuffer(out.Plaintext), blob, keyArn: out.KeyId, expires: now + BUCKET_KEY_TTL_MS }
    remember(this.readCache, cacheKey, entry)
    return entry.plaintext
  }

  private async kms<O>(ctx: OperationContext, operation: 'GenerateDataKey' | 'Decrypt', input: Record<string, unknown>): Promise<O> {
    const via: Partial<RequestMeta> = {
      viaService: `s3.${ctx.meta.region}.amazonaws.com`,
      invokedBy: 'fas.s3.amazonaws.com',
      // S3's own calls to KMS never travel through the caller's VPC endpoint.
      sourceVpce: undefined,
      sourceVpc: undefined,
    }
    this.kmsCalls[operation]++
    try {
      return await ctx.invoke<O>('kms', operation, input, via)
    } catch (err) {
      throw fromKmsError(err)
    }
  }

  /** The account's AWS managed key `alias/aws/s3`, created on first use as AWS does. */
  private managedKeyId(ctx: OperationContext): string {
    const state = kmsState(ctx.state)
    const key = managedKeyFor(state, ctx.meta.region, ctx.iam.accountId, 'alias/aws/s3', Date.now())!
    saveKms(ctx.state)
    return key.keyId
  }
}

/** S3 names the key to KMS by its ARN, whatever the caller wrote (id, alias); an unknown one goes as written so KMS refuses it. */
function keyArnOf(ref: string, ctx: OperationContext): string {
  try {
    return resolveKey(ref, ctx).key.arn
  } catch {
    return ref
  }
}

/** S3 serves SSE-KMS only over TLS and SigV4 (boto3's default presigned URLs are SigV2). https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html */
export function requireSigV4ForKms(ctx: OperationContext): void {
  if (ctx.meta.plainHttpRefusesSseKms) {
    throw new AwsError('InvalidArgument', 'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.', 400, {
      ArgumentName: 'x-amz-server-side-encryption',
      ArgumentValue: 'aws:kms',
    })
  }
  if (ctx.meta.sigv4?.signatureVersion === 2) {
    throw new AwsError('InvalidArgument', 'Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.', 400, {
      ArgumentName: 'Authorization',
      ArgumentValue: 'null',
    })
  }
}

function remember(cache: Map<string, CachedBucketKey>, key: string, entry: CachedBucketKey): void {
  if (cache.size >= BUCKET_KEY_CACHE_LIMIT) {
    const now = Date.now()
    for (const [k, v] of cache) if (v.expires <= now) cache.delete(k)
    if (cache.size >= BUCKET_KEY_CACHE_LIMIT) cache.delete(cache.keys().next().value!)
  }
  cache.set(key, entry)
}

/** x-amz-server-side-encryption-context: base64 of a JSON object of strings. */
export function parseCallerContext(value: string | undefined): Record<string, string> {
  if (!value) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8'))
  } catch {
    throw new AwsError('InvalidArgument', 'The encryption context must be a base64-encoded UTF-8 string holding JSON.', 400)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new AwsError('InvalidArgument', 'The encryption context must be a JSON object.', 400)
  const out = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new AwsError('InvalidArgument', 'Encryption context values must be strings.', 400)
    if (k === 'aws:s3:arn') continue
    out[k] = v
  }
  return out
}
