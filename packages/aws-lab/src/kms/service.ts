// The lab's KMS: operations over the JSON 1.1 shapes (PascalCase, blobs as base64, timestamps
// as epoch seconds). Authorisation is the core's, from each operation's `authorize` checks.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_Operations.html
import type { Operation, ServiceDefinition } from '../core/types.js'
import { aliasOperations } from './aliases.js'
import { dataOperations } from './data.js'
import { kmsErrors } from './errors.js'
import { checkGrantTokens, grantOperations } from './grants.js'
import { keyMaterialOperations } from './key-material.js'
import { keyOperations } from './keys.js'
import { kmsState, saveKms } from './model.js'
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

/** The operations that take DryRun: authorised and checked as usual, then nothing changes. https://docs.aws.amazon.com/kms/latest/developerguide/testing-permissions.html */
const DRY_RUN_OPERATIONS = new Set([
  'CreateGrant', 'Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncrypt', 'RetireGrant', 'RevokeGrant',
  'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'GenerateMac', 'VerifyMac', 'Sign', 'Verify', 'DeriveSharedSecret',
])

for (const [name, op] of Object.entries(operations)) {
  op.requestParameters ??= kmsRequestParameters
  // Every operation that takes GrantTokens checks them before anything else.
  const authorize = op.authorize
  op.authorize = (input, ctx) => {
    checkGrantTokens(input?.GrantTokens)
    return authorize(input, ctx)
  }
  if (DRY_RUN_OPERATIONS.has(name)) {
    const run = op.run
    op.run = async (input, ctx) => {
      if (input?.DryRun !== true) return (await run(input, ctx)) as unknown
      // The whole operation runs (so every check it makes is made), then its changes are put back.
      const kms = kmsState(ctx.state)
      const before = structuredClone(kms)
      try {
        await run(input, ctx)
      } finally {
        Object.assign(kms, before)
        saveKms(ctx.state)
      }
      throw kmsErrors.dryRun('The request would have succeeded, but the DryRun option is set.')
    }
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
