// S3's operations: authorisation checks as AWS maps them (actions, resources, condition keys, the
// bucket policy as resource policy), then the rules, over the model, SSE and the object store.
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
import type { ProtocolHandler, ServiceDefinition, StateStore } from '../core/types.js'
import { bucketConfigOperations, guardAcls, sweepLifecycle } from './bucket-config.js'
import { bucketOperations } from './buckets.js'
import { listingOperations } from './listing.js'
import { multipartOperations } from './multipart.js'
import { objectOperations } from './objects.js'
import { createS3Labs, type S3Operations } from './operation.js'
import { s3Protocol } from './protocol.js'

export interface S3Lab {
  service: ServiceDefinition
  protocol: ProtocolHandler
  /** KMS calls S3 made for callers (GenerateDataKey, Decrypt), for the benchmark. */
  kmsCalls: () => { GenerateDataKey: number; Decrypt: number }
  /** Applies the buckets' lifecycle rules due by `now` (the lab runs it hourly); how many uploads and objects went. */
  sweepLifecycle: (state: StateStore, now: number) => number
}

export function createS3(): S3Lab {
  const labs = createS3Labs()
  // One table, each area contributing its operations.
  const operations: S3Operations = { ...bucketOperations(labs), ...bucketConfigOperations(labs), ...listingOperations(labs), ...objectOperations(labs), ...multipartOperations(labs) }
  guardAcls(operations, labs)

  const service: ServiceDefinition = {
    name: 's3',
    signingName: 's3',
    eventSource: 's3.amazonaws.com',
    accessDenied: { code: 'AccessDenied', status: 403 },
    operations,
  }
  return { service, protocol: s3Protocol, kmsCalls: labs.kmsCalls, sweepLifecycle: (state, now) => sweepLifecycle(labs.forState(state).model, now) }
}
