// S3's operations: authorisation checks as AWS maps them (actions, resources, condition keys, the
// bucket policy as resource policy), then the rules, over the model, SSE and the object store.
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
import { createHash, randomBytes } from 'node:crypto'
import { parsePolicy } from '@kms-share/policy'
import type { NamedPolicy, RequestContext } from '@kms-share/policy'
import { AwsError, type AuthCheck, type Operation, type OperationContext, type ProtocolHandler, type ServiceDefinition } from '../core/types.js'
import { parseXml, S3_XMLNS, xmlList, type XmlObject } from '../core/protocols/rest-xml.js'
import { compositeChecksum, createChecksummer, fullObjectChecksum, headerFor, isChecksumAlgorithm, isCrc, type ChecksumAlgorithm } from './checksums.js'
import { s3Errors } from './errors.js'
import { refusedFindings } from '../iam/admission.js'
import { ingestBody } from './ingest.js'
import { S3Model, type BucketRecord, type ObjectHeaders, type ObjectMeta, type PartRecord, type UploadRecord } from './model.js'
import { commitTemp, discardTemp, readPlaintext, writeEncryptedTemp } from './object-store.js'
import { readDocument, s3Protocol, type S3Input, type S3Output } from './protocol.js'
import { SseKeys, requireSigV4ForKms, type SseRecord, type SseRequest } from './sse.js'
import { Transform, type TransformCallback } from 'node:stream'

const MIN_PART_SIZE = 5 * 1024 * 1024
const MAX_KEY_BYTES = 1024

export interface S3Lab {
  service: ServiceDefinition
  protocol: ProtocolHandler
  /** KMS calls S3 made for callers (GenerateDataKey, Decrypt), for the benchmark. */
  kmsCalls(): { GenerateDataKey: number; Decrypt: number }
}

const bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`
const objectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`

function canonicalId(accountId: string): string {
  return createHash('sha256').update(`aws-lab:${accountId}`).digest('hex')
}

function quoteEtag(hex: string): string {
  return `"${hex}"`
}

/** SSE-KMS objects' ETags are "not an MD5 digest of their object data" (S3 API, Object): derived from it with a random salt, stable once stored. */
function etagFor(md5Hex: string, sse: SseRecord): string {
  if (sse.algorithm !== 'aws:kms') return quoteEtag(md5Hex)
  return quoteEtag(createHash('md5').update(md5Hex).update(randomBytes(16)).digest('hex'))
}

function unquote(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '')
}

export function createS3(): S3Lab {
  const models = new Map<string, { model: S3Model; sse: SseKeys }>()

  function lab(ctx: OperationContext): { model: S3Model; sse: SseKeys } {
    let entry = models.get(ctx.state.dataDir)
    if (!entry) {
      const model = new S3Model(ctx.state)
      const sse = new SseKeys(model.root)
      entry = { model, sse }
      models.set(ctx.state.dataDir, entry)
    }
    return entry
  }

  function policyOf(bucket: BucketRecord | undefined): NamedPolicy | undefined {
    return bucket?.policy ? { name: `bucket-policy:${bucket.name}`, document: bucket.policy.document } : undefined
  }

  /** One check against a bucket's resources, with its policy as the resource policy (missing buckets: identity policies only). */
  function check(ctx: OperationContext, action: string, bucketName: string | undefined, key: string | undefined, context: RequestContext = {}): AuthCheck {
    const bucket = lab(ctx).model.findBucket(bucketName)
    return {
      action,
      resource: key !== undefined ? objectArn(bucketName ?? '', key) : bucketArn(bucketName ?? ''),
      resourcePolicy: policyOf(bucket),
      resourceAccount: ctx.iam.accountId,
      resourcePolicyRequired: false,
      context,
    }
  }

  function sseConditions(headers: Record<string, string>): RequestContext {
    const c: RequestContext = {}
    if (headers['x-amz-server-side-encryption']) c['s3:x-amz-server-side-encryption'] = headers['x-amz-server-side-encryption']
    if (headers['x-amz-server-side-encryption-aws-kms-key-id']) c['s3:x-amz-server-side-encryption-aws-kms-key-id'] = headers['x-amz-server-side-encryption-aws-kms-key-id']
    return c
  }

  function requireKey(input: S3Input): string {
    const key = input.Key
    if (key === undefined || key === '') throw s3Errors.invalidArgument('A key must be specified')
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new AwsError('KeyTooLongError', 'Your key is too long', 400)
    return key
  }

  /** What SSE a write asks for: request headers first, then the bucket default, then SSE-S3. */
  function sseRequest(headers: Record<string, string>, bucket: BucketRecord): SseRequest {
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

  function sseHeaders(sse: SseRecord): Record<string, string | undefined> {
    return {
      'x-amz-server-side-encryption': sse.algorithm,
      'x-amz-server-side-encryption-aws-kms-key-id': sse.kmsKeyArn,
      'x-amz-server-side-encryption-bucket-key-enabled': sse.bucketKeyEnabled ? 'true' : undefined,
      'x-amz-server-side-encryption-context': sse.callerContext,
    }
  }

  function objectHeadersFrom(headers: Record<string, string>): ObjectHeaders {
    const userMetadata: Record<string, string> = Object.create(null)
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

  function describeHeaders(meta: ObjectMeta, query: Record<string, string> = {}): Record<string, string | number | undefined> {
    const out: Record<string, string | number | undefined> = {
      'last-modified': new Date(meta.lastModified).toUTCString(),
      etag: meta.etag,
      'content-type': query['response-content-type'] ?? meta.contentType,
      'content-encoding': query['response-content-encoding'] ?? meta.contentEncoding,
      'content-disposition': query['response-content-disposition'] ?? meta.contentDisposition,
      'content-language': query['response-content-language'] ?? meta.contentLanguage,
      'cache-control': query['response-cache-control'] ?? meta.cacheControl,
      expires: query['response-expires'] ?? meta.expires,
      'accept-ranges': 'bytes',
      ...sseHeaders(meta.sse),
    }
    if (meta.partsCount) out['x-amz-mp-parts-count'] = meta.partsCount
    for (const [k, v] of Object.entries(meta.userMetadata)) out[`x-amz-meta-${k}`] = v
    return out
  }

  function checksumHeaders(meta: ObjectMeta, headers: Record<string, string>): Record<string, string | undefined> {
    if (!meta.checksum || (headers['x-amz-checksum-mode'] ?? '').toUpperCase() !== 'ENABLED') return {}
    return { [headerFor(meta.checksum.algorithm)]: meta.checksum.value, 'x-amz-checksum-type': meta.checksum.type }
  }

  /** If-Match / If-None-Match / If-(Un)Modified-Since on reads, as RFC 7232 orders them. */
  function readPreconditions(meta: ObjectMeta, headers: Record<string, string>): 304 | undefined {
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
  function writePreconditions(existing: ObjectMeta | undefined, headers: Record<string, string>, key: string): void {
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
  function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
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

  function ownerXml(ctx: OperationContext): XmlObject {
    return { DisplayName: 'lab', ID: canonicalId(ctx.iam.accountId) }
  }

  /** Verifies a small request document against the signed payload hash (S3 cannot trust an unsigned claim). */
  async function document(input: S3Input, ctx: OperationContext): Promise<Buffer> {
    const doc = await readDocument(input.body)
    const claim = ctx.meta.sigv4?.payloadHash
    if (claim && /^[0-9a-f]{64}$/i.test(claim)) {
      const computed = createHash('sha256').update(doc).digest('hex')
      if (computed !== claim.toLowerCase()) throw s3Errors.sha256Mismatch(claim, computed)
    }
    const md5 = input.headers['content-md5']
    if (md5 !== undefined && createHash('md5').update(doc).digest('base64') !== md5) throw s3Errors.badContentMd5()
    return doc
  }

  function urlEncoded(input: S3Input): (s: string) => string {
    return input.query['encoding-type'] === 'url' ? (s) => encodeURIComponent(s).replace(/%2F/g, '/') : (s) => s
  }

  /** One page of a bucket listing, shared by ListObjects (marker) and ListObjectsV2 (start-after / continuation token). */
  function listPage(i: S3Input, ctx: OperationContext, after: string | undefined) {
    const { model } = lab(ctx)
    model.bucket(i.Bucket)
    const maxKeys = parseMaxKeys(i.query['max-keys'])
    const prefix = i.query.prefix ?? ''
    const r = model.list(i.Bucket!, { prefix, delimiter: i.query.delimiter || undefined, after, maxKeys })
    return { r, enc: urlEncoded(i), maxKeys, prefix }
  }

  // ── operations ──

  // Inputs from invoke() (the seed) may lack the wire parts: give every operation the same shape.
  const normalise = (i: S3Input): S3Input => {
    i.query ??= {}
    i.headers ??= {}
    return i
  }
  const op = (o: Operation<S3Input, S3Output | void>): Operation<S3Input, S3Output | void> => ({
    requestParameters: (input) => {
      const p: Record<string, unknown> = { bucketName: input.Bucket, Host: 's3.amazonaws.com' }
      if (input.Key !== undefined) p.key = input.Key
      return p
    },
    readOnly: o.readOnly,
    authorize: (i, ctx) => o.authorize(normalise(i), ctx),
    run: (i, ctx) => o.run(normalise(i), ctx),
  })

  const operations: Record<string, Operation<S3Input, S3Output | void>> = {
    ListBuckets: op({
      readOnly: true,
      authorize: (_i, ctx) => [{ action: 's3:ListAllMyBuckets', resource: '*', resourceAccount: ctx.iam.accountId }],
      run: (_i, ctx) => ({
        xml: {
          root: 'ListAllMyBucketsResult',
          body: {
            Owner: ownerXml(ctx),
            Buckets: { Bucket: lab(ctx).model.listBuckets().map((b) => ({ Name: b.name, CreationDate: new Date(b.creationDate), BucketRegion: b.region })) },
          },
        },
      }),
    }),

    CreateBucket: op({
      authorize: (i, ctx) => [check(ctx, 's3:CreateBucket', i.Bucket, undefined)],
      run: async (i, ctx) => {
        let constraint = i.CreateBucketConfiguration?.LocationConstraint
        if (i.body && !i.CreateBucketConfiguration) {
          const doc = await document(i, ctx)
          if (doc.length > 0) constraint = String(parseXml(doc, 'CreateBucketConfiguration').LocationConstraint ?? '') || undefined
        }
        if (constraint !== undefined && constraint !== ctx.meta.region) {
          throw new AwsError('IllegalLocationConstraintException', `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to.`, 400)
        }
        lab(ctx).model.createBucket(i.Bucket ?? '', ctx.meta.region)
        return { headers: { location: `/${i.Bucket}` } }
      },
    }),

    HeadBucket: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:ListBucket', i.Bucket, undefined)],
      run: (i, ctx) => {
        const b = lab(ctx).model.bucket(i.Bucket)
        return { headers: { 'x-amz-bucket-region': b.region } }
      },
    }),

    GetBucketLocation: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:GetBucketLocation', i.Bucket, undefined)],
      run: (i, ctx) => {
        const b = lab(ctx).model.bucket(i.Bucket)
        // The constraint is the element's own text; us-east-1 is empty.
        const region = b.region === 'us-east-1' ? '' : b.region
        return { text: `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${S3_XMLNS}">${region}</LocationConstraint>`, contentType: 'application/xml' }
      },
    }),

    DeleteBucket: op({
      authorize: (i, ctx) => [check(ctx, 's3:DeleteBucket', i.Bucket, undefined)],
      run: (i, ctx) => {
        lab(ctx).model.deleteBucket(i.Bucket ?? '')
        return { status: 204 }
      },
    }),

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
        const { r, enc, maxKeys, prefix } = listPage(i, ctx, after)
        return {
          xml: {
            root: 'ListBucketResult',
            body: {
              Name: i.Bucket,
              Prefix: enc(prefix),
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
            },
          },
        }
      },
    }),

    ListObjects: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:ListBucket', i.Bucket, undefined, listConditions(i))],
      run: (i, ctx) => {
        const q = i.query
        const { r, enc, maxKeys, prefix } = listPage(i, ctx, q.marker || undefined)
        return {
          xml: {
            root: 'ListBucketResult',
            body: {
              Name: i.Bucket,
              Prefix: enc(prefix),
              Marker: enc(q.marker ?? ''),
              NextMarker: r.isTruncated && q.delimiter ? enc(r.last ?? '') : undefined,
              MaxKeys: maxKeys,
              Delimiter: q.delimiter ? enc(q.delimiter) : undefined,
              EncodingType: q['encoding-type'],
              IsTruncated: r.isTruncated,
              Contents: r.contents.map((m) => contentsXml(m, enc, ownerXml(ctx))),
              CommonPrefixes: r.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
            },
          },
        }
      },
    }),

    PutBucketEncryption: op({
      authorize: (i, ctx) => [check(ctx, 's3:PutEncryptionConfiguration', i.Bucket, undefined)],
      run: async (i, ctx) => {
        const { model } = lab(ctx)
        model.bucket(i.Bucket)
        const doc = parseXml(await document(i, ctx), 'ServerSideEncryptionConfiguration')
        const rule = xmlList<Record<string, any>>(doc.Rule)[0]
        const def = rule?.ApplyServerSideEncryptionByDefault as Record<string, string> | undefined
        if (!rule || !def) throw s3Errors.malformedXml()
        const algorithm = def.SSEAlgorithm
        if (algorithm !== 'aws:kms' && algorithm !== 'AES256') throw s3Errors.malformedXml()
        if (algorithm === 'AES256' && def.KMSMasterKeyID) throw s3Errors.invalidArgument('a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms', 'ApplyServerSideEncryptionByDefault')
        model.setEncryption(i.Bucket!, { algorithm, kmsKeyId: def.KMSMasterKeyID || undefined, bucketKeyEnabled: String(rule.BucketKeyEnabled ?? 'false') === 'true' })
        return {}
      },
    }),

    GetBucketEncryption: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:GetEncryptionConfiguration', i.Bucket, undefined)],
      run: (i, ctx) => {
        const b = lab(ctx).model.bucket(i.Bucket)
        const e = b.encryption ?? { algorithm: 'AES256' as const, bucketKeyEnabled: false }
        return {
          xml: {
            root: 'ServerSideEncryptionConfiguration',
            body: { Rule: { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: e.algorithm, KMSMasterKeyID: e.kmsKeyId }, BucketKeyEnabled: e.bucketKeyEnabled } },
          },
        }
      },
    }),

    DeleteBucketEncryption: op({
      // AWS authorises DeleteBucketEncryption with s3:PutEncryptionConfiguration.
      authorize: (i, ctx) => [check(ctx, 's3:PutEncryptionConfiguration', i.Bucket, undefined)],
      run: (i, ctx) => {
        lab(ctx).model.setEncryption(i.Bucket ?? '', undefined)
        return { status: 204 }
      },
    }),

    PutBucketPolicy: op({
      authorize: (i, ctx) => [check(ctx, 's3:PutBucketPolicy', i.Bucket, undefined)],
      run: async (i, ctx) => {
        const { model } = lab(ctx)
        model.bucket(i.Bucket)
        const text = (await document(i, ctx)).toString('utf8')
        if (!text.trimStart().startsWith('{')) throw s3Errors.malformedPolicy("Policies must be valid JSON and the first byte must be '{'")
        const parsed = parsePolicy(text)
        const error = parsed.findings.find((f) => f.severity === 'ERROR')
        if (!parsed.document || error) throw s3Errors.malformedPolicy(error?.message ?? 'This policy contains invalid Json')
        // What the linter flags and S3 also refuses (unknown condition operators, malformed principals); unknown keys pass.
        const refused = refusedFindings(text, 'resource', 's3')
        if (refused.some((f) => f.code === 'UNKNOWN_CONDITION_OPERATOR')) throw s3Errors.malformedPolicy('Invalid policy syntax.')
        if (refused.some((f) => /Principal/.test(f.path ?? ''))) throw s3Errors.malformedPolicy('Invalid principal in policy')
        for (const st of parsed.document.Statement) {
          if (!st.Principal && !st.NotPrincipal) throw s3Errors.malformedPolicy('Missing required field Principal')
          const principals = [st.Principal, st.NotPrincipal].flatMap((p) => (p === undefined ? [] : p === '*' ? [] : (p.AWS ?? [])))
          for (const arn of principals) if (arn !== '*' && !/^\d{12}$/.test(arn) && !ctx.iam.principalExists(arn)) throw s3Errors.malformedPolicy('Invalid principal in policy')
          for (const r of [...(st.Resource ?? []), ...(st.NotResource ?? [])]) {
            if (r !== '*' && !r.startsWith(`arn:aws:s3:::${i.Bucket}`)) throw s3Errors.malformedPolicy('Policy has invalid resource')
          }
        }
        model.setPolicy(i.Bucket!, { text, document: parsed.document })
        return { status: 204 }
      },
    }),

    GetBucketPolicy: op({
      readOnly: true,
      authorize: (i, ctx) => [check(ctx, 's3:GetBucketPolicy', i.Bucket, undefined)],
      run: (i, ctx) => {
        const b = lab(ctx).model.bucket(i.Bucket)
        if (!b.policy) throw s3Errors.noSuchBucketPolicy(b.name)
        return { text: b.policy.text, contentType: 'application/json' }
      },
    }),

    DeleteBucketPolicy: op({
      authorize: (i, ctx) => [check(ctx, 's3:DeleteBucketPolicy', i.Bucket, undefined)],
      run: (i, ctx) => {
        lab(ctx).model.setPolicy(i.Bucket ?? '', undefined)
        return { status: 204 }
      },
    }),

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
        if (readPreconditions(meta, i.headers) === 304) return { status: 304, headers: { etag: meta.etag, 'last-modified': new Date(meta.lastModified).toUTCString() } }
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
        const quiet = String(doc.Quiet ?? 'false') === 'true'
        const objects = xmlList<Record<string, unknown>>(doc.Object)
        if (objects.length > 1000) throw s3Errors.malformedXml()
        const deleted: XmlObject[] = []
        const errors: XmlObject[] = []
        for (const o of objects) {
          const key = String(o.Key ?? '')
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
        const digest = new Transform({
          transform(chunk: Buffer, _e, done: TransformCallback) {
            md5.update(chunk)
            checksummer?.update(chunk)
            done(null, chunk)
          },
        })
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
        const { model, sse } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        const partNumber = Number(i.query.partNumber)
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000)
          throw s3Errors.invalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', i.query.partNumber ?? '')
        const upload = model.upload(bucket.name, key, i.query.uploadId)
        // The part is encrypted under the upload's data key, which S3 must decrypt as the caller:
        // why AWS requires kms:Decrypt for multipart SSE-KMS uploads.
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
        const dataKey = await sse.objectKey(upload.sse, bucket.name, ctx)
        const target = model.newDataFile(bucket.name)
        const got = await ingestBody(i, ctx, dataKey, target.path)
        let current: UploadRecord
        try {
          // The upload may have been completed or aborted while this part streamed in.
          current = model.upload(bucket.name, key, i.query.uploadId)
        } catch (err) {
          discardTemp(got.temp.tempPath)
          throw err
        }
        commitTemp(got.temp.tempPath, target.path)
        const previous = current.parts[String(partNumber)]
        const part: PartRecord = {
          partNumber,
          size: got.size,
          etag: etagFor(got.md5, current.sse),
          lastModified: Date.now(),
          checksum: got.checksum && (!current.checksumAlgorithm || current.checksumAlgorithm === got.checksum.algorithm) ? got.checksum.value : undefined,
          blob: { file: target.file, size: got.size, noncePrefix: got.temp.noncePrefix },
        }
        current.parts[String(partNumber)] = part
        model.saveUpload(current)
        if (previous) discardTemp(model.absolute(previous.blob.file))
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
        const { model, sse } = lab(ctx)
        const bucket = model.bucket(i.Bucket)
        const key = requireKey(i)
        const partNumber = Number(i.query.partNumber)
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000)
          throw s3Errors.invalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', i.query.partNumber ?? '')
        const upload = model.upload(bucket.name, key, i.query.uploadId)
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
        const digest = new Transform({
          transform(chunk: Buffer, _e, done: TransformCallback) {
            md5.update(chunk)
            checksummer?.update(chunk)
            done(null, chunk)
          },
        })
        const target = model.newDataFile(bucket.name)
        const temp = await writeEncryptedTemp(readPlaintext(model.root, srcKey, srcMeta.blobs, start, end), dataKey, target.path, [digest])
        let current: UploadRecord
        try {
          current = model.upload(bucket.name, key, i.query.uploadId)
        } catch (err) {
          discardTemp(temp.tempPath)
          throw err
        }
        commitTemp(temp.tempPath, target.path)
        const previous = current.parts[String(partNumber)]
        const part: PartRecord = {
          partNumber,
          size: temp.size,
          etag: etagFor(md5.digest('hex'), current.sse),
          lastModified: Date.now(),
          checksum: checksummer?.digest(),
          blob: { file: target.file, size: temp.size, noncePrefix: temp.noncePrefix },
        }
        current.parts[String(partNumber)] = part
        model.saveUpload(current)
        if (previous) discardTemp(model.absolute(previous.blob.file))
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
          if (!stored || unquote(String(p.ETag ?? '')) !== unquote(stored.etag)) throw s3Errors.invalidPart(n)
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
        const etag = quoteEtag(`${createHash('md5').update(md5s).digest('hex')}-${parts.length}`)
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
              NextPartNumberMarker: page.length ? page[page.length - 1]!.partNumber : marker,
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

  const service: ServiceDefinition = {
    name: 's3',
    signingName: 's3',
    eventSource: 's3.amazonaws.com',
    accessDenied: { code: 'AccessDenied', status: 403 },
    operations,
  }
  return {
    service,
    protocol: s3Protocol,
    kmsCalls: () => {
      const total = { GenerateDataKey: 0, Decrypt: 0 }
      for (const { sse } of models.values()) {
        total.GenerateDataKey += sse.kmsCalls.GenerateDataKey
        total.Decrypt += sse.kmsCalls.Decrypt
      }
      return total
    },
  }
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

function copySource(header: string | undefined): { bucket: string; key: string } {
  if (!header) throw s3Errors.invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source', '')
  const raw = header.split('?')[0]!
  const decoded = decodeURIComponent(raw.startsWith('/') ? raw.slice(1) : raw)
  const slash = decoded.indexOf('/')
  if (slash <= 0 || slash === decoded.length - 1) throw s3Errors.invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source', header)
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) }
}

function copyPreconditions(meta: ObjectMeta, headers: Record<string, string>): void {
  const etag = unquote(meta.etag)
  const m = headers['x-amz-copy-source-if-match']
  if (m !== undefined && !m.split(',').map(unquote).includes(etag)) throw s3Errors.preconditionFailed('x-amz-copy-source-If-Match')
  const n = headers['x-amz-copy-source-if-none-match']
  if (n !== undefined && n.split(',').map(unquote).includes(etag)) throw s3Errors.preconditionFailed('x-amz-copy-source-If-None-Match')
}

function pickHeaders(m: ObjectMeta): ObjectHeaders {
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
