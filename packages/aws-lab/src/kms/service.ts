// The lab's KMS: operations over the JSON 1.1 shapes (PascalCase, blobs as base64, timestamps
// as epoch seconds). Authorisation is the core's, from each operation's `authorize` checks.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_Operations.html
import type { Operation, ServiceDefinition } from '../core/types.js'
import { aliasOperations } from './aliases.js'
import { dataOperations } from './data.js'
import { checkGrantTokens, grantOperations } from './grants.js'
import { keyMaterialOperations } from './key-material.js'
import { keyOperations } from './keys.js'
import type { KmsInput } from './operation.js'
import { policyOperations } from './policies.js'
import { kmsRequestParameters } from './request-parameters.js'
import { tagOperations } from './tags.js'

export { kmsRequestParameters }

// One table, each area contributing its operations.
const operations: Record<string, Operation<KmsInput>> = {
  ...keyOperations,
  ...aliasOperations,
  ...dataOperations,
  ...policyOperations,
  ...tagOperations,
  ...keyMaterialOperations,
  ...grantOperations,
}

for (const op of Object.values(operations)) {
  op.requestParameters ??= kmsRequestParameters
  // Every operation that takes GrantTokens checks them before anything else.
  const authorize = op.authorize
  op.authorize = (input, ctx) => {
    checkGrantTokens(input?.GrantTokens)
    return authorize(input, ctx)
  }
}

export function createKmsService(): ServiceDefinition {
  return {
    name: 'kms',
    signingName: 'kms',
    eventSource: 'kms.amazonaws.com',
    accessDenied: { code: 'AccessDeniedException', status: 400 },
    operations,
  }
}
