// S3's listings: a bucket's objects (V1 and V2), an upload's parts, a bucket's uploads.
import type { RequestContext } from '@kms-share/policy'
import type { OperationContext } from '../core/types.js'
import type { XmlObject } from '../core/protocols/rest-xml.js'
import { s3Errors } from './errors.js'
import type { ObjectMeta } from './model.js'
import { op, ownerXml, requireKey, type S3Labs, type S3Operations } from './operation.js'
import type { S3Input } from './messages.js'

export function listingOperations({ lab, check }: S3Labs): S3Operations {
  /** One page of a bucket listing, shared by ListObjects (marker) and ListObjectsV2 (start-after / continuation token). */
  function listPage(i: S3Input, ctx: OperationContext, after: string | undefined) {
    const { model } = lab(ctx)
    model.bucket(i.Bucket)
    const maxKeys = parseMaxKeys(i.query['max-keys'])
    const prefix = i.query.prefix ?? ''
    const r = model.list(i.Bucket!, { prefix, delimiter: i.query.delimiter || undefined, after, maxKeys })
    const enc = urlEncoded(i)
    // Both listings answer a ListBucketResult that opens with the bucket and the prefix.
    const result = (body: XmlObject) => ({ xml: { root: 'ListBucketResult', body: { Name: i.Bucket, Prefix: enc(prefix), ...body } } })
    return { r, enc, maxKeys, result }
  }

  return {
    ListObjectsV2: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:ListBucket', i.Bucket, undefined, listConditions(i))],
      run: (i, ctx) => {
        const q = i.query
        let after = q['start-after']
        if (q['continuation-token'] !== undefined) {
          after = Buffer.from(q['continuation-token'], 'base64url').toString('utf8')
          if (!q['continuation-token']) throw s3Errors.invalidArgument('The continuation token provided is incorrect', 'continuation-token', '')
        }
        const { r, enc, maxKeys, result } = listPage(i, ctx, after)
        return result({
          Delimiter: q.delimiter ? enc(q.delimiter) : undefined,
          MaxKeys: maxKeys,
          EncodingType: q['encoding-type'],
          KeyCount: r.contents.length + r.commonPrefixes.length,
          IsTruncated: r.isTruncated,
          ContinuationToken: q['continuation-token'],
          NextContinuationToken: r.isTruncated && r.last !== undefined ? Buffer.from(r.last, 'utf8').toString('base64url') : undefined,
          StartAfter: q['start-after'] !== undefined ? enc(q['start-after']) : undefined,
          Contents: r.contents.map((m) => contentsXml(m, enc, q['fetch-owner'] === 'true' ? ownerXml(ctx) : undefined)),
          CommonPrefixes: r.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
        })
      },
    }),

    ListObjects: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:ListBucket', i.Bucket, undefined, listConditions(i))],
      run: (i, ctx) => {
        const q = i.query
        const { r, enc, maxKeys, result } = listPage(i, ctx, q.marker || undefined)
        return result({
          Marker: enc(q.marker ?? ''),
          NextMarker: r.isTruncated && q.delimiter ? enc(r.last ?? '') : undefined,
          MaxKeys: maxKeys,
          Delimiter: q.delimiter ? enc(q.delimiter) : undefined,
          EncodingType: q['encoding-type'],
          IsTruncated: r.isTruncated,
          Contents: r.contents.map((m) => contentsXml(m, enc, ownerXml(ctx))),
          CommonPrefixes: r.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
        })
      },
    }),

    ListParts: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:ListMultipartUploadParts', i.Bucket, i.Key ?? '')],
      run: (i, ctx) => {
        const { model } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const upload = model.upload(bucket.name, requireKey(i), i.query.uploadId)
        const marker = Number(i.query['part-number-marker'] ?? 0)
        const max = Math.min(1000, Number(i.query['max-parts'] ?? 1000))
        const all = Object.values(upload.parts).filter((p) => p.partNumber > marker).sort((a, b) => a.partNumber - b.partNumber)
        const page = all.slice(0, max)
        const truncated = all.length > page.length
        return {
          xml: {
            root: 'ListPartsResult',
            body: {
              Bucket: bucket.name,
              Key: upload.key,
              UploadId: upload.uploadId,
              Initiator: { ID: upload.initiator.arn, DisplayName: upload.initiator.userId },
              Owner: ownerXml(ctx),
              StorageClass: 'STANDARD',
              PartNumberMarker: marker,
              NextPartNumberMarker: page.length ? page[page.length - 1].partNumber : marker,
              MaxParts: max,
              IsTruncated: truncated,
              ChecksumAlgorithm: upload.checksumAlgorithm,
              ChecksumType: upload.checksumType,
              Part: page.map((p) => ({
                PartNumber: p.partNumber,
                LastModified: new Date(p.lastModified),
                ETag: p.etag,
                Size: p.size,
                ...(p.checksum && upload.checksumAlgorithm ? { [`Checksum${upload.checksumAlgorithm}`]: p.checksum } : {}),
              })),
            },
          },
        }
      },
    }),

    ListMultipartUploads: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:ListBucketMultipartUploads', i.Bucket, undefined)],
      run: (i, ctx) => {
        const { model } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const prefix = i.query.prefix ?? ''
        const max = Math.min(1000, Number(i.query['max-uploads'] ?? 1000))
        const keyMarker = i.query['key-marker']
        const all = model.listUploads(bucket.name).filter((u) => u.key.startsWith(prefix) && (keyMarker === undefined || u.key > keyMarker))
        const page = all.slice(0, max)
        const truncated = all.length > page.length
        const last = page[page.length - 1]
        return {
          xml: {
            root: 'ListMultipartUploadsResult',
            body: {
              Bucket: bucket.name,
              KeyMarker: keyMarker ?? '',
              UploadIdMarker: i.query['upload-id-marker'] ?? '',
              NextKeyMarker: truncated ? last?.key : undefined,
              NextUploadIdMarker: truncated ? last?.uploadId : undefined,
              Prefix: prefix,
              MaxUploads: max,
              IsTruncated: truncated,
              Upload: page.map((u) => ({
                Key: u.key,
                UploadId: u.uploadId,
                Initiator: { ID: u.initiator.arn, DisplayName: u.initiator.userId },
                Owner: ownerXml(ctx),
                StorageClass: 'STANDARD',
                Initiated: new Date(u.initiated),
                ChecksumAlgorithm: u.checksumAlgorithm,
              })),
            },
          },
        }
      },
    }),
  }
}

function urlEncoded(input: S3Input): (s: string) => string {
  return input.query['encoding-type'] === 'url' ? (s) => encodeURIComponent(s).replace(/%2F/g, '/') : (s) => s
}

function listConditions(i: S3Input): RequestContext {
  const c: RequestContext = {}
  if (i.query.prefix !== undefined) c['s3:prefix'] = i.query.prefix
  if (i.query.delimiter !== undefined) c['s3:delimiter'] = i.query.delimiter
  c['s3:max-keys'] = String(parseMaxKeys(i.query['max-keys']))
  return c
}

function parseMaxKeys(value: string | undefined): number {
  if (value === undefined || value === '') return 1000
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw s3Errors.invalidArgument('Provided max-keys not an integer or within integer range', 'max-keys', value)
  return Math.min(n, 1000)
}

function contentsXml(m: ObjectMeta, enc: (s: string) => string, owner: XmlObject | undefined): XmlObject {
  return {
    Key: enc(m.key),
    LastModified: new Date(m.lastModified),
    ETag: m.etag,
    ChecksumAlgorithm: m.checksum?.algorithm,
    ChecksumType: m.checksum?.type,
    Size: m.size,
    Owner: owner,
    StorageClass: 'STANDARD',
  }
}
