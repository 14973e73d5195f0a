// REST-XML wire format (S3): XML documents in and out, and S3's error document.
// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
import type { ServerResponse } from 'node:http'
import { XMLParser } from 'fast-xml-parser'
import { AwsError } from '../types.js'

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/'

/** An element value: text, a nested element map, or a list of either (repeated elements). */
export type XmlValue = string | number | boolean | Date | undefined | null | XmlObject | XmlValue[]
export interface XmlObject {
  [name: string]: XmlValue
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
}

/** S3 timestamps in XML: ISO 8601 with milliseconds. */
export function xmlTimestamp(date: Date): string {
  return date.toISOString()
}

function element(name: string, value: XmlValue, out: string[]): void {
  if (value === undefined || value === null) return
  if (Array.isArray(value)) {
    for (const item of value) element(name, item, out)
    return
  }
  if (value instanceof Date) {
    out.push(`<${name}>${xmlTimestamp(value)}</${name}>`)
    return
  }
  if (typeof value === 'object') {
    out.push(`<${name}>`)
    for (const [child, v] of Object.entries(value)) element(child, v, out)
    out.push(`</${name}>`)
    return
  }
  out.push(`<${name}>${escapeXml(String(value))}</${name}>`)
}

/** A whole document: declaration, root element with the S3 namespace, children in insertion order. */
export function toXml(root: string, body: XmlObject, xmlns: string | null = S3_XMLNS): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n', xmlns ? `<${root} xmlns="${xmlns}">` : `<${root}>`]
  for (const [name, value] of Object.entries(body)) element(name, value, out)
  out.push(`</${root}>`)
  return out.join('')
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  ignoreDeclaration: true,
})

/** Parses a request document; throws S3's MalformedXML when it is not XML or lacks the expected root. */
export function parseXml(body: Buffer | string, root: string): Record<string, unknown> {
  let doc: Record<string, unknown>
  try {
    doc = parser.parse(typeof body === 'string' ? body : body.toString('utf8'), true) as Record<string, unknown>
  } catch {
    throw malformedXml()
  }
  const value = doc?.[root]
  if (value === undefined) throw malformedXml()
  return (value && typeof value === 'object' ? value : {}) as Record<string, unknown>
}

/** A child that may occur once or many times, always as a list. */
export function xmlList<T = unknown>(value: unknown): T[] {
  if (value === undefined || value === null || value === '') return []
  return (Array.isArray(value) ? value : [value]) as T[]
}

export function malformedXml(): AwsError {
  return new AwsError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema', 400)
}

/** S3's error document: Code, Message, the error's extra fields, Resource, RequestId, HostId. HEAD responses carry no body. */
export function writeXmlError(res: ServerResponse, err: AwsError, requestId: string, resource: string | undefined, head: boolean): void {
  if (res.headersSent) {
    res.destroy(err)
    return
  }
  const hostId = Buffer.from(requestId).toString('base64')
  res.statusCode = err.status
  res.setHeader('x-amz-request-id', requestId)
  res.setHeader('x-amz-id-2', hostId)
  if (head) {
    res.end()
    return
  }
  const body: XmlObject = { Code: err.code, Message: err.message }
  for (const [k, v] of Object.entries(err.fields)) body[k] = v
  if (resource) body.Resource = resource
  body.RequestId = requestId
  body.HostId = hostId
  const xml = toXml('Error', body, null)
  res.setHeader('content-type', 'application/xml')
  res.setHeader('content-length', Buffer.byteLength(xml))
  res.end(xml)
}
