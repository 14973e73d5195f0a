// AWS query protocol (STS, IAM, EC2): form-encoded Action=…&Version=… in, XML out.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { XMLBuilder } from 'fast-xml-parser'
import { AwsError, text, type ParsedCall, type ProtocolHandler } from '../types.js'
import { parseRawQuery } from '../sigv4.js'

/** API Version → lab service name and XML namespace. */
export const QUERY_VERSIONS: Record<string, { service: string; xmlns: string }> = {
  '2011-06-15': { service: 'sts', xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/' },
  '2010-05-08': { service: 'iam', xmlns: 'https://iam.amazonaws.com/doc/2010-05-08/' },
  '2016-11-15': { service: 'ec2', xmlns: 'http://ec2.amazonaws.com/doc/2016-11-15/' },
  '2010-05-15': { service: 'cloudformation', xmlns: 'http://cloudformation.amazonaws.com/doc/2010-05-15/' },
  '2011-01-01': { service: 'autoscaling', xmlns: 'http://autoscaling.amazonaws.com/doc/2011-01-01/' },
}
const XMLNS_BY_SERVICE = Object.fromEntries(Object.values(QUERY_VERSIONS).map((v) => [v.service, v.xmlns]))

/** A query member once unflattened: text, a list, or a structure (or map) of members. */
export type QueryValue = string | QueryValue[] | QueryStructure
export interface QueryStructure {
  [member: string]: QueryValue
}

/** `Tags.member.1.Key=a` → { Tags: [{ Key: 'a' }] }: lists are `.member.N` (or `.N`), maps `.entry.N.key/value`. */
export function unflattenQuery(pairs: Array<[string, string]>): QueryStructure {
  // Parameter names are the caller's: without prototypes, `__proto__.x=1` is a parameter, not a write to Object.prototype.
  const root = Object.create(null) as QueryStructure
  for (const [key, value] of pairs) {
    if (key === 'Action' || key === 'Version') continue
    const parts = key.split('.')
    let node = root
    for (let i = 0; i < parts.length - 1; i++) {
      // Lists appear only in listify(), after this loop: a node here is text, a structure, or absent.
      const next = node[parts[i]] as QueryValue | undefined
      node = next !== undefined && typeof next === 'object' && !Array.isArray(next) ? next : (node[parts[i]] = Object.create(null) as QueryStructure)
    }
    node[parts[parts.length - 1]] = value
  }
  return listify(root) as QueryStructure
}

function listify(node: QueryValue): QueryValue {
  if (typeof node !== 'object' || Array.isArray(node)) return node
  const keys = Object.keys(node)
  if (keys.length === 1 && (keys[0] === 'member' || keys[0] === 'entry')) {
    // Indexed as a structure; a bare `Tags.member=x` indexes the text's characters, as it always has.
    const inner = node[keys[0]] as QueryStructure
    const items = Object.keys(inner).filter((k) => /^\d+$/.test(k)).sort((a, b) => +a - +b).map((k) => listify(inner[k]))
    if (keys[0] === 'entry') return Object.fromEntries(items.map((e) => [(e as QueryStructure).key, (e as QueryStructure).value] as [PropertyKey, QueryValue]))
    return items
  }
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) return keys.sort((a, b) => +a - +b).map((k) => listify(node[k]))
  for (const k of keys) node[k] = listify(node[k])
  return node
}

/** Arrays become <member> lists, Dates ISO timestamps, as the query protocol's XML has them. */
function toXmlShape(value: unknown): unknown {
  if (value === null || value === undefined) return undefined
  if (value instanceof Date) return value.toISOString()
  if (Buffer.isBuffer(value)) return value.toString('base64')
  // An empty list is an empty element, which SDKs read as [] (a missing one reads as undefined).
  if (Array.isArray(value)) return value.length ? { member: value.map(toXmlShape) } : ''
  if (typeof value === 'object') {
    const out = Object.create(null) as Record<string, unknown>
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toXmlShape(v)
    return out
  }
  return text(value)
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false, processEntities: true })

/** Marks an empty answer that still has its `<OperationResult/>` element (CloudFormation's ExecuteChangeSet, DeleteChangeSet): SDKs expect it. */
export const EMPTY_RESULT = Symbol('empty result element')

export function queryXml(service: string, operation: string, output: unknown, requestId: string): string {
  const result = toXmlShape(output ?? {})
  const hasResult = output !== undefined && output !== null && (Object.keys(output).length > 0 || (typeof output === 'object' && EMPTY_RESULT in output))
  const doc = {
    [`${operation}Response`]: {
      '@_xmlns': XMLNS_BY_SERVICE[service] ?? '',
      ...(hasResult ? { [`${operation}Result`]: result } : {}),
      'ResponseMetadata': { RequestId: requestId },
    },
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc)}`
}

export function createQueryProtocol(): ProtocolHandler {
  return {
    bodyMode: 'buffer',
    matches(req: IncomingMessage) {
      const url = new URL(req.url ?? '/', 'http://lab')
      if (url.pathname !== '/') return false
      if (req.method === 'POST') return String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
      return req.method === 'GET' && url.searchParams.has('Action')
    },
    parse(req: IncomingMessage, body: Buffer | Readable): ParsedCall {
      const rawQuery = (req.url ?? '').split('?')[1] ?? ''
      const pairs = [...parseRawQuery(rawQuery), ...parseRawQuery((body as Buffer).toString('utf8').replace(/\+/g, '%20'))]
      const get = (name: string) => pairs.find(([k]) => k === name)?.[1]
      const action = get('Action')
      const version = get('Version')
      if (!action) throw new AwsError('MissingAction', 'Missing Action', 400)
      let target = version ? QUERY_VERSIONS[version] : undefined
      if (!target) {
        // Fall back on the credential scope's service name when Version is missing or unknown.
        const scopeService = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1]
        target = Object.values(QUERY_VERSIONS).find((v) => v.service === scopeService)
      }
      if (!target) throw new AwsError('InvalidAction', `Could not find operation ${action} for version ${version ?? 'NO_VERSION_SPECIFIED'}`, 400)
      return { service: target.service, operation: action, input: unflattenQuery(pairs) }
    },
    writeResult(res: ServerResponse, call: ParsedCall, output: unknown) {
      const requestId = String(res.getHeader('x-amzn-requestid') ?? '')
      const body = queryXml(call.service, call.operation, output, requestId)
      res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    },
    writeError(res: ServerResponse, call: ParsedCall | undefined, err: AwsError, requestId: string) {
      const doc = {
        ErrorResponse: {
          '@_xmlns': XMLNS_BY_SERVICE[call?.service ?? 'sts'] ?? '',
          'Error': { Type: err.status >= 500 ? 'Receiver' : 'Sender', Code: err.code, Message: err.message },
          'RequestId': requestId,
        },
      }
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc)}`
      res.writeHead(err.status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': requestId })
      res.end(body)
    },
  }
}
