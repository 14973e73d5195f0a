// Route schemas for the download service's JSON answers.
import { Type } from 'typebox'
import { listingQueryProperties, listingResponseProperties } from '@kms-share/shared'

export const EncryptionSchema = Type.Object({
  algorithm: Type.Union([Type.String(), Type.Null()], { description: 'ServerSideEncryption: aws:kms, aws:kms:dsse, AES256.' }),
  kmsKeyArn: Type.Union([Type.String(), Type.Null()]),
  bucketKeyEnabled: Type.Boolean(),
})

export const FileItemSchema = Type.Object({
  key: Type.String(),
  size: Type.Integer(),
  lastModified: Type.Union([Type.String(), Type.Null()]),
  etag: Type.Union([Type.String(), Type.Null()]),
  encryption: Type.Union([EncryptionSchema, Type.Null()], { description: 'Null when HeadObject was refused.' }),
  encryptionError: Type.Optional(Type.String({ description: "AWS's error code when HeadObject failed." })),
  cached: Type.Boolean({ description: 'A current localfile-… exists for this key.' }),
})

export const FileListSchema = Type.Object({
  ...listingResponseProperties,
  items: Type.Array(FileItemSchema),
  nextToken: Type.Optional(Type.String({ description: 'The same as nextCursor (kept for older callers of ?token=).' })),
})

export const FileListQuerySchema = Type.Object({
  ...listingQueryProperties,
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'Older name of cursor.' })),
})

export const FileDetailsSchema = Type.Object({
  key: Type.String(),
  size: Type.Integer(),
  etag: Type.Union([Type.String(), Type.Null()]),
  lastModified: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  contentType: Type.Union([Type.String(), Type.Null()]),
  versionId: Type.Union([Type.String(), Type.Null()]),
  encryption: EncryptionSchema,
  cached: Type.Boolean({ description: 'A current localfile-… copy exists here.' }),
  localFile: Type.Union([Type.String(), Type.Null()], { description: 'The name of the local copy, when current.' }),
})

export const CacheItemSchema = Type.Object({
  name: Type.String({ description: 'The cache file, localfile-….' }),
  key: Type.String(),
  size: Type.Integer(),
  etag: Type.String(),
  contentType: Type.String(),
  cachedAt: Type.String(),
  lastAccess: Type.String(),
})

export const CacheListSchema = Type.Object({
  enabled: Type.Boolean({ description: 'False when the cache folder is not writable: files are streamed uncached.' }),
  maxBytes: Type.Integer(),
  totalBytes: Type.Integer(),
  items: Type.Array(CacheItemSchema),
  stats: Type.Object({
    s3Fetches: Type.Integer(),
    revalidations: Type.Integer(),
    cacheHits: Type.Integer(),
  }),
})

export const CacheClearSchema = Type.Object({ removed: Type.Integer() })
