// EC2's own query protocol: form-encoded Action=… in (lists as `Name.N`), XML out without a
// Result wrapper, lists as <item>, errors in <Response><Errors>.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { XMLBuilder } from 'fast-xml-parser'
import { AwsError, text, type ParsedCall, type ProtocolHandler } from '../core/types.js'
import { parseRawQuery } from '../core/sigv4.js'
import { unflattenQuery } from '../core/protocols/query.js'

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/'

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false, processEntities: true })

/** Arrays become <item> lists; booleans and numbers text; Dates ISO timestamps. */
function toXmlShape(value: unknown): unknown {
  if (value === null || value === undefined) return undefined
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.length ? { item: value.map(toXmlShape) } : ''
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toXmlShape(v)
    return out
  }
  return text(value)
}

export function ec2Xml(operation: string, output: unknown, requestId: string): string {
  const doc = { [`${operation}Response`]: { '@_xmlns': EC2_XMLNS, requestId, ...((toXmlShape(output ?? {}) as object) || {}) } }
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc)}`
}

/** The denial as DecodeAuthorizationMessage's document (allowed, explicitDeny, the principal, action and resource), base64url. */
export function encodeAuthorizationMessage(denial: string): string {
  const m = /^User: (\S+) is not authorized to perform: (\S+)(?: on resource: (\S+))? (with an explicit deny|because)/.exec(denial)
  const decoded = {
    allowed: false,
    explicitDeny: m?.[4] === 'with an explicit deny',
    matchedStatements: { items: [] },
    failures: { items: [] },
    context: { principal: { arn: m?.[1] ?? '' }, action: m?.[2] ?? '', resource: m?.[3] ?? '*', conditions: { items: [] } },
  }
  return Buffer.from(JSON.stringify(decoded)).toString('base64url')
}

/** The credential scope's service name, from the Authorization header or a presigned query. */
function signedService(req: IncomingMessage): string | undefined {
  const header = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1]
  if (header) return header
  return /X-Amz-Credential=[^&/]+(?:\/|%2F)[^&/]+(?:\/|%2F)[^&/]+(?:\/|%2F)([^&/%]+)/i.exec(req.url ?? '')?.[1]
}

export function createEc2Protocol(): ProtocolHandler {
  return {
    bodyMode: 'buffer',
    matches(req: IncomingMessage) {
      const path = (req.url ?? '/').split('?')[0]
      if (path !== '/' || signedService(req) !== 'ec2') return false
      if (req.method === 'POST') return String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
      return req.method === 'GET'
    },
    parse(req: IncomingMessage, body: Buffer | Readable): ParsedCall {
      const rawQuery = (req.url ?? '').split('?')[1] ?? ''
      const pairs = [...parseRawQuery(rawQuery), ...parseRawQuery((body as Buffer).toString('utf8').replace(/\+/g, '%20'))].filter(([k]) => !k.startsWith('X-Amz-'))
      const action = pairs.find(([k]) => k === 'Action')?.[1]
      if (!action) throw new AwsError('MissingAction', 'The request must contain the parameter Action', 400)
      return { service: 'ec2', operation: action, input: unflattenQuery(pairs) }
    },
    writeResult(res: ServerResponse, call: ParsedCall, output: unknown) {
      const requestId = String(res.getHeader('x-amzn-requestid') ?? '')
      const body = ec2Xml(call.operation, output, requestId)
      res.writeHead(200, { 'server': 'AmazonEC2', 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    },
    writeError(res: ServerResponse, _call: ParsedCall | undefined, err: AwsError, requestId: string) {
      // EC2 puts its own sentence before IAM's denial and an encoded authorization message after it (STS DecodeAuthorizationMessage reads it).
      // https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html
      const message = err.code === 'UnauthorizedOperation' && err.message.startsWith('User: ')
        ? `You are not authorized to perform this operation. ${err.message}. Encoded authorization failure message: ${encodeAuthorizationMessage(err.message)}`
        : err.message
      const doc = { Response: { Errors: { Error: { Code: err.code, Message: message } }, RequestID: requestId } }
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc)}`
      res.writeHead(err.status, { 'server': 'AmazonEC2', 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': requestId })
      res.end(body)
    },
  }
}
