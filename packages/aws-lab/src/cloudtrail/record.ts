// Builds a CloudTrail event like AWS's from a finished (or failed) lab call.
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
import { randomUUID } from 'node:crypto'
import { isoSeconds, parseArn } from '../core/arn.js'
import type { AuthCheck, Caller, RequestMeta } from '../core/types.js'
import type { TrailEvent } from './trail.js'

const SECRET_FIELD = /plaintext|granttoken|secretaccesskey|sessiontoken|ciphertextblob|privatekey|^publickey$|importtoken|encryptedkeymaterial|base32stringseed|qrcodepng|^password$|tokencode|^body$/i

/** camelCase field names like CloudTrail does, except inside maps whose keys are data (encryption context, tags). */
export function toRequestParameters(value: unknown, parentKey = ''): unknown {
  if (value === null || value === undefined) return value
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return undefined
  if (value instanceof Date) return isoSeconds(value)
  if (Array.isArray(value)) return value.map((v) => toRequestParameters(v, parentKey))
  if (typeof value === 'object') {
    if (typeof (value as { pipe?: unknown }).pipe === 'function') return undefined
    const dataMap = /context$/i.test(parentKey)
    // Context keys are the caller's: no prototype, so `__proto__` is recorded like any key.
    const out = Object.create(null) as Record<string, unknown>
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (SECRET_FIELD.test(k)) continue
      const name = dataMap ? k : k.charAt(0).toLowerCase() + k.slice(1)
      const converted = dataMap ? v : toRequestParameters(v, k)
      if (converted !== undefined) out[name] = converted
    }
    return out
  }
  return value
}

const RESOURCE_TYPES: Record<string, string> = {
  'kms:key': 'AWS::KMS::Key',
  'kms:alias': 'AWS::KMS::Alias',
  'iam:user': 'AWS::IAM::User',
  'iam:role': 'AWS::IAM::Role',
  'iam:policy': 'AWS::IAM::Policy',
  'iam:mfa': 'AWS::IAM::MFADevice',
  's3:': 'AWS::S3::Object',
}

function resourceType(arn: string): string {
  const p = parseArn(arn)
  if (!p) return 'AWS::Unknown'
  const kind = p.resource.split(/[/:]/)[0]
  if (p.service === 's3') return p.resource.includes('/') ? 'AWS::S3::Object' : 'AWS::S3::Bucket'
  return RESOURCE_TYPES[`${p.service}:${kind}`] ?? `AWS::${p.service.toUpperCase()}::${kind.charAt(0).toUpperCase()}${kind.slice(1)}`
}

export function userIdentity(caller: Caller, meta: RequestMeta): Record<string, unknown> {
  const p = caller.principal
  const identity: Record<string, unknown> = {
    type: p.type === 'assumed-role' ? 'AssumedRole' : p.type === 'root' ? 'Root' : 'IAMUser',
    principalId: caller.userId,
    arn: p.arn,
    accountId: p.accountId,
    accessKeyId: caller.accessKeyId,
  }
  if (caller.userName) identity.userName = caller.userName
  if (caller.sessionIssuedAt !== undefined) {
    const sessionContext: Record<string, unknown> = {
      attributes: { creationDate: isoSeconds(new Date(caller.sessionIssuedAt)), mfaAuthenticated: String(caller.mfaAuthenticated) },
    }
    if (p.type === 'assumed-role' && p.roleArn) {
      sessionContext.sessionIssuer = {
        type: 'Role',
        principalId: caller.userId.split(':')[0],
        arn: p.roleArn,
        accountId: p.accountId,
        userName: caller.roleName,
      }
    }
    // Role credentials from IMDSv2: CloudTrail marks the session with ec2RoleDelivery "2.0".
    if (caller.ec2) sessionContext.ec2RoleDelivery = caller.ec2.roleDelivery
    identity.sessionContext = sessionContext
  }
  if (meta.invokedBy) identity.invokedBy = meta.invokedBy
  return identity
}

export interface RecordInput {
  caller: Caller
  meta: RequestMeta
  eventSource: string
  eventName: string
  accountId: string
  readOnly: boolean
  requestParameters: Record<string, unknown> | null
  responseElements: Record<string, unknown> | null
  checks: AuthCheck[]
  error?: { code: string; message: string }
}

export function buildEvent(r: RecordInput): TrailEvent {
  const resources = [...new Set(r.checks.map((c) => c.resource).filter((arn) => arn.startsWith('arn:') && !arn.endsWith('/')))].map((arn) => ({
    accountId: parseArn(arn)?.account || r.accountId,
    type: resourceType(arn),
    ARN: arn,
  }))
  const viaService = r.meta.invokedBy?.replace(/^fas\./, '')
  const event: TrailEvent = {
    eventVersion: '1.11',
    userIdentity: userIdentity(r.caller, r.meta),
    eventTime: isoSeconds(r.meta.time),
    eventSource: r.eventSource,
    eventName: r.eventName,
    awsRegion: r.meta.region,
    sourceIPAddress: viaService ?? r.meta.sourceIp,
    userAgent: viaService ?? r.meta.userAgent,
    requestParameters: r.requestParameters,
    responseElements: r.responseElements,
    requestID: r.meta.requestId,
    eventID: randomUUID(),
    readOnly: r.readOnly,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: r.accountId,
    eventCategory: 'Management',
  }
  if (r.error) {
    event.errorCode = r.error.code
    event.errorMessage = r.error.message
  }
  if (resources.length) event.resources = resources
  // The lab's endpoints all belong to its one account. https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
  if (r.meta.sourceVpce) {
    event.vpcEndpointId = r.meta.sourceVpce
    event.vpcEndpointAccountId = r.accountId
  }
  return event
}
