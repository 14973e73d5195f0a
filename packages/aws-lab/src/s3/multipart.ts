// S3's multipart uploads: create, upload (or copy) parts, complete, abort.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html
import { createHash, hash } from 'node:crypto'
import { parseXml, xmlList } from '../core/protocols/rest-xml.js'
import { text, type OperationContext } from '../core/types.js'
import { compositeChecksum, createChecksummer, fullObjectChecksum, headerFor, isChecksumAlgorithm, isCrc, type ChecksumAlgorithm } from './checksums.js'
import { s3Errors } from './errors.js'
import { ingestBody } from './ingest.js'
import type { ObjectMeta, PartRecord, S3Model, UploadRecord } from './model.js'
import { commitTemp, discardTemp, readPlaintext, writeEncryptedTemp, type TempBlob } from './object-store.js'
import { copyPreconditions, copySource, digestOf, etagFor, objectHeadersFrom, quoteEtag, sseHeaders, sseRequest, unquote, writePreconditions } from './object-meta.js'
import { document, op, requireKey, sseConditions, type S3Labs, type S3Operations } from './operation.js'
import type { S3Input } from './messages.js'

const MIN_PART_SIZE = 5 * 1024 * 1024

export function multipartOperations({ lab, check }: S3Labs): S3Operations {
  /** What UploadPart and UploadPartCopy both start from: the lab, the bucket, the part number and its upload. */
  const partOf = (i: S3Input, ctx: OperationContext) => {
    const { model, sse } = lab(ctx)
    const bucket = model.bucket(i.Bucket)
    const key = requireKey(i)
    // The part number is checked before the upload is looked up, as S3 does.
    const partNumber = partNumberOf(i)
    return { model, sse, bucket, partNumber, upload: model.upload(bucket.name, key, i.query.uploadId) }
  }
  return {
    CreateMultipartUpload: op({
      authorize: (i, ctx) => [check(ctx, 's3:PutObject', i.Bucket, i.Key ?? '', sseConditions(i.headers))],
      run: async (i, ctx) => {
        const { model, sse } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        const alg = i.headers['x-amz-checksum-algorithm']
        if (alg !== undefined && !isChecksumAlgorithm(alg)) throw s3Errors.invalidRequest('Checksum algorithm provided is unsupported.')
        const { record } = await sse.newObjectKey(sseRequest(i.headers, bucket), bucket.name, key, ctx)
        const type = i.headers['x-amz-checksum-type']?.toUpperCase()
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html#ChecksumTypes
        if (type !== undefined && type !== 'FULL_OBJECT' && type !== 'COMPOSITE') throw s3Errors.invalidRequest('Value for x-amz-checksum-type header is invalid.')
        if (type === 'FULL_OBJECT' && alg !== undefined && !isCrc(alg.toUpperCase() as ChecksumAlgorithm))
          throw s3Errors.invalidRequest(`The FULL_OBJECT checksum type cannot be used with the ${alg.toLowerCase()} checksum algorithm.`)
        if (type === 'COMPOSITE' && alg?.toUpperCase() === 'CRC64NVME') throw s3Errors.invalidRequest('The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.')
        const upload: UploadRecord = {
          uploadId: model.newUploadId(),
          bucket: bucket.name,
          key,
          initiated: Date.now(),
          initiator: { arn: ctx.caller.principal.arn, userId: ctx.caller.userId },
          sse: record,
          checksumAlgorithm: alg ? (alg.toUpperCase() as ChecksumAlgorithm) : undefined,
          checksumType: type === 'FULL_OBJECT' || type === 'COMPOSITE' ? type : alg ? (alg.toUpperCase() === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE') : undefined,
          parts: {},
          ...objectHeadersFrom(i.headers),
        }
        model.saveUpload(upload)
        return {
          headers: {
            ...sseHeaders(record),
            'x-amz-checksum-algorithm': upload.checksumAlgorithm,
            'x-amz-checksum-type': upload.checksumType,
          },
          xml: { root: 'InitiateMultipartUploadResult', body: { Bucket: bucket.name, Key: key, UploadId: upload.uploadId } },
        }
      },
    }),

    UploadPart: op({
      authorize: (i, ctx) => [check(ctx, 's3:PutObject', i.Bucket, i.Key ?? '')],
      run: async (i, ctx) => {
        const { model, sse, bucket, partNumber, upload } = partOf(i, ctx)
        // The part is encrypted under the upload's data key, which S3 must decrypt as the caller:
        // why AWS requires kms:Decrypt for multipart SSE-KMS uploads.
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
        const dataKey = await sse.objectKey(upload.sse, bucket.name, ctx)
        const target = model.newDataFile(bucket.name)
        const got = await ingestBody(i, ctx, dataKey, target.path)
        const part = storePart(model, upload, partNumber, target, { ...got.temp, size: got.size }, got.md5, (current) =>
          got.checksum && (!current.checksumAlgorithm || current.checksumAlgorithm === got.checksum.algorithm) ? got.checksum.value : undefined,
        )
        return {
          headers: {
            etag: part.etag,
            ...sseHeaders(upload.sse),
            ...(got.checksum ? { [headerFor(got.checksum.algorithm)]: got.checksum.value } : {}),
          },
        }
      },
    }),

    UploadPartCopy: op({
      authorize: (i, ctx) => {
        const src = copySource(i.headers['x-amz-copy-source'])
        return [check(ctx, 's3:GetObject', src.bucket, src.key), check(ctx, 's3:PutObject', i.Bucket, i.Key ?? '')]
      },
      run: async (i, ctx) => {
        const { model, sse, bucket, partNumber, upload } = partOf(i, ctx)
        const src = copySource(i.headers['x-amz-copy-source'])
        const srcMeta = model.getObject(model.bucket(src.bucket).name, src.key)
        if (!srcMeta) throw s3Errors.noSuchKey(src.key)
        copyPreconditions(srcMeta, i.headers)
        let start = 0
        let end = srcMeta.size - 1
        const rangeHeader = i.headers['x-amz-copy-source-range']
        if (rangeHeader !== undefined) {
          const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim())
          if (!m || Number(m[1]) > Number(m[2]))
            throw s3Errors.invalidArgument('The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', 'x-amz-copy-source-range', rangeHeader)
          start = Number(m[1])
          end = Number(m[2])
          if (end >= srcMeta.size) throw s3Errors.invalidRequest(`The specified copy range is invalid for the source object size: ${srcMeta.size}`)
        }
        // Read the source as the caller (kms:Decrypt), write under the upload's data key (kms:Decrypt again).
        const srcKey = await sse.objectKey(srcMeta.sse, src.bucket, ctx)
        const dataKey = await sse.objectKey(upload.sse, bucket.name, ctx)
        const md5 = createHash('md5')
        const checksummer = upload.checksumAlgorithm ? createChecksummer(upload.checksumAlgorithm) : undefined
        const digest = digestOf(md5, checksummer)
        const target = model.newDataFile(bucket.name)
        const temp = await writeEncryptedTemp(readPlaintext(model.root, srcKey, srcMeta.blobs, start, end), dataKey, target.path, [digest])
        const part = storePart(model, upload, partNumber, target, temp, md5.digest('hex'), () => checksummer?.digest())
        return {
          headers: sseHeaders(upload.sse),
          xml: {
            root: 'CopyPartResult',
            body: {
              ETag: part.etag,
              LastModified: new Date(part.lastModified),
              ...(part.checksum && upload.checksumAlgorithm ? { [`Checksum${upload.checksumAlgorithm}`]: part.checksum } : {}),
            },
          },
        }
      },
    }),

    CompleteMultipartUpload: op({
      authorize: (i, ctx) => [check(ctx, 's3:PutObject', i.Bucket, i.Key ?? '')],
      run: async (i, ctx) => {
        const { model } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        const upload = model.upload(bucket.name, key, i.query.uploadId)
        const doc = parseXml(await document(i, ctx), 'CompleteMultipartUpload')
        const listed = xmlList<Record<string, unknown>>(doc.Part)
        if (listed.length === 0) throw s3Errors.malformedXml()
        const parts: PartRecord[] = []
        let previousNumber = 0
        for (const p of listed) {
          const n = Number(p.PartNumber)
          if (!Number.isInteger(n) || n <= previousNumber) throw s3Errors.invalidPartOrder()
          previousNumber = n
          const stored = upload.parts[String(n)]
          if (!stored || unquote(text(p.ETag ?? '')) !== unquote(stored.etag)) throw s3Errors.invalidPart(n)
          if (upload.checksumAlgorithm) {
            const claimed = p[`Checksum${upload.checksumAlgorithm}`]
            if (claimed !== undefined && claimed !== stored.checksum) throw s3Errors.invalidPart(n)
          }
          parts.push(stored)
        }
        parts.forEach((p, idx) => {
          if (idx < parts.length - 1 && p.size < MIN_PART_SIZE) throw s3Errors.entityTooSmall(p.partNumber, p.size)
        })
        writePreconditions(model.getObject(bucket.name, key), i.headers, key)
        const md5s = Buffer.concat(parts.map((p) => Buffer.from(unquote(p.etag), 'hex')))
        const etag = quoteEtag(`${hash('md5', md5s, 'hex')}-${parts.length}`)
        const alg = upload.checksumAlgorithm
        let checksum: ObjectMeta['checksum']
        if (alg && parts.every((p) => p.checksum)) {
          if (upload.checksumType === 'FULL_OBJECT') {
            const value = fullObjectChecksum(alg, parts.map((p) => ({ checksum: p.checksum!, size: p.size })))
            const claimed = i.headers[headerFor(alg)]
            if (claimed !== undefined && claimed !== value) throw s3Errors.badDigest(alg)
            checksum = { algorithm: alg, value, type: 'FULL_OBJECT' }
          } else checksum = { algorithm: alg, value: compositeChecksum(alg, parts.map((p) => p.checksum!)), type: 'COMPOSITE' }
        }
        const meta: ObjectMeta = {
          key,
          size: parts.reduce((s, p) => s + p.size, 0),
          etag,
          lastModified: Date.now(),
          contentType: upload.contentType,
          contentEncoding: upload.contentEncoding,
          contentDisposition: upload.contentDisposition,
          contentLanguage: upload.contentLanguage,
          cacheControl: upload.cacheControl,
          expires: upload.expires,
          userMetadata: upload.userMetadata,
          tags: upload.tags,
          checksum,
          sse: upload.sse,
          blobs: parts.map((p) => p.blob),
          partsCount: parts.length,
        }
        model.putObject(bucket.name, meta)
        model.finishUpload(upload, meta.blobs)
        return {
          headers: sseHeaders(upload.sse),
          xml: {
            root: 'CompleteMultipartUploadResult',
            body: {
              Location: `/${bucket.name}/${encodeURIComponent(key).replace(/%2F/g, '/')}`,
              Bucket: bucket.name,
              Key: key,
              ETag: etag,
              ...(checksum ? { [`Checksum${checksum.algorithm}`]: checksum.value, ChecksumType: checksum.type } : {}),
            },
          },
        }
      },
    }),

    AbortMultipartUpload: op({
      authorize: (i, ctx) => [check(ctx, 's3:AbortMultipartUpload', i.Bucket, i.Key ?? '')],
      run: (i, ctx) => {
        const { model } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        model.abortUpload(model.upload(bucket.name, requireKey(i), i.query.uploadId))
        return { status: 204 }
      },
    }),
  }
}

function partNumberOf(i: S3Input): number {
  const partNumber = Number(i.query.partNumber)
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000)
    throw s3Errors.invalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', i.query.partNumber ?? '')
  return partNumber
}

/** Commits a part written beside `target` and records it, unless the upload was completed or aborted while it streamed in; a part sent again replaces the earlier one. */
function storePart(
  model: S3Model,
  upload: UploadRecord,
  partNumber: number,
  target: { file: string; path: string },
  temp: TempBlob,
  md5Hex: string,
  checksum: (current: UploadRecord) => string | undefined,
): PartRecord {
  let current: UploadRecord
  try {
    current = model.upload(upload.bucket, upload.key, upload.uploadId)
  } catch (err) {
    discardTemp(temp.tempPath)
    throw err
  }
  commitTemp(temp.tempPath, target.path)
  const previous = current.parts[String(partNumber)]
  const part: PartRecord = {
    partNumber,
    size: temp.size,
    etag: etagFor(md5Hex, current.sse),
    lastModified: Date.now(),
    checksum: checksum(current),
    blob: { file: target.file, size: temp.size, noncePrefix: temp.noncePrefix },
  }
  current.parts[String(partNumber)] = part
  model.saveUpload(current)
  if (previous) discardTemp(model.absolute(previous.blob.file))
  return part
}
