// Route schemas for /files: request shapes and one response schema per status.
import { Type } from 'typebox'
import { ListedObjectSchema, ListingQuerySchema, listingResponseProperties, problemResponses } from '@kms-share/shared'

export const StoredObjectSchema = Type.Object({
  key: Type.String({ description: 'The object key (NFC).' }),
  size: Type.Integer({ description: 'Bytes stored.' }),
  etag: Type.String(),
  sseAlgorithm: Type.Union([Type.String(), Type.Null()], { description: "S3's x-amz-server-side-encryption: aws:kms." }),
  kmsKeyArn: Type.Union([Type.String(), Type.Null()], { description: 'The ARN of the KMS key S3 encrypted under, as S3 reported it.' }),
  bucketKeyEnabled: Type.Boolean(),
  versionId: Type.Optional(Type.String()),
  audit: Type.Optional(Type.Union([Type.Literal('queued'), Type.Literal('pending')], { description: 'The audit job: queued, or pending when Redis was unavailable (the sweep audits the object later). Absent without an audit queue.' })),
})

export const OverwriteQuery = Type.Object({
  overwrite: Type.Boolean({ default: false, description: 'Replace an existing object; otherwise an existing key is a 409.' }),
})

export const PutParams = Type.Object({ '*': Type.String({ description: 'The object key, URL-encoded; "/" allowed.' }) })

export const putResponses = { 201: StoredObjectSchema, ...problemResponses(400, 403, 408, 409, 411, 413, 499, 500, 502, 503) }
export const postResponses = { 201: StoredObjectSchema, ...problemResponses(400, 403, 408, 409, 413, 415, 499, 500, 502, 503) }

export const ListQuery = ListingQuerySchema

export const ListResponse = Type.Object({
  ...listingResponseProperties,
  items: Type.Array(ListedObjectSchema, { description: 'Objects on this page (the upload role cannot read objects, so no encryption details: the download service has them).' }),
})

export const listResponses = { 200: ListResponse, ...problemResponses(400, 403, 500, 502, 503) }
