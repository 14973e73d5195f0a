// What an S3 operation takes and gives, and how it reads a small request document: apart from
// protocol.ts so that the operations (bucket-config.ts) and the protocol import it without a loop.
import type { Readable } from 'node:stream'
import { AwsError } from '../core/types.js'
import type { XmlObject } from '../core/protocols/rest-xml.js'

/** What every S3 operation gets. */
export interface S3Input {
  Bucket?: string
  Key?: string
  /** Query parameters (sub-resources such as `uploads`, `uploadId`, `partNumber`). */
  query: Record<string, string>
  /** Request headers, names lower-case. */
  headers: Record<string, string>
  /** The request body, still a stream (object data). */
  body?: Readable
  /** CreateBucket through invoke() (the seed) may pass the configuration directly. */
  CreateBucketConfiguration?: { LocationConstraint?: string }
}

/** What every S3 operation returns; the protocol writes it. */
export interface S3Output {
  status?: number
  headers?: Record<string, string | number | boolean | undefined>
  xml?: { root: string; body: XmlObject }
  /** A JSON or text body (GetBucketPolicy). */
  text?: string
  contentType?: string
  /** Object data. */
  stream?: Readable
}

/** Small request documents (XML, policies) are read whole, up to this size. */
export const MAX_DOCUMENT = 1024 * 1024

/** Reads a small request document whole; larger ones are refused rather than buffered. */
export async function readDocument(body: Readable | undefined): Promise<Buffer> {
  if (!body) return Buffer.alloc(0)
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_DOCUMENT) throw new AwsError('MaxMessageLengthExceeded', 'Your request was too big.', 400)
    parts.push(chunk)
  }
  return Buffer.concat(parts)
}
