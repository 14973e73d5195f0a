// AWS JSON 1.1 (KMS, CloudTrail): POST / with X-Amz-Target "Prefix.Operation" and a JSON body.
// Inputs reach operations as the wire JSON (blobs stay base64 strings); outputs may hold Buffers/Dates.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { AwsError, type ParsedCall, type ProtocolHandler } from '../types.js'

/** X-Amz-Target prefix → lab service name. */
export const JSON_TARGETS: Record<string, string> = {
  'TrentService': 'kms',
  // AWS CLI v2 sends the fully qualified target; SDK v3 sends the short one.
  'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101': 'cloudtrail',
  'CloudTrail_20131101': 'cloudtrail',
  'AmazonSSM': 'ssm',
}

/** Buffers become base64, Dates epoch seconds, as the JSON protocols serialise blobs and timestamps. */
export function toWireJson(value: unknown): unknown {
  if (value === null || value === undefined) return value
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  if (value instanceof Date) return value.getTime() / 1000
  if (Array.isArray(value)) return value.map(toWireJson)
  if (typeof value === 'object') {
    // Keys can be the caller's (encryption context, tags): no prototype, so `__proto__` is kept as a key.
    const out = Object.create(null) as Record<string, unknown>
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toWireJson(v)
    return out
  }
  return value
}

export function createJsonProtocol(): ProtocolHandler {
  return {
    bodyMode: 'buffer',
    matches(req: IncomingMessage) {
      return req.method === 'POST' && typeof req.headers['x-amz-target'] === 'string'
    },
    parse(req: IncomingMessage, body: Buffer | Readable): ParsedCall {
      const target = String(req.headers['x-amz-target'])
      const dot = target.lastIndexOf('.')
      const service = JSON_TARGETS[target.slice(0, dot)]
      const operation = target.slice(dot + 1)
      if (dot < 0 || !service) throw new AwsError('UnknownOperationException', '', 400)
      const text = (body as Buffer).toString('utf8')
      let input: unknown = {}
      if (text.trim()) {
        try {
          input = JSON.parse(text)
        } catch {
          throw new AwsError('SerializationException', 'Start of structure or map found where not expected.', 400)
        }
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new AwsError('SerializationException', 'Start of structure or map found where not expected.', 400)
      }
      return { service, operation, input }
    },
    writeResult(res: ServerResponse, _call: ParsedCall, output: unknown) {
      const body = JSON.stringify(toWireJson(output ?? {}))
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    },
    writeError(res: ServerResponse, _call: ParsedCall | undefined, err: AwsError, requestId: string) {
      const body = JSON.stringify({ __type: err.code, message: err.message, ...err.fields })
      res.writeHead(err.status, {
        'content-type': 'application/x-amz-json-1.1',
        'content-length': Buffer.byteLength(body),
        'x-amzn-requestid': requestId,
        'x-amzn-errortype': err.code,
      })
      res.end(body)
    },
  }
}
