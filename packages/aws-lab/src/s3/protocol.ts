// S3's REST-XML protocol, path-style: `/{bucket}/{key…}` plus sub-resources in the query string.
// HTTP → operation input, and S3Output → HTTP. Authorisation and rules live in service.ts/model.ts.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { AwsError, type ParsedCall, type ProtocolHandler } from '../core/types.js'
import { toXml, writeXmlError } from '../core/protocols/rest-xml.js'
import { bucketConfigOperation } from './bucket-config.js'
import type { S3Input, S3Output } from './messages.js'

function has(q: Record<string, string>, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(q, name)
}

const UNSUPPORTED_SUBRESOURCES = new Set([
  'acl', 'tagging', 'versioning', 'versions', 'cors', 'lifecycle', 'logging', 'notification', 'replication', 'website', 'accelerate',
  'requestPayment', 'object-lock', 'retention', 'legal-hold', 'attributes', 'torrent', 'select', 'restore', 'ownershipControls',
  'publicAccessBlock', 'analytics', 'inventory', 'metrics', 'intelligent-tiering', 'policyStatus', 'session',
])

/** Which S3 operation a path-style request is. */
export function operationOf(method: string, bucket: string | undefined, key: string | undefined, q: Record<string, string>, headers: Record<string, string>): string {
  if (!bucket) {
    if (method === 'GET') return 'ListBuckets'
    throw new AwsError('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405)
  }
  const config = bucketConfigOperation(method, key, q)
  if (config) return config
  // Sub-resources the lab does not serve must not fall through to a listing or an object read.
  const unsupported = Object.keys(q).find((name) => UNSUPPORTED_SUBRESOURCES.has(name) && !(name === 'tagging' && key !== undefined && method === 'GET'))
  if (unsupported) throw new AwsError('NotImplemented', `A header or query you provided implies functionality that is not implemented: ?${unsupported}`, 501)
  if (key === undefined) {
    switch (method) {
      case 'GET':
        if (has(q, 'encryption')) return 'GetBucketEncryption'
        if (has(q, 'policy')) return 'GetBucketPolicy'
        if (has(q, 'uploads')) return 'ListMultipartUploads'
        if (has(q, 'location')) return 'GetBucketLocation'
        if (q['list-type'] === '2') return 'ListObjectsV2'
        return 'ListObjects'
      case 'HEAD':
        return 'HeadBucket'
      case 'PUT':
        if (has(q, 'encryption')) return 'PutBucketEncryption'
        if (has(q, 'policy')) return 'PutBucketPolicy'
        return 'CreateBucket'
      case 'DELETE':
        if (has(q, 'encryption')) return 'DeleteBucketEncryption'
        if (has(q, 'policy')) return 'DeleteBucketPolicy'
        return 'DeleteBucket'
      case 'POST':
        if (has(q, 'delete')) return 'DeleteObjects'
    }
    throw new AwsError('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405)
  }
  switch (method) {
    case 'GET':
      if (has(q, 'tagging')) return 'GetObjectTagging'
      return has(q, 'uploadId') ? 'ListParts' : 'GetObject'
    case 'HEAD':
      return 'HeadObject'
    case 'PUT':
      if (has(q, 'uploadId') || has(q, 'partNumber')) return headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart'
      if (headers['x-amz-copy-source']) return 'CopyObject'
      return 'PutObject'
    case 'DELETE':
      return has(q, 'uploadId') ? 'AbortMultipartUpload' : 'DeleteObject'
    case 'POST':
      if (has(q, 'uploads')) return 'CreateMultipartUpload'
      if (has(q, 'uploadId')) return 'CompleteMultipartUpload'
  }
  throw new AwsError('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405)
}

/** `/bucket/key…` → bucket and key, percent-decoded; the key keeps every slash. */
export function splitPath(pathname: string): { bucket?: string; key?: string } {
  const path = pathname.startsWith('/') ? pathname.slice(1) : pathname
  if (path === '') return {}
  const slash = path.indexOf('/')
  if (slash === -1) return { bucket: decodeURIComponent(path) }
  const rawKey = path.slice(slash + 1)
  return { bucket: decodeURIComponent(path.slice(0, slash)), key: rawKey === '' ? undefined : decodeURIComponent(rawKey) }
}

function headerMap(req: IncomingMessage): Record<string, string> {
  // Keyed by what the client sent: no prototype, so a header named `constructor` is just a header.
  const out = Object.create(null) as Record<string, string>
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value
  }
  return out
}

function resourceOf(call: ParsedCall | undefined): string | undefined {
  const input = call?.input as S3Input | undefined
  if (!input?.Bucket) return undefined
  return input.Key !== undefined ? `/${input.Bucket}/${input.Key}` : `/${input.Bucket}`
}

export const s3Protocol: ProtocolHandler = {
  bodyMode: 'stream',

  // S3 takes whatever the JSON (X-Amz-Target) and query (Action=) protocols do not.
  matches(req: IncomingMessage): boolean {
    if (req.headers['x-amz-target']) return false
    const url = new URL(req.url ?? '/', 'http://lab')
    if (url.pathname === '/' && (url.searchParams.has('Action') || (req.method === 'POST' && /x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')))) return false
    return true
  },

  parse(req: IncomingMessage, body: Buffer | Readable): ParsedCall {
    const url = new URL(req.url ?? '/', 'http://lab')
    // The path as sent: URL's pathname resolves `.` and `..` (and %2E%2E), and S3 keeps them, so `a/../b` is its own key.
    const rawUrl = req.url ?? '/'
    const rawPath = rawUrl.split('?', 1)[0]
    const query = Object.create(null) as Record<string, string>
    for (const [k, v] of url.searchParams) query[k] = v
    const headers = headerMap(req)
    let bucket: string | undefined
    let key: string | undefined
    try {
      ;({ bucket, key } = splitPath(rawPath))
    } catch {
      throw new AwsError('InvalidURI', "Couldn't parse the specified URI.", 400)
    }
    const operation = operationOf(req.method ?? 'GET', bucket, key, query, headers)
    const stream = Buffer.isBuffer(body) ? Readable.from([body]) : body
    const input: S3Input = { Bucket: bucket, Key: key, query, headers, body: stream }
    return { service: 's3', operation, input }
  },

  async writeResult(res: ServerResponse, call: ParsedCall, output: S3Output | undefined): Promise<void> {
    const out: S3Output = output ?? {}
    res.statusCode = out.status ?? 200
    // S3 names every answer, success or error, with these two (errors set them in writeXmlError).
    const requestId = String(res.getHeader('x-amzn-requestid') ?? '')
    res.setHeader('x-amz-request-id', requestId)
    res.setHeader('x-amz-id-2', Buffer.from(requestId).toString('base64'))
    for (const [name, value] of Object.entries(out.headers ?? {})) {
      if (value === undefined || value === '') continue
      res.setHeader(name, String(value))
    }
    const head = (call.input as S3Input | undefined)?.headers && res.req?.method === 'HEAD'
    if (out.xml) {
      const xml = toXml(out.xml.root, out.xml.body)
      res.setHeader('content-type', 'application/xml')
      res.setHeader('content-length', Buffer.byteLength(xml))
      res.end(xml)
      return
    }
    if (out.text !== undefined) {
      res.setHeader('content-type', out.contentType ?? 'application/json')
      res.setHeader('content-length', Buffer.byteLength(out.text))
      res.end(out.text)
      return
    }
    if (out.stream && !head) {
      try {
        await pipeline(out.stream, res)
      } catch (err) {
        // The status line is gone already: cut the connection so the client sees a short body.
        out.stream.destroy()
        res.destroy(err as Error)
      }
      return
    }
    out.stream?.destroy()
    if (!res.hasHeader('content-length') && res.statusCode !== 304 && res.statusCode !== 204) res.setHeader('content-length', 0)
    res.end()
  },

  writeError(res: ServerResponse, call: ParsedCall | undefined, err: AwsError, requestId: string): void {
    writeXmlError(res, err, requestId, resourceOf(call), res.req?.method === 'HEAD')
  },
}
