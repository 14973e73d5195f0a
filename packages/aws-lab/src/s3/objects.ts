// S3's object operations: write, read, describe, delete and copy one object.
import { createHash } from 'node:crypto'
import { AwsError, text } from '../core/types.js'
import { parseXml, xmlList, type XmlObject } from '../core/protocols/rest-xml.js'
import { createChecksummer, headerFor, isChecksumAlgorithm, type ChecksumAlgorithm } from './checksums.js'
import { s3Errors } from './errors.js'
import { ingestBody } from './ingest.js'
import type { ObjectMeta } from './model.js'
import { commitTemp, discardTemp, readPlaintext, writeEncryptedTemp } from './object-store.js'
import { checksumHeaders, copyPreconditions, copySource, describeHeaders, digestOf, etagFor, objectHeadersFrom, parseRange, pickHeaders, readPreconditions, sseHeaders, sseRequest, unquote, writePreconditions } from './object-meta.js'
import { document, op, requireKey, sseConditions, type S3Labs, type S3Operations } from './operation.js'
import { requireSigV4ForKms } from './sse.js'

export function objectOperations({ lab, check }: S3Labs): S3Operations {
  return {
    PutObject: op({
      authorize: (i, ctx) => [check(ctx, 's3:PutObject', i.Bucket, i.Key ?? '', sseConditions(i.headers))],
      run: async (i, ctx) => {
        const { model, sse } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        writePreconditions(model.getObject(bucket.name, key), i.headers, key)
        const { dataKey, record } = await sse.newObjectKey(sseRequest(i.headers, bucket), bucket.name, key, ctx)
        const target = model.newDataFile(bucket.name)
        const got = await ingestBody(i, ctx, dataKey, target.path)
        try {
          // Conditions are checked again at commit: another writer may have won meanwhile.
          writePreconditions(model.getObject(bucket.name, key), i.headers, key)
        } catch (err) {
          discardTemp(got.temp.tempPath)
          throw err
        }
        commitTemp(got.temp.tempPath, target.path)
        const meta: ObjectMeta = {
          key,
          size: got.size,
          etag: etagFor(got.md5, record),
          lastModified: Date.now(),
          ...objectHeadersFrom(i.headers),
          checksum: got.checksum ? { ...got.checksum, type: 'FULL_OBJECT' } : undefined,
          sse: record,
          blobs: [{ file: target.file, size: got.size, noncePrefix: got.temp.noncePrefix }],
        }
        model.putObject(bucket.name, meta)
        return {
          headers: {
            etag: meta.etag,
            ...sseHeaders(record),
            ...(got.checksum ? { [headerFor(got.checksum.algorithm)]: got.checksum.value, 'x-amz-checksum-type': 'FULL_OBJECT' } : {}),
          },
        }
      },
    }),

    GetObject: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:GetObject', i.Bucket, i.Key ?? '')],
      run: async (i, ctx) => {
        const { model, sse } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        const meta = model.getObject(bucket.name, key)
        if (!meta) throw s3Errors.noSuchKey(key)
        if (readPreconditions(meta, i.headers) === 304) return { status: 304, headers: { 'etag': meta.etag, 'last-modified': new Date(meta.lastModified).toUTCString() } }
        const range = parseRange(i.headers.range, meta.size)
        // S3 asks KMS for the data key as the caller: without kms:Decrypt the read fails here.
        const dataKey = await sse.objectKey(meta.sse, bucket.name, ctx)
        const start = range?.start ?? 0
        const end = range?.end ?? meta.size - 1
        const headers: Record<string, string | number | undefined> = {
          ...describeHeaders(meta, i.query),
          'content-length': meta.size === 0 ? 0 : end - start + 1,
          ...(range ? { 'content-range': `bytes ${start}-${end}/${meta.size}` } : checksumHeaders(meta, i.headers)),
        }
        return { status: range ? 206 : 200, headers, stream: readPlaintext(model.root, dataKey, meta.blobs, start, end) }
      },
    }),

    HeadObject: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:GetObject', i.Bucket, i.Key ?? '')],
      run: (i, ctx) => {
        const { model } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        const meta = model.getObject(bucket.name, key)
        if (!meta) throw new AwsError('NotFound', 'Not Found', 404)
        if (meta.sse.algorithm === 'aws:kms') requireSigV4ForKms(ctx)
        if (readPreconditions(meta, i.headers) === 304) return { status: 304, headers: { etag: meta.etag } }
        const range = parseRange(i.headers.range, meta.size)
        return {
          status: range ? 206 : 200,
          headers: {
            ...describeHeaders(meta, i.query),
            'content-length': range ? range.end - range.start + 1 : meta.size,
            ...(range ? { 'content-range': `bytes ${range.start}-${range.end}/${meta.size}` } : checksumHeaders(meta, i.headers)),
          },
        }
      },
    }),

    GetObjectTagging: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:GetObjectTagging', i.Bucket, i.Key ?? '')],
      run: (i, ctx) => {
        const { model } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        const meta = model.getObject(bucket.name, key)
        if (!meta) throw s3Errors.noSuchKey(key)
        return { xml: { root: 'Tagging', body: { TagSet: { Tag: Object.entries(meta.tags ?? {}).map(([Key, Value]) => ({ Key, Value })) } } } }
      },
    }),

    DeleteObject: op({
      authorize: (i, ctx) => [check(ctx, 's3:DeleteObject', i.Bucket, i.Key ?? '')],
      run: (i, ctx) => {
        const { model } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        const existing = model.getObject(bucket.name, key)
        if (i.headers['if-match'] !== undefined && existing && unquote(i.headers['if-match']) !== unquote(existing.etag)) throw s3Errors.preconditionFailed('If-Match')
        model.deleteObject(bucket.name, key)
        return { status: 204 }
      },
    }),

    DeleteObjects: op({
      // S3 authorises s3:DeleteObject per key and reports a denied key in the result, not as a failed request.
      authorize: () => [],
      run: async (i, ctx) => {
        const { model } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const doc = parseXml(await document(i, ctx), 'Delete')
        const quiet = text(doc.Quiet ?? 'false') === 'true'
        const objects = xmlList<Record<string, unknown>>(doc.Object)
        if (objects.length > 1000) throw s3Errors.malformedXml()
        const deleted: XmlObject[] = []
        const errors: XmlObject[] = []
        for (const o of objects) {
          const key = text(o.Key ?? '')
          try {
            await ctx.invoke('s3', 'DeleteObject', { Bucket: bucket.name, Key: key, query: {}, headers: {} })
            if (!quiet) deleted.push({ Key: key })
          } catch (err) {
            if (!(err instanceof AwsError)) throw err
            errors.push({ Key: key, Code: err.code, Message: err.message })
          }
        }
        return { xml: { root: 'DeleteResult', body: { Deleted: deleted, Error: errors } } }
      },
    }),

    CopyObject: op({
      authorize: (i, ctx) => {
        const src = copySource(i.headers['x-amz-copy-source'])
        return [check(ctx, 's3:GetObject', src.bucket, src.key), check(ctx, 's3:PutObject', i.Bucket, i.Key ?? '', sseConditions(i.headers))]
      },
      run: async (i, ctx) => {
        const { model, sse } = lab(ctx)
        const src = copySource(i.headers['x-amz-copy-source'])
        const srcBucket = model.bucket(src.bucket)
        const srcMeta = model.getObject(srcBucket.name, src.key)
        if (!srcMeta) throw s3Errors.noSuchKey(src.key)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        copyPreconditions(srcMeta, i.headers)
        const replace = (i.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE'
        if (srcBucket.name === bucket.name && src.key === key && !replace && i.headers['x-amz-server-side-encryption'] === undefined) {
          throw s3Errors.invalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
          )
        }
        // Read the source as the caller (kms:Decrypt), write under the destination's settings (kms:GenerateDataKey).
        const srcKey = await sse.objectKey(srcMeta.sse, srcBucket.name, ctx)
        const { dataKey, record } = await sse.newObjectKey(sseRequest(i.headers, bucket), bucket.name, key, ctx)
        const algHeader = i.headers['x-amz-checksum-algorithm']
        const algorithm: ChecksumAlgorithm | undefined = isChecksumAlgorithm(algHeader) ? (algHeader.toUpperCase() as ChecksumAlgorithm) : srcMeta.checksum?.algorithm
        const checksummer = algorithm ? createChecksummer(algorithm) : undefined
        const md5 = createHash('md5')
        const digest = digestOf(md5, checksummer)
        const target = model.newDataFile(bucket.name)
        const temp = await writeEncryptedTemp(readPlaintext(model.root, srcKey, srcMeta.blobs, 0, srcMeta.size - 1), dataKey, target.path, [digest])
        commitTemp(temp.tempPath, target.path)
        const headers = replace ? objectHeadersFrom(i.headers) : { ...pickHeaders(srcMeta) }
        const meta: ObjectMeta = {
          key,
          size: temp.size,
          etag: etagFor(md5.digest('hex'), record),
          lastModified: Date.now(),
          ...headers,
          checksum: algorithm && checksummer ? { algorithm, value: checksummer.digest(), type: 'FULL_OBJECT' } : undefined,
          sse: record,
          blobs: [{ file: target.file, size: temp.size, noncePrefix: temp.noncePrefix }],
        }
        model.putObject(bucket.name, meta)
        return {
          headers: sseHeaders(record),
          xml: {
            root: 'CopyObjectResult',
            body: {
              ETag: meta.etag,
              LastModified: new Date(meta.lastModified),
              ...(meta.checksum ? { ChecksumType: 'FULL_OBJECT', [`Checksum${meta.checksum.algorithm}`]: meta.checksum.value } : {}),
            },
          },
        }
      },
    }),
  }
}
