// AWS::S3::Bucket (with its encryption, Block Public Access, lifecycle, versioning, ownership and
// logging configurations, each put through the lab's S3 API) and AWS::S3::BucketPolicy.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-s3-bucket.html
import { Readable } from 'node:stream'
import { AwsError, text } from '../../core/types.js'
import { toXml, type XmlObject } from '../../core/protocols/rest-xml.js'
import { isObject, type TemplateObject, type TemplateValue } from '../template.js'
import { ignoreNotFound, optionalString, policyText, requiredString, sameValue, type ResourceContext, type ResourceHandler } from './types.js'

const SUPPORTED = new Set(['BucketName', 'BucketEncryption', 'PublicAccessBlockConfiguration', 'LifecycleConfiguration', 'VersioningConfiguration', 'OwnershipControls', 'LoggingConfiguration', 'Tags'])

const obj = (v: TemplateValue | undefined): TemplateObject => (isObject(v) ? v : {})
const list = (v: TemplateValue | undefined): TemplateObject[] => (Array.isArray(v) ? v.filter(isObject) : [])
const days = (v: TemplateValue | undefined) => (v === undefined ? undefined : Number(v))

/** A bucket sub-resource call with an XML document, as a client sends it. */
function put(ctx: ResourceContext, bucket: string, operation: string, subresource: string, root: string, body: XmlObject) {
  return ctx.call('s3', operation, { Bucket: bucket, query: { [subresource]: '' }, headers: {}, body: Readable.from([Buffer.from(toXml(root, body))]) })
}

const remove = (ctx: ResourceContext, bucket: string, operation: string, subresource: string) => ctx.call('s3', operation, { Bucket: bucket, query: { [subresource]: '' }, headers: {} })

/** Each configuration: how to apply it and how to take it away. */
const CONFIGS: Array<{ property: string; apply: (ctx: ResourceContext, bucket: string, value: TemplateObject) => Promise<unknown>; clear: (ctx: ResourceContext, bucket: string) => Promise<unknown> }> = [
  {
    property: 'BucketEncryption',
    apply: (ctx, bucket, v) => {
      const rule = list(v.ServerSideEncryptionConfiguration)[0] ?? {}
      const def = obj(rule.ServerSideEncryptionByDefault)
      return put(ctx, bucket, 'PutBucketEncryption', 'encryption', 'ServerSideEncryptionConfiguration', {
        Rule: { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: def.SSEAlgorithm as string, KMSMasterKeyID: def.KMSMasterKeyID as string | undefined }, BucketKeyEnabled: rule.BucketKeyEnabled === undefined ? undefined : text(rule.BucketKeyEnabled) },
      })
    },
    clear: (ctx, bucket) => remove(ctx, bucket, 'DeleteBucketEncryption', 'encryption'),
  },
  {
    property: 'PublicAccessBlockConfiguration',
    apply: (ctx, bucket, v) => put(ctx, bucket, 'PutPublicAccessBlock', 'publicAccessBlock', 'PublicAccessBlockConfiguration', {
      BlockPublicAcls: text(v.BlockPublicAcls ?? false),
      IgnorePublicAcls: text(v.IgnorePublicAcls ?? false),
      BlockPublicPolicy: text(v.BlockPublicPolicy ?? false),
      RestrictPublicBuckets: text(v.RestrictPublicBuckets ?? false),
    }),
    clear: (ctx, bucket) => remove(ctx, bucket, 'DeletePublicAccessBlock', 'publicAccessBlock'),
  },
  {
    property: 'LifecycleConfiguration',
    apply: (ctx, bucket, v) => put(ctx, bucket, 'PutBucketLifecycleConfiguration', 'lifecycle', 'LifecycleConfiguration', {
      Rule: list(v.Rules).map((r) => ({
        ID: r.Id as string | undefined,
        Filter: { Prefix: (r.Prefix as string | undefined) ?? '' },
        Status: r.Status as string,
        Transition: list(r.Transitions).map((t) => ({ Days: days(t.TransitionInDays), StorageClass: t.StorageClass as string })),
        Expiration: r.ExpirationInDays !== undefined ? { Days: days(r.ExpirationInDays) } : r.ExpiredObjectDeleteMarker !== undefined ? { ExpiredObjectDeleteMarker: text(r.ExpiredObjectDeleteMarker) } : undefined,
        NoncurrentVersionExpiration: r.NoncurrentVersionExpirationInDays !== undefined || r.NoncurrentVersionExpiration !== undefined
          ? { NoncurrentDays: days(r.NoncurrentVersionExpirationInDays ?? obj(r.NoncurrentVersionExpiration).NoncurrentDays) }
          : undefined,
        AbortIncompleteMultipartUpload: r.AbortIncompleteMultipartUpload !== undefined ? { DaysAfterInitiation: days(obj(r.AbortIncompleteMultipartUpload).DaysAfterInitiation) } : undefined,
      })),
    }),
    clear: (ctx, bucket) => remove(ctx, bucket, 'DeleteBucketLifecycle', 'lifecycle'),
  },
  {
    property: 'VersioningConfiguration',
    apply: (ctx, bucket, v) => put(ctx, bucket, 'PutBucketVersioning', 'versioning', 'VersioningConfiguration', { Status: v.Status }),
    // Versioning cannot be switched off once on, only suspended.
    clear: (ctx, bucket) => put(ctx, bucket, 'PutBucketVersioning', 'versioning', 'VersioningConfiguration', { Status: 'Suspended' }),
  },
  {
    property: 'OwnershipControls',
    apply: (ctx, bucket, v) => put(ctx, bucket, 'PutBucketOwnershipControls', 'ownershipControls', 'OwnershipControls', { Rule: { ObjectOwnership: list(v.Rules)[0]?.ObjectOwnership as string } }),
    clear: (ctx, bucket) => remove(ctx, bucket, 'DeleteBucketOwnershipControls', 'ownershipControls'),
  },
  {
    property: 'LoggingConfiguration',
    apply: (ctx, bucket, v) => put(ctx, bucket, 'PutBucketLogging', 'logging', 'BucketLoggingStatus', { LoggingEnabled: { TargetBucket: (v.DestinationBucketName) ?? bucket, TargetPrefix: (v.LogFilePrefix) ?? '' } }),
    clear: (ctx, bucket) => put(ctx, bucket, 'PutBucketLogging', 'logging', 'BucketLoggingStatus', {}),
  },
]

function checkSupported(props: TemplateObject): void {
  const other = Object.keys(props).filter((k) => !SUPPORTED.has(k))
  if (other.length) throw new AwsError('ValidationError', `Properties ${other.join(', ')} of AWS::S3::Bucket are not supported by aws-lab`, 400)
}

function bucketAttributes(name: string, region: string): Record<string, TemplateValue> {
  return {
    Arn: `arn:aws:s3:::${name}`,
    DomainName: `${name}.s3.amazonaws.com`,
    RegionalDomainName: `${name}.s3.${region}.amazonaws.com`,
    DualStackDomainName: `${name}.s3.dualstack.${region}.amazonaws.com`,
    WebsiteURL: `http://${name}.s3-website-${region}.amazonaws.com`,
  }
}

export const bucket: ResourceHandler = {
  attributes: ['Arn', 'DomainName', 'RegionalDomainName', 'DualStackDomainName', 'WebsiteURL'],
  replaceOn: ['BucketName'],
  async create(props, ctx) {
    checkSupported(props)
    const name = optionalString(props, 'BucketName') ?? ctx.physicalName(63, { lowercase: true })
    await ctx.call('s3', 'CreateBucket', { Bucket: name, query: {}, headers: {}, CreateBucketConfiguration: { LocationConstraint: ctx.region } })
    ctx.provisional(name)
    for (const c of CONFIGS) if (props[c.property] !== undefined) await c.apply(ctx, name, obj(props[c.property]))
    return { physicalId: name, attributes: bucketAttributes(name, ctx.region) }
  },
  async update(props, current, ctx) {
    checkSupported(props)
    for (const c of CONFIGS) {
      if (sameValue(props[c.property], current.properties[c.property])) continue
      if (props[c.property] === undefined) await c.clear(ctx, current.physicalId)
      else await c.apply(ctx, current.physicalId, obj(props[c.property]))
    }
    return { physicalId: current.physicalId, attributes: current.attributes }
  },
  async delete(current, ctx) {
    // A bucket with objects in it fails to delete (BucketNotEmpty), as in AWS.
    await ignoreNotFound(ctx.call('s3', 'DeleteBucket', { Bucket: current.physicalId, query: {}, headers: {} }))
  },
}

const policyCall = (ctx: ResourceContext, bucketName: string, doc: string) => ctx.call('s3', 'PutBucketPolicy', { Bucket: bucketName, query: { policy: '' }, headers: {}, body: Readable.from([Buffer.from(doc)]) })

export const bucketPolicy: ResourceHandler = {
  attributes: [],
  replaceOn: ['Bucket'],
  async create(props, ctx) {
    const bucketName = requiredString(props, 'Bucket')
    await policyCall(ctx, bucketName, policyText(props.PolicyDocument) ?? '')
    return { physicalId: bucketName, attributes: {} }
  },
  async update(props, current, ctx) {
    await policyCall(ctx, current.physicalId, policyText(props.PolicyDocument) ?? '')
    return { physicalId: current.physicalId, attributes: {} }
  },
  async delete(current, ctx) {
    await ignoreNotFound(ctx.call('s3', 'DeleteBucketPolicy', { Bucket: current.physicalId, query: { policy: '' }, headers: {} }))
  },
}
