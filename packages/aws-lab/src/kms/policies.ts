// KMS key policies: the one policy named default per key.
import type { RequestContext } from '@kms-share/policy'
import type { Operation } from '../core/types.js'
import { kmsErrors } from './errors.js'
import { admitKeyPolicy } from './key-policy.js'
import { save, byKeyId, onKey } from './operation.js'

function checkPolicyName(name: unknown): void {
  if (name !== undefined && name !== 'default') throw kmsErrors.notFound(`No such policy exists: ${String(name)}. The only valid policy name is default.`)
}

const GetKeyPolicy = onKey(
  'GetKeyPolicy',
  byKeyId,
  (input: any, _ctx, { key }) => {
    checkPolicyName(input.PolicyName)
    return { Policy: key.policy, PolicyName: 'default' }
  },
  { readOnly: true },
)

const PutKeyPolicy = onKey(
  'PutKeyPolicy',
  byKeyId,
  (input: any, ctx, { key }) => {
    checkPolicyName(input.PolicyName ?? 'default')
    admitKeyPolicy(input.Policy, key.arn, ctx, input.BypassPolicyLockoutSafetyCheck === true)
    key.policy = input.Policy
    save(ctx)
    return {}
  },
  {
    context: (input: any): RequestContext =>
      input.BypassPolicyLockoutSafetyCheck !== undefined ? { 'kms:BypassPolicyLockoutSafetyCheck': String(input.BypassPolicyLockoutSafetyCheck) } : {},
  },
)

const ListKeyPolicies = onKey('ListKeyPolicies', byKeyId, () => ({ PolicyNames: ['default'], Truncated: false }), { readOnly: true })

export const policyOperations: Record<string, Operation> = { GetKeyPolicy, PutKeyPolicy, ListKeyPolicies }
