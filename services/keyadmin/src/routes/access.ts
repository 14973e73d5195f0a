// GET /keys/:key/access: who can do what with the key, and separation-of-duties findings.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { problemResponses } from '@kms-share/shared'
import { keyAccessContext, matrixUnder } from '../key-access.js'
import { KeyGrantSchema, KeyParams } from '../schemas/keys.js'
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
  grants: Type.Array(KeyGrantSchema, { description: "The key's grants (ListGrants)." }),
  findings: Type.Array(Type.Object({ code: Type.String(), principal: Type.String(), message: Type.String() })),
  skipped: Type.Array(Type.String()),
})

export async function accessRoutes(fastify: FastifyInstance, options: { bucket: string }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/keys/:key/access', {
    schema: {
      summary: "For every IAM role and user, the root, * (where the key policy names it) and every grantee of the key's grants: which of the key's actions each may perform, under which conditions, decided by which statements; separation-of-duties findings.",
      tags: ['access'], params: KeyParams, response: { 200: AccessMatrixSchema, ...problemResponses(400, 401, 403, 404, 422, 502, 503) },
    },
  }, async (request) => {
    return matrixUnder(await keyAccessContext(app, request.params.key, options.bucket))
  })
}
