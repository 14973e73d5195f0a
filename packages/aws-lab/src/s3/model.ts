// S3 state and rules: buckets (in the lab's state store), object and upload metadata (JSON beside the
// encrypted data files, written atomically). Never sees an HTTP request.
import { hash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { PolicyDocument } from '@kms-share/policy'
import type { StateStore } from '../core/types.js'
import type { ChecksumAlgorithm } from './checksums.js'
import { s3Errors } from './errors.js'
import { writeJsonAtomic, type BlobRef } from './object-store.js'
import type { SseRecord } from './sse.js'

export interface EncryptionDefault {
  algorithm: 'aws:kms' | 'AES256'
  kmsKeyId?: string
  bucketKeyEnabled: boolean
}

// Bucket configurations set through their APIs (s3/bucket-config.ts), each absent until set.
export interface PublicAccessBlock {
  BlockPublicAcls: boolean
  IgnorePublicAcls: boolean
  BlockPublicPolicy: boolean
  RestrictPublicBuckets: boolean
}

export interface LifecycleRule {
  ID?: string
  Status: 'Enabled' | 'Disabled'
  Prefix: string
  AbortIncompleteMultipartUploadDays?: number
  ExpirationDays?: number
  NoncurrentVersionExpirationDays?: number
  /** Kept and reported; the lab has one storage class, so transitions change nothing. */
  Transitions?: Array<{ Days?: number; StorageClass: string }>
}

export interface BucketConfigs {
  publicAccessBlock?: PublicAccessBlock
  lifecycle?: LifecycleRule[]
  versioning?: { Status: 'Enabled' | 'Suspended'; MfaDelete?: string }
  ownership?: 'BucketOwnerEnforced' | 'BucketOwnerPreferred' | 'ObjectWriter'
  logging?: { TargetBucket: string; TargetPrefix: string }
}

export interface BucketRecord {
  name: string
  creationDate: number
  region: string
  /** Absent: S3's default, SSE-S3 (AES256), which every bucket has since January 2023. */
  encryption?: EncryptionDefault
  policy?: { text: string; document: PolicyDocument }
  configs?: BucketConfigs
}

interface S3State {
  buckets: Record<string, BucketRecord>
}

/** Content headers S3 stores and returns with an object. */
export interface ObjectHeaders {
  contentType?: string
  contentEncoding?: string
  contentDisposition?: string
  contentLanguage?: string
  cacheControl?: string
  expires?: string
  /** x-amz-meta-* (names lower-case, without the prefix). */
  userMetadata: Record<string, string>
  /** Object tags from x-amz-tagging. */
  tags?: Record<string, string>
}

export interface ObjectChecksum {
  algorithm: ChecksumAlgorithm
  value: string
  type: 'FULL_OBJECT' | 'COMPOSITE'
}

export interface ObjectMeta extends ObjectHeaders {
  key: string
  size: number
  /** Quoted, as S3 returns it. */
  etag: string
  lastModified: number
  checksum?: ObjectChecksum
  sse: SseRecord
  blobs: BlobRef[]
  /** Multipart objects: part sizes (for partNumber reads and the -N ETag). */
  partsCount?: number
}

export interface PartRecord {
  partNumber: number
  size: number
  etag: string
  lastModified: number
  checksum?: string
  blob: BlobRef
}

export interface UploadRecord extends ObjectHeaders {
  uploadId: string
  bucket: string
  key: string
  initiated: number
  initiator: { arn: string; userId: string }
  sse: SseRecord
  checksumAlgorithm?: ChecksumAlgorithm
  checksumType?: 'FULL_OBJECT' | 'COMPOSITE'
  parts: Record<string, PartRecord>
}

export interface ListOptions {
  prefix: string
  delimiter?: string
  /** List keys strictly after this one. */
  after?: string
  maxKeys: number
}

export interface ListResult {
  contents: ObjectMeta[]
  commonPrefixes: string[]
  isTruncated: boolean
  /** The last key or common prefix returned, for the next page. */
  last?: string
}

const S3_SECTION = 's3'

function keyFile(key: string): string {
  return hash('sha256', key, 'hex')
}

/** Bucket names as S3 accepts them (general purpose buckets). */
export function validBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name)
}

export class S3Model {
  readonly root: string
  private readonly objects = new Map<string, Map<string, ObjectMeta>>()
  private readonly uploads = new Map<string, Map<string, UploadRecord>>()

  constructor(private readonly store: StateStore) {
    this.root = join(store.dataDir, 's3')
    mkdirSync(this.root, { recursive: true })
    this.removeLeftovers()
  }

  /** Temporary files from uploads cut short by a crash (kill -9) are never part of an object. */
  private removeLeftovers(): void {
    const buckets = join(this.root, 'buckets')
    if (!existsSync(buckets)) return
    for (const b of readdirSync(buckets)) {
      for (const sub of ['data', 'objects', 'uploads']) {
        const dir = join(buckets, b, sub)
        if (!existsSync(dir)) continue
        for (const f of readdirSync(dir)) if (f.includes('.tmp')) rmSync(join(dir, f), { force: true })
      }
    }
  }

  private get state(): S3State {
    return this.store.section<S3State>(S3_SECTION, () => ({ buckets: {} }))
  }

  private save(): void {
    this.store.save(S3_SECTION)
  }

  bucketDir(bucket: string): string {
    return join(this.root, 'buckets', bucket)
  }

  // ── buckets ──

  listBuckets(): BucketRecord[] {
    return Object.values(this.state.buckets).sort((a, b) => a.name.localeCompare(b.name))
  }

  findBucket(name: string | undefined): BucketRecord | undefined {
    // Bucket names are the caller's: `constructor` is a valid one and must not find Object.prototype's.
    return name && Object.hasOwn(this.state.buckets, name) ? this.state.buckets[name] : undefined
  }

  bucket(name: string | undefined): BucketRecord {
    const b = this.findBucket(name)
    if (!b) throw s3Errors.noSuchBucket(name ?? '')
    return b
  }

  createBucket(name: string, region: string): BucketRecord {
    if (!validBucketName(name)) throw s3Errors.invalidBucketName(name)
    if (this.findBucket(name)) throw s3Errors.bucketAlreadyOwnedByYou(name)
    const record: BucketRecord = { name, creationDate: Date.now(), region }
    this.state.buckets[name] = record
    mkdirSync(join(this.bucketDir(name), 'objects'), { recursive: true })
    mkdirSync(join(this.bucketDir(name), 'data'), { recursive: true })
    mkdirSync(join(this.bucketDir(name), 'uploads'), { recursive: true })
    this.save()
    return record
  }

  deleteBucket(name: string): void {
    this.bucket(name)
    if (this.objectsOf(name).size > 0) throw s3Errors.bucketNotEmpty(name)
    for (const upload of this.uploadsOf(name).values()) this.abortUpload(upload)
    delete this.state.buckets[name]
    this.save()
    this.objects.delete(name)
    this.uploads.delete(name)
    rmSync(this.bucketDir(name), { recursive: true, force: true })
  }

  setEncryption(name: string, encryption: EncryptionDefault | undefined): void {
    const b = this.bucket(name)
    if (encryption) b.encryption = encryption
    else delete b.encryption
    this.save()
  }

  setConfig<K extends keyof BucketConfigs>(name: string, key: K, value: BucketConfigs[K] | undefined): void {
    const b = this.bucket(name)
    const configs = (b.configs ??= {})
    if (value === undefined) delete configs[key]
    else configs[key] = value
    this.save()
  }

  setPolicy(name: string, policy: BucketRecord['policy']): void {
    const b = this.bucket(name)
    if (policy) b.policy = policy
    else delete b.policy
    this.save()
  }

  // ── objects ──

  private objectsOf(bucket: string): Map<string, ObjectMeta> {
    let map = this.objects.get(bucket)
    if (!map) {
      map = new Map()
      const dir = join(this.bucketDir(bucket), 'objects')
      if (existsSync(dir)) {
        for (const f of readdirSync(dir)) {
          if (!f.endsWith('.json')) continue
          const meta = JSON.parse(readFileSync(join(dir, f), 'utf8')) as ObjectMeta
          map.set(meta.key, meta)
        }
      }
      this.objects.set(bucket, map)
    }
    return map
  }

  getObject(bucket: string, key: string): ObjectMeta | undefined {
    return this.objectsOf(bucket).get(key)
  }

  /** A fresh data file path (relative to root and absolute) for a new object or part. */
  newDataFile(bucket: string): { file: string; path: string } {
    const file = join('buckets', bucket, 'data', `${Date.now().toString(36)}-${randomBytes(8).toString('hex')}.data`)
    return { file, path: join(this.root, file) }
  }

  absolute(file: string): string {
    return join(this.root, file)
  }

  /** Records an object (metadata written atomically) and removes the data it replaced. */
  putObject(bucket: string, meta: ObjectMeta): void {
    const map = this.objectsOf(bucket)
    const previous = map.get(meta.key)
    writeJsonAtomic(join(this.bucketDir(bucket), 'objects', `${keyFile(meta.key)}.json`), meta)
    map.set(meta.key, meta)
    if (previous) this.removeBlobs(previous.blobs, meta.blobs)
  }

  deleteObject(bucket: string, key: string): boolean {
    const map = this.objectsOf(bucket)
    const meta = map.get(key)
    if (!meta) return false
    rmSync(join(this.bucketDir(bucket), 'objects', `${keyFile(key)}.json`), { force: true })
    map.delete(key)
    this.removeBlobs(meta.blobs, [])
    return true
  }

  /**
   * Removes data files no longer referenced, off the event loop: unlinking a large file takes the
   * kernel a while (~0.1 s for 256 MiB), and nothing refers to these names any more (their names are
   * never reused; a GET still reading one keeps its open file).
   */
  private removeBlobs(blobs: BlobRef[], keep: BlobRef[]): void {
    const kept = new Set(keep.map((b) => b.file))
    for (const b of blobs) if (!kept.has(b.file)) void rm(this.absolute(b.file), { force: true }).catch(() => undefined)
  }

  list(bucket: string, opts: ListOptions): ListResult {
    const keys = [...this.objectsOf(bucket).keys()].filter((k) => k.startsWith(opts.prefix)).sort(compareKeys)
    const contents: ObjectMeta[] = []
    const commonPrefixes: string[] = []
    let last: string | undefined
    let isTruncated = false
    const map = this.objectsOf(bucket)
    for (const key of keys) {
      if (opts.after !== undefined && compareKeys(key, opts.after) <= 0) continue
      let prefix: string | undefined
      if (opts.delimiter) {
        const at = key.indexOf(opts.delimiter, opts.prefix.length)
        if (at !== -1) prefix = key.slice(0, at + opts.delimiter.length)
      }
      if (prefix !== undefined && prefix === commonPrefixes[commonPrefixes.length - 1]) continue
      // A page that ends on a common prefix continues after every key under it.
      if (prefix !== undefined && opts.after !== undefined && opts.after.startsWith(prefix)) continue
      if (contents.length + commonPrefixes.length >= opts.maxKeys) {
        isTruncated = true
        break
      }
      if (prefix !== undefined) {
        commonPrefixes.push(prefix)
        last = prefix
      } else {
        contents.push(map.get(key)!)
        last = key
      }
    }
    return { contents, commonPrefixes, isTruncated, last }
  }

  // ── multipart uploads ──

  private uploadsOf(bucket: string): Map<string, UploadRecord> {
    let map = this.uploads.get(bucket)
    if (!map) {
      map = new Map()
      const dir = join(this.bucketDir(bucket), 'uploads')
      if (existsSync(dir)) {
        for (const f of readdirSync(dir)) {
          if (!f.endsWith('.json')) continue
          const u = JSON.parse(readFileSync(join(dir, f), 'utf8')) as UploadRecord
          map.set(u.uploadId, u)
        }
      }
      this.uploads.set(bucket, map)
    }
    return map
  }

  newUploadId(): string {
    return randomBytes(48).toString('base64url')
  }

  saveUpload(upload: UploadRecord): void {
    writeJsonAtomic(join(this.bucketDir(upload.bucket), 'uploads', `${upload.uploadId}.json`), upload)
    this.uploadsOf(upload.bucket).set(upload.uploadId, upload)
  }

  upload(bucket: string, key: string, uploadId: string | undefined): UploadRecord {
    const u = uploadId ? this.uploadsOf(bucket).get(uploadId) : undefined
    if (!u || u.key !== key) throw s3Errors.noSuchUpload(uploadId ?? '')
    return u
  }

  listUploads(bucket: string): UploadRecord[] {
    return [...this.uploadsOf(bucket).values()].sort((a, b) => compareKeys(a.key, b.key) || a.initiated - b.initiated)
  }

  /** Forgets an upload; `keep` lists the part files now owned by a completed object. */
  finishUpload(upload: UploadRecord, keep: BlobRef[]): void {
    rmSync(join(this.bucketDir(upload.bucket), 'uploads', `${upload.uploadId}.json`), { force: true })
    this.uploadsOf(upload.bucket).delete(upload.uploadId)
    this.removeBlobs(Object.values(upload.parts).map((p) => p.blob), keep)
  }

  abortUpload(upload: UploadRecord): void {
    this.finishUpload(upload, [])
  }
}

/** S3 lists keys in UTF-8 binary order. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
