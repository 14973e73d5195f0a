// KMS key policies: the one policy named default per key.
import type { RequestContext } from '@kms-share/policy'
import type { Operation } from '../core/types.js'
import { kmsErrors, requireMember } from './errors.js'
import { admitKeyPolicy } from './key-policy.js'
import { save, byKeyId, onKey, type KmsInput } from './operation.js'

function checkPolicyName(name: string | undefined): void {
  if (name !== undefined && name !== 'default') throw kmsErrors.notFound(`No such policy exists: ${name}. The only valid policy name is default.`)
}

const GetKeyPolicy = onKey(
  'GetKeyPolicy',
  byKeyId,
  (input: KmsInput, _ctx, { key }) => {
    checkPolicyName(input.PolicyName)
    return { Policy: key.policy, PolicyName: 'default' }
  },
  { readOnly: true },
)

const PutKeyPolicy = onKey(
  'PutKeyPolicy',
  byKeyId,
  (input: KmsInput, ctx, { key }) => {
    checkPolicyName(input.PolicyName ?? 'default')
    const policy = requireMember(input.Policy, 'policy')
    admitKeyPolicy(policy, key.arn, ctx, input.BypassPolicyLockoutSafetyCheck === true)
    key.policy = policy
    save(ctx)
    return {}
  },
  {
    context: (input: KmsInput): RequestContext =>
      input.BypassPolicyLockoutSafetyCheck !== undefined ? { 'kms:BypassPolicyLockoutSafetyCheck': String(input.BypassPolicyLockoutSafetyCheck) } : {},
  },
)

const ListKeyPolicies = onKey('ListKeyPolicies', byKeyId, () => ({ PolicyNames: ['default'], Truncated: false }), { readOnly: true })

export const policyOperations: Record<string, Operation> = { GetKeyPolicy, PutKeyPolicy, ListKeyPolicies }
