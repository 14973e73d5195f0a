// Decoder for `Content-Encoding: aws-chunked` bodies (SigV4 streaming), signed or unsigned, with trailers.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
import { createHash, createHmac, hash, type Hash, timingSafeEqual } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { s3Errors } from './errors.js'

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const MAX_LINE = 8 * 1024

export interface ChunkSigning {
  signingKey: Buffer
  seedSignature: string
  amzDate: string
  scope: string
}

export interface AwsChunkedOptions {
  /** Present for STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER): every chunk signature is verified, chained from the seed. */
  signing?: ChunkSigning
  /** Trailer header names announced in `x-amz-trailer` (lower-case); a signed trailer also needs x-amz-trailer-signature. */
  expectedTrailers?: string[]
}

type State = 'header' | 'data' | 'data-crlf' | 'trailer' | 'done'

function hmacHex(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex')
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Emits the decoded payload; `trailers` holds the trailing headers once the stream has ended. */
export class AwsChunkedDecoder extends Transform {
  readonly trailers: Record<string, string> = Object.create(null) as Record<string, string>
  /** Decoded payload bytes so far. */
  decodedLength = 0
  private state: State = 'header'
  private line: Buffer[] = []
  private lineLength = 0
  private remaining = 0
  private chunkSignature: string | undefined
  private chunkHash: Hash | undefined
  private previousSignature: string
  private readonly signing: ChunkSigning | undefined
  private readonly expectedTrailers: string[]
  private trailerSignature: string | undefined

  constructor(options: AwsChunkedOptions = {}) {
    super()
    this.signing = options.signing
    this.previousSignature = options.signing?.seedSignature ?? ''
    this.expectedTrailers = options.expectedTrailers ?? []
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.consume(chunk)
      done()
    } catch (err) {
      done(err as Error)
    }
  }

  override _flush(done: TransformCallback): void {
    if (this.state !== 'done') return done(s3Errors.incompleteBody())
    for (const name of this.expectedTrailers) {
      if (this.trailers[name] === undefined) return done(s3Errors.malformedChunk())
    }
    done()
  }

  private consume(buf: Buffer): void {
    let offset = 0
    while (offset < buf.length) {
      switch (this.state) {
        case 'header':
        case 'trailer': {
          const nl = buf.indexOf(0x0a, offset)
          const end = nl === -1 ? buf.length : nl + 1
          this.line.push(buf.subarray(offset, end))
          this.lineLength += end - offset
          if (this.lineLength > MAX_LINE) throw s3Errors.malformedChunk()
          offset = end
          if (nl !== -1) {
            const text = Buffer.concat(this.line).toString('latin1')
            this.line = []
            this.lineLength = 0
            if (!text.endsWith('\r\n')) throw s3Errors.malformedChunk()
            const content = text.slice(0, -2)
            if (this.state === 'header') this.onChunkHeader(content)
            else this.onTrailerLine(content)
          }
          break
        }
        case 'data': {
          const take = Math.min(this.remaining, buf.length - offset)
          const piece = buf.subarray(offset, offset + take)
          this.chunkHash?.update(piece)
          this.decodedLength += take
          this.push(piece)
          this.remaining -= take
          offset += take
          if (this.remaining === 0) {
            this.state = 'data-crlf'
            this.remaining = 2
          }
          break
        }
        case 'data-crlf': {
          const expected = this.remaining === 2 ? 0x0d : 0x0a
          if (buf[offset] !== expected) throw s3Errors.malformedChunk()
          offset++
          this.remaining--
          if (this.remaining === 0) {
            this.verifyChunk(this.chunkHash ? this.chunkHash.digest('hex') : EMPTY_SHA256)
            this.state = 'header'
          }
          break
        }
        case 'done':
          // Clients send nothing after the final CRLF; tolerate stray whitespace only.
          for (; offset < buf.length; offset++) if (buf[offset] !== 0x0d && buf[offset] !== 0x0a) throw s3Errors.malformedChunk()
          break
      }
    }
  }

  private onChunkHeader(content: string): void {
    const [sizeHex, ...extensions] = content.split(';')
    if (!sizeHex || !/^[0-9a-fA-F]{1,16}$/.test(sizeHex.trim())) throw s3Errors.malformedChunk()
    const size = parseInt(sizeHex.trim(), 16)
    this.chunkSignature = undefined
    for (const ext of extensions) {
      const eq = ext.indexOf('=')
      if (eq > 0 && ext.slice(0, eq).trim() === 'chunk-signature') this.chunkSignature = ext.slice(eq + 1).trim()
    }
    if (this.signing && !this.chunkSignature) throw s3Errors.signatureDoesNotMatch()
    if (size === 0) {
      this.verifyChunk(EMPTY_SHA256)
      this.state = 'trailer'
      return
    }
    this.remaining = size
    this.chunkHash = this.signing ? createHash('sha256') : undefined
    this.state = 'data'
  }

  private verifyChunk(dataSha256: string): void {
    if (!this.signing) return
    const { signingKey, amzDate, scope } = this.signing
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, this.previousSignature, EMPTY_SHA256, dataSha256].join('\n')
    const expected = hmacHex(signingKey, stringToSign)
    if (!this.chunkSignature || !sameHex(expected, this.chunkSignature)) throw s3Errors.signatureDoesNotMatch()
    this.previousSignature = expected
    this.chunkHash = undefined
  }

  private onTrailerLine(content: string): void {
    if (content === '') {
      this.verifyTrailer()
      this.state = 'done'
      return
    }
    const colon = content.indexOf(':')
    if (colon <= 0) throw s3Errors.malformedChunk()
    const name = content.slice(0, colon).trim().toLowerCase()
    const value = content.slice(colon + 1).trim()
    if (name === 'x-amz-trailer-signature') this.trailerSignature = value
    else this.trailers[name] = value
  }

  private verifyTrailer(): void {
    if (!this.signing || (Object.keys(this.trailers).length === 0 && this.trailerSignature === undefined)) return
    const { signingKey, amzDate, scope } = this.signing
    const canonical = Object.entries(this.trailers).map(([k, v]) => `${k}:${v}\n`).join('')
    const stringToSign = [
      'AWS4-HMAC-SHA256-TRAILER',
      amzDate,
      scope,
      this.previousSignature,
      hash('sha256', canonical, 'hex'),
    ].join('\n')
    const expected = hmacHex(signingKey, stringToSign)
    if (!this.trailerSignature || !sameHex(expected, this.trailerSignature)) throw s3Errors.signatureDoesNotMatch()
  }
}
