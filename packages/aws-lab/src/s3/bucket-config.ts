// A bucket's configurations beyond encryption and policy — Block Public Access, lifecycle,
// versioning, object ownership, server access logging — their Put/Get/Delete operations, and
// where the lab applies them: public bucket policies refused under BlockPublicPolicy, ACL headers
// refused under BlockPublicAcls or BucketOwnerEnforced, lifecycle rules swept on a timer.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
import type { PolicyDocument } from '@kms-share/policy'
import { AwsError, text, type OperationContext } from '../core/types.js'
import { parseXml, xmlList, type XmlObject } from '../core/protocols/rest-xml.js'
import { s3Errors } from './errors.js'
import type { BucketConfigs, BucketRecord, LifecycleRule, S3Model } from './model.js'
import { document, op, type S3Labs, type S3Operation, type S3Operations } from './operation.js'

const DAY_MS = 86_400_000
/** Sub-resource → the Get/Put/Delete operation names it routes to (bucket level only). */
const SUBRESOURCES: Record<string, { GET: string; PUT: string; DELETE?: string }> = {
  publicAccessBlock: { GET: 'GetPublicAccessBlock', PUT: 'PutPublicAccessBlock', DELETE: 'DeletePublicAccessBlock' },
  lifecycle: { GET: 'GetBucketLifecycleConfiguration', PUT: 'PutBucketLifecycleConfiguration', DELETE: 'DeleteBucketLifecycle' },
  versioning: { GET: 'GetBucketVersioning', PUT: 'PutBucketVersioning' },
  ownershipControls: { GET: 'GetBucketOwnershipControls', PUT: 'PutBucketOwnershipControls', DELETE: 'DeleteBucketOwnershipControls' },
  logging: { GET: 'GetBucketLogging', PUT: 'PutBucketLogging' },
}

/** The operation a bucket-level request for one of these sub-resources is, if it is one. */
export function bucketConfigOperation(method: string, key: string | undefined, query: Record<string, string>): string | undefined {
  if (key !== undefined) return undefined
  for (const [name, ops] of Object.entries(SUBRESOURCES)) {
    if (Object.prototype.hasOwnProperty.call(query, name)) return ops[method as 'GET' | 'PUT' | 'DELETE']
  }
  return undefined
}

const bool = (value: unknown, name: string): boolean => {
  const v = text(value ?? 'false').toLowerCase()
  if (v !== 'true' && v !== 'false') throw s3Errors.invalidArgument(`${name} must be true or false`, name, v)
  return v === 'true'
}

const positiveDays = (value: unknown, what: string): number | undefined => {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw s3Errors.invalidArgument(`'${what}' for ${what === 'Days' ? 'Expiration' : 'AbortIncompleteMultipartUpload'} action must be a positive integer`)
  return n
}

function parseLifecycle(doc: Record<string, unknown>): LifecycleRule[] {
  const rules = xmlList<Record<string, unknown>>(doc.Rule)
  if (!rules.length || rules.length > 1000) throw s3Errors.malformedXml()
  const ids = new Set<string>()
  return rules.map((r) => {
    const status = text(r.Status ?? '')
    if (status !== 'Enabled' && status !== 'Disabled') throw s3Errors.malformedXml()
    const id = r.ID === undefined ? undefined : text(r.ID)
    if (id !== undefined) {
      if (ids.has(id)) throw s3Errors.invalidArgument('Rule ID must be unique. Found same ID for more than one rule', 'ID', id)
      ids.add(id)
    }
    const filter = (r.Filter ?? {}) as Record<string, unknown>
    const and = (filter.And ?? {}) as Record<string, unknown>
    const abort = (r.AbortIncompleteMultipartUpload ?? {}) as Record<string, unknown>
    const expiration = (r.Expiration ?? {}) as Record<string, unknown>
    const noncurrent = (r.NoncurrentVersionExpiration ?? {}) as Record<string, unknown>
    const rule: LifecycleRule = {
      ...(id !== undefined ? { ID: id } : {}),
      Status: status,
      Prefix: text(filter.Prefix ?? and.Prefix ?? r.Prefix ?? ''),
      AbortIncompleteMultipartUploadDays: positiveDays(abort.DaysAfterInitiation, 'DaysAfterInitiation'),
      ExpirationDays: positiveDays(expiration.Days, 'Days'),
      NoncurrentVersionExpirationDays: positiveDays(noncurrent.NoncurrentDays, 'NoncurrentDays'),
      Transitions: xmlList<Record<string, unknown>>(r.Transition).map((t) => ({ ...(t.Days !== undefined ? { Days: Number(t.Days) } : {}), StorageClass: text(t.StorageClass ?? '') })),
    }
    if (rule.Transitions?.length === 0) delete rule.Transitions
    const actions = [rule.AbortIncompleteMultipartUploadDays, rule.ExpirationDays, rule.NoncurrentVersionExpirationDays, expiration.ExpiredObjectDeleteMarker, rule.Transitions].filter((a) => a !== undefined)
    if (!actions.length) throw s3Errors.invalidRequest('At least one action needs to be specified in a rule')
    return rule
  })
}

function lifecycleXml(rules: LifecycleRule[]): XmlObject {
  return {
    Rule: rules.map((r) => ({
      ID: r.ID,
      Filter: { Prefix: r.Prefix },
      Status: r.Status,
      Transition: r.Transitions?.map((t) => ({ Days: t.Days, StorageClass: t.StorageClass })),
      Expiration: r.ExpirationDays !== undefined ? { Days: r.ExpirationDays } : undefined,
      NoncurrentVersionExpiration: r.NoncurrentVersionExpirationDays !== undefined ? { NoncurrentDays: r.NoncurrentVersionExpirationDays } : undefined,
      AbortIncompleteMultipartUpload: r.AbortIncompleteMultipartUploadDays !== undefined ? { DaysAfterInitiation: r.AbortIncompleteMultipartUploadDays } : undefined,
    })),
  }
}

/** Conditions that keep an Allow to `*` from being public (IAM's "fixed values" for Block Public Access). */
const NON_PUBLIC_KEYS = /^(aws:SourceVpce|aws:SourceVpc|aws:SourceIp|aws:SourceAccount|aws:SourceArn|aws:SourceOwner|aws:PrincipalAccount|aws:PrincipalArn|aws:PrincipalOrgID|aws:PrincipalOrgPaths|aws:userid|s3:DataAccessPointAccount|s3:DataAccessPointArn)$/i

/** Is the bucket policy public as S3 judges it: an Allow to everyone without a condition fixing who or from where. */
export function isPublicPolicy(doc: PolicyDocument): boolean {
  return doc.Statement.some((st) => {
    if (st.Effect !== 'Allow') return false
    const p = st.Principal
    const everyone = p === '*' || (p !== undefined && (p.AWS ?? []).includes('*'))
    if (!everyone) return false
    const fixing = Object.entries(st.Condition ?? {}).some(([operator, keys]) => !/IfExists$/.test(operator) && !/^StringNotEquals|^ArnNotEquals|^NotIpAddress|^StringNotLike|^ArnNotLike/.test(operator) && Object.keys(keys).some((k) => NON_PUBLIC_KEYS.test(k)))
    return !fixing
  })
}

/** PutBucketPolicy under BlockPublicPolicy: a public policy is refused with S3's sentence. */
export function publicPolicyRefusal(bucket: BucketRecord, doc: PolicyDocument, ctx: OperationContext): AwsError | undefined {
  if (!bucket.configs?.publicAccessBlock?.BlockPublicPolicy || !isPublicPolicy(doc)) return undefined
  return new AwsError('AccessDenied', `User: ${ctx.caller.principal.arn} is not authorized to perform: s3:PutBucketPolicy on resource: "arn:aws:s3:::${bucket.name}" because public policies are blocked by the BlockPublicPolicy block public access setting.`, 403)
}

const PUBLIC_ACLS = new Set(['public-read', 'public-read-write', 'authenticated-read'])

/** An object write carrying an ACL the bucket's settings forbid (ACLs disabled, or public ACLs blocked). */
export function aclRefusal(bucket: BucketRecord | undefined, headers: Record<string, string>): AwsError | undefined {
  const acl = headers['x-amz-acl']
  const grants = Object.keys(headers).some((h) => h.startsWith('x-amz-grant-'))
  if (!bucket || (acl === undefined && !grants)) return undefined
  if (bucket.configs?.ownership === 'BucketOwnerEnforced' && (grants || acl !== 'bucket-owner-full-control')) {
    return new AwsError('AccessControlListNotSupported', 'The bucket does not allow ACLs', 400)
  }
  if (bucket.configs?.publicAccessBlock?.BlockPublicAcls && acl !== undefined && PUBLIC_ACLS.has(acl)) return new AwsError('AccessDenied', 'Access Denied', 403)
  return undefined
}

/** Wraps the object writes so an ACL header meets the bucket's settings before anything is stored. */
export function guardAcls(operations: S3Operations, { lab }: S3Labs): void {
  for (const name of ['PutObject', 'CopyObject', 'CreateMultipartUpload']) {
    const operation = operations[name]
    if (!operation) continue
    const authorize = operation.authorize
    operation.authorize = async (i, ctx) => {
      const checks = await authorize(i, ctx)
      const refusal = aclRefusal(lab(ctx).model.findBucket(i.Bucket), i.headers ?? {})
      if (refusal) throw refusal
      return checks
    }
  }
}

/** Applies the lifecycle rules due by `now`: aborts old incomplete uploads, expires old objects. Returns how many went. */
export function sweepLifecycle(model: S3Model, now: number): number {
  let removed = 0
  for (const bucket of model.listBuckets()) {
    for (const rule of bucket.configs?.lifecycle ?? []) {
      if (rule.Status !== 'Enabled') continue
      if (rule.AbortIncompleteMultipartUploadDays !== undefined) {
        for (const upload of model.listUploads(bucket.name)) {
          if (upload.key.startsWith(rule.Prefix) && upload.initiated + rule.AbortIncompleteMultipartUploadDays * DAY_MS <= now) {
            model.abortUpload(upload)
            removed++
          }
        }
      }
      if (rule.ExpirationDays !== undefined) {
        for (const meta of model.list(bucket.name, { prefix: rule.Prefix, maxKeys: Number.MAX_SAFE_INTEGER }).contents) {
          if (meta.lastModified + rule.ExpirationDays * DAY_MS <= now && model.deleteObject(bucket.name, meta.key)) removed++
        }
      }
    }
  }
  return removed
}

export function bucketConfigOperations({ lab, check }: S3Labs): S3Operations {
  const onBucket = (action: string, o: Omit<S3Operation, 'authorize'>): S3Operation => op({ ...o, authorize: (i, ctx) => [check(ctx, action, i.Bucket, undefined)] })
  const configs = (i: { Bucket?: string }, ctx: OperationContext) => {
    const { model } = lab(ctx)
    const bucket = model.bucket(i.Bucket)
    return { model, bucket, current: bucket.configs ?? {} }
  }
  const notFound = (code: string, message: string, bucket: string) => new AwsError(code, message, 404, { BucketName: bucket })
  const setConfig = <K extends keyof BucketConfigs>(model: S3Model, bucket: string, key: K, value: BucketConfigs[K] | undefined) => model.setConfig(bucket, key, value)
  /** Delete…: the configuration goes (each authorised with its Put action, as AWS does). */
  const clear = (action: string, key: keyof BucketConfigs): S3Operation => onBucket(action, {
    run: (i, ctx) => {
      const { model, bucket } = configs(i, ctx)
      setConfig(model, bucket.name, key, undefined)
      return { status: 204 }
    },
  })
  /** Get… of a configuration S3 answers 404 for until it is set. */
  const get = <K extends keyof BucketConfigs>(action: string, key: K, missing: [code: string, message: string], xml: (value: NonNullable<BucketConfigs[K]>) => { root: string; body: XmlObject }): S3Operation => onBucket(action, {
    readOnly: true,
    run: (i, ctx) => {
      const { bucket, current } = configs(i, ctx)
      const value = current[key]
      if (value === undefined) throw notFound(missing[0], missing[1], bucket.name)
      return { xml: xml(value) }
    },
  })

  return {
    PutPublicAccessBlock: onBucket('s3:PutBucketPublicAccessBlock', {
      run: async (i, ctx) => {
        const { model, bucket } = configs(i, ctx)
        const doc = parseXml(await document(i, ctx), 'PublicAccessBlockConfiguration')
        setConfig(model, bucket.name, 'publicAccessBlock', {
          BlockPublicAcls: bool(doc.BlockPublicAcls, 'BlockPublicAcls'),
          IgnorePublicAcls: bool(doc.IgnorePublicAcls, 'IgnorePublicAcls'),
          BlockPublicPolicy: bool(doc.BlockPublicPolicy, 'BlockPublicPolicy'),
          RestrictPublicBuckets: bool(doc.RestrictPublicBuckets, 'RestrictPublicBuckets'),
        })
        return {}
      },
    }),
    GetPublicAccessBlock: get('s3:GetBucketPublicAccessBlock', 'publicAccessBlock', ['NoSuchPublicAccessBlockConfiguration', 'The public access block configuration was not found'], (v) => ({ root: 'PublicAccessBlockConfiguration', body: { ...v } })),
    DeletePublicAccessBlock: clear('s3:PutBucketPublicAccessBlock', 'publicAccessBlock'),
    PutBucketLifecycleConfiguration: onBucket('s3:PutLifecycleConfiguration', {
      run: async (i, ctx) => {
        const { model, bucket } = configs(i, ctx)
        setConfig(model, bucket.name, 'lifecycle', parseLifecycle(parseXml(await document(i, ctx), 'LifecycleConfiguration')))
        return {}
      },
    }),
    GetBucketLifecycleConfiguration: get('s3:GetLifecycleConfiguration', 'lifecycle', ['NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist'], (v) => ({ root: 'LifecycleConfiguration', body: lifecycleXml(v) })),
    DeleteBucketLifecycle: clear('s3:PutLifecycleConfiguration', 'lifecycle'),
    PutBucketVersioning: onBucket('s3:PutBucketVersioning', {
      run: async (i, ctx) => {
        const { model, bucket } = configs(i, ctx)
        const doc = parseXml(await document(i, ctx), 'VersioningConfiguration')
        const status = text(doc.Status ?? '')
        if (status !== 'Enabled' && status !== 'Suspended') throw s3Errors.malformedXml()
        if (doc.MfaDelete !== undefined && text(doc.MfaDelete) === 'Enabled') throw s3Errors.invalidRequest('MFA delete needs the root user\'s MFA device, which the lab does not have')
        setConfig(model, bucket.name, 'versioning', { Status: status })
        return {}
      },
    }),
    GetBucketVersioning: onBucket('s3:GetBucketVersioning', {
      readOnly: true,
      run: (i, ctx) => {
        const { current } = configs(i, ctx)
        return { xml: { root: 'VersioningConfiguration', body: current.versioning ? { Status: current.versioning.Status } : {} } }
      },
    }),
    PutBucketOwnershipControls: onBucket('s3:PutBucketOwnershipControls', {
      run: async (i, ctx) => {
        const { model, bucket } = configs(i, ctx)
        const rules = xmlList<Record<string, unknown>>(parseXml(await document(i, ctx), 'OwnershipControls').Rule)
        const ownership = text(rules[0]?.ObjectOwnership ?? '')
        if (rules.length !== 1 || !['BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter'].includes(ownership)) throw s3Errors.malformedXml()
        setConfig(model, bucket.name, 'ownership', ownership as BucketConfigs['ownership'])
        return {}
      },
    }),
    GetBucketOwnershipControls: get('s3:GetBucketOwnershipControls', 'ownership', ['OwnershipControlsNotFoundError', 'The bucket ownership controls were not found'], (v) => ({ root: 'OwnershipControls', body: { Rule: { ObjectOwnership: v } } })),
    DeleteBucketOwnershipControls: clear('s3:PutBucketOwnershipControls', 'ownership'),
    PutBucketLogging: onBucket('s3:PutBucketLogging', {
      run: async (i, ctx) => {
        const { model, bucket } = configs(i, ctx)
        const enabled = parseXml(await document(i, ctx), 'BucketLoggingStatus').LoggingEnabled as Record<string, unknown> | undefined
        if (!enabled) {
          setConfig(model, bucket.name, 'logging', undefined)
          return {}
        }
        const target = text(enabled.TargetBucket ?? '')
        if (!model.findBucket(target)) throw new AwsError('InvalidTargetBucketForLogging', 'The target bucket for logging does not exist', 400, { TargetBucket: target })
        setConfig(model, bucket.name, 'logging', { TargetBucket: target, TargetPrefix: text(enabled.TargetPrefix ?? '') })
        return {}
      },
    }),
    GetBucketLogging: onBucket('s3:GetBucketLogging', {
      readOnly: true,
      run: (i, ctx) => {
        const { current } = configs(i, ctx)
        return { xml: { root: 'BucketLoggingStatus', body: current.logging ? { LoggingEnabled: { ...current.logging } } : {} } }
      },
    }),
  }
}

export type { XmlObject }
