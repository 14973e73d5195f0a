// AWS Signature Version 2 for S3 (legacy, still what boto3's presigned URLs use by default): the
// `Authorization: AWS AKID:signature` header and the `AWSAccessKeyId`/`Signature`/`Expires` query.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { AwsError } from './types.js'
import { expiredToken, invalidSessionToken, signatureMismatch, unknownAccessKey } from './errors.js'
import { MAX_SKEW_MS, type SigningSecret, type VerifiedRequest } from './signing.js'

/** Sub-resources and response overrides that belong to the canonical resource. */
const SUBRESOURCES = new Set([
  'accelerate', 'acl', 'cors', 'defaultObjectAcl', 'location', 'logging', 'partNumber', 'policy', 'requestPayment', 'torrent',
  'versioning', 'versionId', 'versions', 'website', 'uploads', 'uploadId', 'response-content-type', 'response-content-language',
  'response-expires', 'response-cache-control', 'response-content-disposition', 'response-content-encoding', 'delete', 'lifecycle',
  'tagging', 'restore', 'storageClass', 'notification', 'replication', 'analytics', 'metrics', 'inventory', 'select', 'select-type',
  'object-lock', 'encryption',
])

function decode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return value
  }
}

export function isSigV2(req: IncomingMessage, query: Array<[string, string]>): boolean {
  const auth = req.headers.authorization
  if (typeof auth === 'string' && /^AWS [^:\s]+:/.test(auth)) return true
  return !auth && query.some(([k]) => k === 'AWSAccessKeyId') && query.some(([k]) => k === 'Signature')
}

export interface SigV2Options {
  rawPath: string
  rawQuery: string
  query: Array<[string, string]>
  now: Date
  region: string
  lookup(accessKeyId: string): SigningSecret | undefined
}

/** Verifies an S3 SigV2 request; throws S3's answers (403 SignatureDoesNotMatch, AccessDenied "Request has expired" …). */
export function verifySigV2(req: IncomingMessage, opts: SigV2Options): VerifiedRequest {
  const q = (name: string) => opts.query.find(([k]) => k === name)?.[1]
  const header = (name: string) => {
    const v = req.headers[name]
    return Array.isArray(v) ? v.join(',') : v
  }
  const auth = header('authorization')
  const presigned = !auth
  let accessKeyId: string
  let signature: string
  let dateLine: string
  if (!presigned) {
    const m = /^AWS ([^:\s]+):(\S+)$/.exec(auth.trim())
    if (!m) throw new AwsError('InvalidArgument', 'AWS authorization header is invalid.  Expected AwsAccessKeyId:signature', 400, { ArgumentName: 'Authorization', ArgumentValue: auth })
    ;[, accessKeyId, signature] = m
    const amzDate = header('x-amz-date')
    const dateText = amzDate ?? header('date')
    if (!dateText) throw new AwsError('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header', 403)
    const date = new Date(dateText)
    if (Number.isNaN(date.getTime())) throw new AwsError('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header', 403)
    if (Math.abs(opts.now.getTime() - date.getTime()) > MAX_SKEW_MS) {
      throw new AwsError('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', 403)
    }
    // With x-amz-date, the Date line is empty and x-amz-date is signed among the x-amz-* headers.
    dateLine = amzDate !== undefined ? '' : dateText
  } else {
    accessKeyId = q('AWSAccessKeyId')!
    signature = q('Signature')!
    const expires = q('Expires')
    if (expires === undefined || !/^\d+$/.test(expires)) {
      throw new AwsError('AccessDenied', 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters', 403)
    }
    if (opts.now.getTime() > Number(expires) * 1000) {
      throw new AwsError('AccessDenied', 'Request has expired', 403, { Expires: new Date(Number(expires) * 1000).toISOString(), ServerTime: opts.now.toISOString() })
    }
    dateLine = expires
  }

  const secret = opts.lookup(accessKeyId)
  if (!secret) throw unknownAccessKey('s3')

  // x-amz-* headers, and for presigned URLs the x-amz-* query parameters botocore moves there.
  const amz = new Map<string, string[]>()
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase()
    if (name.startsWith('x-amz-')) amz.set(name, [...(amz.get(name) ?? []), req.rawHeaders[i + 1].trim()])
  }
  if (presigned) for (const [k, v] of opts.query) if (k.toLowerCase().startsWith('x-amz-')) amz.set(k.toLowerCase(), [...(amz.get(k.toLowerCase()) ?? []), v.trim()])
  const tokenSent = amz.get('x-amz-security-token')?.[0]
  if (secret.sessionToken !== undefined || tokenSent !== undefined) {
    if (tokenSent !== secret.sessionToken) throw invalidSessionToken('s3')
  }
  if (secret.expiresAt !== undefined && opts.now.getTime() > secret.expiresAt) throw expiredToken('s3')

  const standard = (name: string) => (presigned ? (header(name) ?? q(name) ?? '') : (header(name) ?? '')).trim()
  const amzLines = [...amz.keys()].sort().map((k) => `${k}:${amz.get(k)!.join(',')}\n`).join('')
  const sub = opts.rawQuery
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => {
      const i = p.indexOf('=')
      return i < 0 ? [p, undefined] as const : [p.slice(0, i), decode(p.slice(i + 1))] as const
    })
    .filter(([k]) => SUBRESOURCES.has(k))
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => (v === undefined ? k : `${k}=${v}`))
  const resource = (opts.rawPath || '/') + (sub.length ? `?${sub.join('&')}` : '')
  const stringToSign = `${req.method ?? 'GET'}\n${standard('content-md5')}\n${standard('content-type')}\n${dateLine}\n${amzLines}${resource}`
  const expected = createHmac('sha1', secret.secretAccessKey).update(stringToSign, 'utf8').digest()
  const given = Buffer.from(signature, 'base64')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw signatureMismatch('s3')

  return {
    accessKeyId,
    signingKey: Buffer.alloc(0),
    seedSignature: '',
    scope: '',
    amzDate: '',
    // SigV2 signs no payload hash: S3 takes the body as sent (Content-MD5 when given).
    payloadHash: 'UNSIGNED-PAYLOAD',
    presigned,
    signatureVersion: 2,
    sessionToken: tokenSent,
    region: opts.region,
    service: 's3',
  }
}
