// AWS Signature Version 4 verification: Authorization header and presigned query string.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html
import { createHmac, hash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { AwsError } from './types.js'
import { isSigV2, verifySigV2 } from './sigv2.js'
import { MAX_SKEW_MS, type SigningSecret, type VerifiedRequest } from './signing.js'
import {
  expiredToken,
  incompleteSignature,
  invalidSessionToken,
  missingAuthentication,
  requestExpired,
  signatureMismatch,
  unknownAccessKey,
  type Family,
} from './errors.js'

const ALGORITHM = 'AWS4-HMAC-SHA256'
/** "A presigned URL can be valid for a maximum of seven days" (604800 seconds). */
const MAX_PRESIGN_SECONDS = 604_800

export interface VerifyOptions {
  family: Family
  /** The path as received (still percent-encoded), including any /vpce/… prefix the client signed. */
  rawPath: string
  rawQuery: string
  /** Hex SHA-256 of a buffered body; S3 (streaming) uses the x-amz-content-sha256 claim instead. */
  bodySha256?: string
  now: Date
  lookup: (accessKeyId: string) => SigningSecret | undefined
}

export function sha256Hex(data: Buffer | string): string {
  return hash('sha256', data, 'hex')
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest()

export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request')
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

export function parseRawQuery(rawQuery: string): Array<[string, string]> {
  if (!rawQuery) return []
  return rawQuery
    .split('&')
    .filter((p) => p.length > 0)
    .map((pair) => {
      const i = pair.indexOf('=')
      return i < 0 ? [safeDecode(pair), ''] : [safeDecode(pair.slice(0, i)), safeDecode(pair.slice(i + 1))]
    })
}

function canonicalQuery(pairs: Array<[string, string]>): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
}

/** S3 encodes the path once; every other service encodes the already-encoded path again. */
function canonicalUri(rawPath: string, s3: boolean): string {
  const once = rawPath
    .split('/')
    .map((segment) => uriEncode(safeDecode(segment)))
    .join('/')
  if (s3) return once || '/'
  return once.split('/').map(uriEncode).join('/') || '/'
}

function canonicalHeaders(req: IncomingMessage, signed: string[]): string {
  const values = new Map<string, string[]>()
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase()
    if (!signed.includes(name)) continue
    const list = values.get(name) ?? []
    list.push(req.rawHeaders[i + 1].trim().replace(/\s+/g, ' '))
    values.set(name, list)
  }
  return signed.map((name) => `${name}:${(values.get(name) ?? []).join(',')}\n`).join('')
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (m) return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]))
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d
}

const presignError = (message: string) => new AwsError('AuthorizationQueryParametersError', message, 400)

/** S3's checks of a SigV4 presigned URL's parameters, before any signature or clock question. */
function checkPresignedS3(q: (name: string) => string | undefined): void {
  const required = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires']
  if (required.some((name) => q(name) === undefined)) {
    throw presignError('Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.')
  }
  const expires = q('X-Amz-Expires')!
  if (!/^-?\d+$/.test(expires)) throw presignError('X-Amz-Expires should be a number')
  if (Number(expires) < 0) throw presignError('X-Amz-Expires must be non-negative')
  if (Number(expires) > MAX_PRESIGN_SECONDS) {
    throw presignError(`X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than ${MAX_PRESIGN_SECONDS} seconds`)
  }
}

/** Verify a request's SigV4 signature; throws the protocol family's AwsError on failure. */
export function verifySigV4(req: IncomingMessage, opts: VerifyOptions): VerifiedRequest {
  const { family } = opts
  const s3 = family === 's3'
  const query = parseRawQuery(opts.rawQuery)
  const q = (name: string) => query.find(([k]) => k === name)?.[1]
  const header = (name: string) => {
    const v = req.headers[name]
    return Array.isArray(v) ? v.join(',') : v
  }

  if (s3 && isSigV2(req, query)) {
    return verifySigV2(req, { rawPath: opts.rawPath, rawQuery: opts.rawQuery, query, now: opts.now, region: '', lookup: opts.lookup })
  }

  let presigned = false
  let credential: string, signedHeadersText: string, signature: string, amzDateText: string | undefined
  const authorization = header('authorization')
  if (authorization) {
    if (!authorization.startsWith(`${ALGORITHM} `)) {
      throw incompleteSignature(family, `Unsupported authorization type: ${authorization.split(' ')[0]}`)
    }
    const fields = new Map<string, string>()
    for (const part of authorization.slice(ALGORITHM.length + 1).split(',')) {
      const i = part.indexOf('=')
      if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim())
    }
    const c = fields.get('Credential'), h = fields.get('SignedHeaders'), s = fields.get('Signature')
    if (!c || !h || !s) {
      throw incompleteSignature(family, `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${authorization}`)
    }
    credential = c
    signedHeadersText = h
    signature = s
    amzDateText = header('x-amz-date') ?? header('date')
  } else if (q('X-Amz-Algorithm') !== undefined || q('X-Amz-Signature') !== undefined) {
    presigned = true
    if (q('X-Amz-Algorithm') !== ALGORITHM) throw incompleteSignature(family, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    const c = q('X-Amz-Credential'), h = q('X-Amz-SignedHeaders'), s = q('X-Amz-Signature')
    if (s3) checkPresignedS3(q)
    if (!c || !h || !s) throw incompleteSignature(family, 'Query-string authentication requires the X-Amz-Credential, X-Amz-SignedHeaders and X-Amz-Signature parameters.')
    credential = c
    signedHeadersText = h
    signature = s
    amzDateText = q('X-Amz-Date')
  } else {
    throw missingAuthentication(family)
  }

  const scopeParts = credential.split('/')
  if (scopeParts.length !== 5 || scopeParts[4] !== 'aws4_request') {
    throw incompleteSignature(family, `Credential should be scoped to a valid region. Credential=${credential}`)
  }
  const [accessKeyId, date, region, service] = scopeParts
  if (!amzDateText) throw incompleteSignature(family, 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.')
  const requestTime = parseAmzDate(amzDateText)
  if (!requestTime) throw incompleteSignature(family, `Invalid date: ${amzDateText}`)
  const amzDate = requestTime.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')

  const nowMs = opts.now.getTime()
  if (presigned) {
    const expires = Number(q('X-Amz-Expires') ?? '604800')
    if (requestTime.getTime() - nowMs > MAX_SKEW_MS) throw requestExpired(family, amzDate, opts.now)
    if (nowMs > requestTime.getTime() + expires * 1000) {
      throw s3
        ? new AwsError('AccessDenied', 'Request has expired', 403, {
            'X-Amz-Expires': String(expires),
            'Expires': new Date(requestTime.getTime() + expires * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
            'ServerTime': opts.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          })
        : requestExpired(family, amzDate, opts.now)
    }
  } else if (Math.abs(nowMs - requestTime.getTime()) > MAX_SKEW_MS) {
    throw requestExpired(family, amzDate, opts.now)
  }

  const secret = opts.lookup(accessKeyId)
  if (!secret) throw unknownAccessKey(family)
  const tokenSent = presigned ? q('X-Amz-Security-Token') : header('x-amz-security-token')
  if (secret.sessionToken !== undefined || tokenSent !== undefined) {
    if (tokenSent !== secret.sessionToken) throw invalidSessionToken(family)
  }
  if (secret.expiresAt !== undefined && nowMs > secret.expiresAt) throw expiredToken(family)

  let payloadHash: string
  if (s3) {
    payloadHash = presigned ? (q('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD') : (header('x-amz-content-sha256') ?? '')
    if (!presigned && !payloadHash) {
      throw new AwsError('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256', 400)
    }
  } else {
    payloadHash = opts.bodySha256 ?? sha256Hex('')
  }

  const signedHeaders = signedHeadersText.split(';').map((h) => h.trim().toLowerCase())
  const canonicalQueryPairs = presigned ? query.filter(([k]) => k !== 'X-Amz-Signature') : query
  const canonicalRequest = [
    req.method ?? 'GET',
    canonicalUri(opts.rawPath, s3),
    canonicalQuery(canonicalQueryPairs),
    canonicalHeaders(req, signedHeaders),
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n')
  const scope = `${date}/${region}/${service}/aws4_request`
  const stringToSign = [ALGORITHM, amzDateText.length === 16 ? amzDateText : amzDate, scope, sha256Hex(canonicalRequest)].join('\n')
  const signingKey = deriveSigningKey(secret.secretAccessKey, date, region, service)
  const expected = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest()
  const given = Buffer.from(signature, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw signatureMismatch(family)

  return { accessKeyId, signingKey, seedSignature: signature, scope, amzDate, payloadHash, presigned, sessionToken: tokenSent, region, service }
}
