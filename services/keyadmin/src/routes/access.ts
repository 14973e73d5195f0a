// GET /keys/:key/access: who can do what with the key, and separation-of-duties findings.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { GetKeyPolicyCommand, ListGrantsCommand, type KMSClient } from '@aws-sdk/client-kms'
import { problemResponses } from '@kms-share/shared'
import { accessMatrix, type KeyGrant } from '../access.js'
import { aws } from '../aws-errors.js'
import { IamReader } from '../iam-read.js'
import { resolveKey } from '../keys.js'
import { documentOf } from '../policy-check.js'
import { KeyParams } from '../schemas/keys.js'
import { MatchedStatementSchema } from '../schemas/policies.js'

const AccessLevel = Type.Union([Type.Literal('always'), Type.Literal('conditional'), Type.Literal('never')])

export const AccessMatrixSchema = Type.Object({
  keyArn: Type.String(),
  usableBy: Type.Array(Type.Object({
    principal: Type.String(),
    actions: Type.Array(Type.Object({ action: Type.String(), access: AccessLevel, conditions: Type.Array(Type.String()) })),
  }), { description: 'Every principal that can use the key at all (any use action not never), and how: the matrix in one list.' }),
  principals: Type.Array(Type.Object({
    principal: Type.String({ description: 'Role, user or root ARN, or * (any principal, with no IAM permissions of its own).' }),
    kind: Type.String(),
    identityPolicies: Type.Array(Type.String()),
    actions: Type.Array(Type.Object({
      action: Type.String(),
      category: Type.String({ description: 'use, administration or read' }),
      access: AccessLevel,
      conditions: Type.Array(Type.String(), { description: 'When conditional: e.g. "only through S3, for BUCKET\'s objects", "only with MFA", "only through vpce-…".' }),
      statements: Type.Array(MatchedStatementSchema),
      deniedBy: Type.Optional(Type.String()),
      grants: Type.Optional(Type.Array(Type.Object({
        grantId: Type.String(),
        name: Type.Optional(Type.String()),
        label: Type.String({ description: 'via grant <id>[, when the encryption context equals/includes {…}]' }),
        condition: Type.Optional(Type.String({ description: "The grant's encryption-context constraint." })),
        retiringPrincipal: Type.Optional(Type.String()),
        overriddenByDeny: Type.Optional(Type.Boolean({ description: 'An explicit deny in a policy wins over the grant.' })),
      }), { description: 'Grants that allow this action to this principal.' })),
    })),
  })),
  grants: Type.Array(Type.Object({
    grantId: Type.String(),
    name: Type.Optional(Type.String()),
    granteePrincipal: Type.String(),
    retiringPrincipal: Type.Optional(Type.String()),
    operations: Type.Array(Type.String()),
    constraints: Type.Optional(Type.Object({
      EncryptionContextEquals: Type.Optional(Type.Record(Type.String(), Type.String())),
      EncryptionContextSubset: Type.Optional(Type.Record(Type.String(), Type.String())),
    })),
  }), { description: "The key's grants (ListGrants)." }),
  findings: Type.Array(Type.Object({ code: Type.String(), principal: Type.String(), message: Type.String() })),
  skipped: Type.Array(Type.String()),
})

/** Every grant on the key, page by page. */
async function listAllGrants(kms: KMSClient, keyId: string): Promise<KeyGrant[]> {
  const out: KeyGrant[] = []
  let marker: string | undefined
  do {
    const page = await aws(kms.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100, Marker: marker })), { action: 'kms:ListGrants', subject: { key: keyId } })
    for (const g of page.Grants ?? []) {
      if (!g.GrantId || !g.GranteePrincipal) continue
      const constraints = g.Constraints && (g.Constraints.EncryptionContextEquals || g.Constraints.EncryptionContextSubset)
        ? {
            ...(g.Constraints.EncryptionContextEquals ? { EncryptionContextEquals: g.Constraints.EncryptionContextEquals } : {}),
            ...(g.Constraints.EncryptionContextSubset ? { EncryptionContextSubset: g.Constraints.EncryptionContextSubset } : {}),
          }
        : undefined
      out.push({
        grantId: g.GrantId, granteePrincipal: g.GranteePrincipal, operations: [...(g.Operations ?? [])],
        ...(g.Name ? { name: g.Name } : {}), ...(g.RetiringPrincipal ? { retiringPrincipal: g.RetiringPrincipal } : {}), ...(constraints ? { constraints } : {}),
      })
    }
    marker = page.Truncated ? page.NextMarker : undefined
  } while (marker)
  return out
}

export async function accessRoutes(fastify: FastifyInstance, options: { bucket: string }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/keys/:key/access', {
    schema: {
      summary: "For every IAM role and user, the root, * (where the key policy names it) and every grantee of the key's grants: which of the key's actions each may perform, under which conditions, decided by which statements; separation-of-duties findings.",
      tags: ['access'], params: KeyParams, response: { 200: AccessMatrixSchema, ...problemResponses(400, 401, 403, 404, 422, 502, 503) },
    },
  }, async (request) => {
    const meta = await resolveKey(app.kms, request.params.key)
    const policy = await aws(app.kms.send(new GetKeyPolicyCommand({ KeyId: meta.KeyId, PolicyName: 'default' })), { action: 'kms:GetKeyPolicy', subject: { key: request.params.key } })
    const { accountId } = await app.identity()
    const grants = await listAllGrants(app.kms, meta.KeyId ?? request.params.key)
    return accessMatrix({
      keyArn: meta.Arn ?? '', accountId, region: await app.kms.config.region(), bucket: options.bucket,
      keyPolicy: documentOf(policy.Policy ?? ''), reader: new IamReader(app.iam), grants,
    })
  })
}
