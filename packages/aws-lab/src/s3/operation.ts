// What every S3 operation area shares: the model and SSE keys of each data dir, the authorisation
// mapping (actions on bucket and object ARNs, the bucket policy as the resource policy), the wire shape.
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
import { hash } from 'node:crypto'
import type { NamedPolicy, RequestContext } from '@kms-share/policy'
import { AwsError, type AuthCheck, type Operation, type OperationContext, type StateStore } from '../core/types.js'
import type { XmlObject } from '../core/protocols/rest-xml.js'
import { s3Errors } from './errors.js'
import { S3Model, type BucketRecord } from './model.js'
import { readDocument, type S3Input, type S3Output } from './messages.js'
import { SseKeys } from './sse.js'

const MAX_KEY_BYTES = 1024

export type S3Operation = Operation<S3Input, S3Output | void>
export type S3Operations = Record<string, S3Operation>

const bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`
const objectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`

function canonicalId(accountId: string): string {
  return hash('sha256', `aws-lab:${accountId}`, 'hex')
}

/** One lab's S3 state (a model and SSE keys per data dir) and the authorisation check over it. */
export interface S3Labs {
  lab: (ctx: OperationContext) => { model: S3Model; sse: SseKeys }
  /** The same, by state store (for work outside a request: the lifecycle sweep). */
  forState: (state: StateStore) => { model: S3Model; sse: SseKeys }
  check: (ctx: OperationContext, action: string, bucketName: string | undefined, key: string | undefined, context?: RequestContext) => AuthCheck
  /** KMS calls S3 made for callers (GenerateDataKey, Decrypt), for the benchmark. */
  kmsCalls: () => { GenerateDataKey: number; Decrypt: number }
}

export function createS3Labs(): S3Labs {
  const models = new Map<string, { model: S3Model; sse: SseKeys }>()

  function forState(state: StateStore): { model: S3Model; sse: SseKeys } {
    let entry = models.get(state.dataDir)
    if (!entry) {
      const model = new S3Model(state)
      const sse = new SseKeys(model.root)
      entry = { model, sse }
      models.set(state.dataDir, entry)
    }
    return entry
  }

  function lab(ctx: OperationContext): { model: S3Model; sse: SseKeys } {
    return forState(ctx.state)
  }

  function policyOf(bucket: BucketRecord | undefined): NamedPolicy | undefined {
    return bucket?.policy ? { name: `bucket-policy:${bucket.name}`, document: bucket.policy.document } : undefined
  }

  /** One check against a bucket's resources, with its policy as the resource policy (missing buckets: identity policies only). */
  function check(ctx: OperationContext, action: string, bucketName: string | undefined, key: string | undefined, context: RequestContext = {}): AuthCheck {
    const bucket = lab(ctx).model.findBucket(bucketName)
    return {
      action,
      resource: key !== undefined ? objectArn(bucketName ?? '', key) : bucketArn(bucketName ?? ''),
      resourcePolicy: policyOf(bucket),
      resourceAccount: ctx.iam.accountId,
      resourcePolicyRequired: false,
      context,
    }
  }

  return {
    lab,
    forState,
    check,
    kmsCalls: () => {
      const total = { GenerateDataKey: 0, Decrypt: 0 }
      for (const { sse } of models.values()) {
        total.GenerateDataKey += sse.kmsCalls.GenerateDataKey
        total.Decrypt += sse.kmsCalls.Decrypt
      }
      return total
    },
  }
}

export function sseConditions(headers: Record<string, string>): RequestContext {
  const c: RequestContext = {}
  if (headers['x-amz-server-side-encryption']) c['s3:x-amz-server-side-encryption'] = headers['x-amz-server-side-encryption']
  if (headers['x-amz-server-side-encryption-aws-kms-key-id']) c['s3:x-amz-server-side-encryption-aws-kms-key-id'] = headers['x-amz-server-side-encryption-aws-kms-key-id']
  return c
}

export function requireKey(input: S3Input): string {
  const key = input.Key
  if (key === undefined || key === '') throw s3Errors.invalidArgument('A key must be specified')
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new AwsError('KeyTooLongError', 'Your key is too long', 400)
  return key
}

export function ownerXml(ctx: OperationContext): XmlObject {
  return { DisplayName: 'lab', ID: canonicalId(ctx.iam.accountId) }
}

/** Verifies a small request document against the signed payload hash (S3 cannot trust an unsigned claim). */
export async function document(input: S3Input, ctx: OperationContext): Promise<Buffer> {
  const doc = await readDocument(input.body)
  const claim = ctx.meta.sigv4?.payloadHash
  if (claim && /^[0-9a-f]{64}$/i.test(claim)) {
    const computed = hash('sha256', doc, 'hex')
    if (computed !== claim.toLowerCase()) throw s3Errors.sha256Mismatch(claim, computed)
  }
  const md5 = input.headers['content-md5']
  if (md5 !== undefined && hash('md5', doc, 'base64') !== md5) throw s3Errors.badContentMd5()
  return doc
}

// Inputs from invoke() (the seed) may lack the wire parts: give every operation the same shape.
const normalise = (i: S3Input): S3Input => {
  i.query ??= {}
  i.headers ??= {}
  return i
}
export const op = (o: Operation<S3Input, S3Output | void>): Operation<S3Input, S3Output | void> => ({
  requestParameters: (input) => {
    const p: Record<string, unknown> = { bucketName: input.Bucket, Host: 's3.amazonaws.com' }
    if (input.Key !== undefined) p.key = input.Key
    return p
  },
  readOnly: o.readOnly,
  authorize: (i, ctx) => o.authorize(normalise(i), ctx),
  run: (i, ctx) => o.run(normalise(i), ctx),
})
