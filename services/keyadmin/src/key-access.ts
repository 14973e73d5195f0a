// What judging a key's access needs, read once: the key, its current policy, its grants, the account's
// principals (a memoizing IamReader). The matrix of any policy for that key is then computed without
// reading AWS again, so a dry run compares the current and the proposed policy on the same footing.
import type { FastifyInstance } from 'fastify'
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms'
import type { PolicyDocument } from '@kms-share/policy'
import { accessMatrix, type AccessMatrix, type KeyGrant } from './access.js'
import { accessDiff, type AccessChange } from './access-diff.js'
import { aws } from './aws-errors.js'
import { IamReader } from './iam-read.js'
import { listAllGrants, resolveKey } from './keys.js'
import { documentOf } from './policy-check.js'

export interface KeyAccessContext {
  keyId: string
  keyArn: string
  accountId: string
  region: string
  bucket: string
  /** The key policy as KMS holds it. */
  currentPolicy: string
  grants: KeyGrant[]
  reader: IamReader
}

export async function keyAccessContext(app: FastifyInstance, ref: string, bucket: string): Promise<KeyAccessContext> {
  const meta = await resolveKey(app.kms, ref)
  const keyId = meta.KeyId ?? ref
  const [policy, grants, { accountId }, region] = await Promise.all([
    aws(app.kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' })), { action: 'kms:GetKeyPolicy', subject: { key: ref } }),
    listAllGrants(app.kms, keyId),
    app.identity(),
    app.kms.config.region(),
  ])
  return { keyId, keyArn: meta.Arn ?? '', accountId, region, bucket, currentPolicy: policy.Policy ?? '', grants, reader: new IamReader(app.iam) }
}

/** Who can do what with the key under `keyPolicy` (its current policy unless given). */
export function matrixUnder(ctx: KeyAccessContext, keyPolicy: PolicyDocument = documentOf(ctx.currentPolicy)): Promise<AccessMatrix> {
  const { keyArn, accountId, region, bucket, reader, grants } = ctx
  return accessMatrix({ keyArn, accountId, region, bucket, keyPolicy, reader, grants })
}

export interface AccessChanges {
  /** Against which policy: the key's current one, or the reference given. */
  comparedWith: 'current' | 'reference'
  changes: AccessChange[]
  /** The changes that give someone an action or a circumstance they lacked. */
  newAccess: AccessChange[]
}

/** Who gains and who loses what if `proposed` replaced `reference` (the key's current policy unless given). */
export async function accessChanges(ctx: KeyAccessContext, proposed: PolicyDocument, reference?: PolicyDocument): Promise<AccessChanges> {
  const [before, after] = await Promise.all([matrixUnder(ctx, reference), matrixUnder(ctx, proposed)])
  const changes = accessDiff(before, after)
  return { comparedWith: reference ? 'reference' : 'current', changes, newAccess: changes.filter((c) => c.newAccess) }
}
