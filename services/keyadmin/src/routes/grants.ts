// A key's grants: GET /keys/:key/grants lists them (ListGrants, every page), and
// POST /keys/:key/grants/:grantId/retire retires one (RetireGrant as the key's account: keyadmin's role
// needs kms:RetireGrant, which only takes access away).
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { RetireGrantCommand } from '@aws-sdk/client-kms'
import { problemResponses } from '@kms-share/shared'
import { aws } from '../aws-errors.js'
import { grantCondition } from '../access.js'
import { listAllGrants, resolveKey } from '../keys.js'
import { KeyParams } from '../schemas/keys.js'

const ContextMap = Type.Record(Type.String(), Type.String())
export const GrantSchema = Type.Object({
  grantId: Type.String(),
  name: Type.Optional(Type.String()),
  granteePrincipal: Type.String(),
  retiringPrincipal: Type.Optional(Type.String()),
  operations: Type.Array(Type.String()),
  creationDate: Type.Optional(Type.String()),
  constraints: Type.Optional(Type.Object({ EncryptionContextEquals: Type.Optional(ContextMap), EncryptionContextSubset: Type.Optional(ContextMap) })),
  condition: Type.Optional(Type.String({ description: 'The constraint in words: "when the encryption context equals {…}".' })),
})
export const GrantParams = Type.Intersect([KeyParams, Type.Object({ grantId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9]+$' }) })])

export async function grantsRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { kms } = app
  const errors = problemResponses(400, 401, 403, 404, 409, 502, 503)

  app.get('/keys/:key/grants', {
    schema: { summary: "The key's grants (ListGrants, every page), each constraint in words.", tags: ['grants'], params: KeyParams, response: { 200: Type.Object({ keyId: Type.String(), grants: Type.Array(GrantSchema) }), ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    const grants = await listAllGrants(kms, meta.KeyId ?? '')
    return { keyId: meta.KeyId ?? '', grants: grants.map((g) => ({ ...g, ...(grantCondition(g) ? { condition: grantCondition(g) } : {}) })) }
  })

  app.post('/keys/:key/grants/:grantId/retire', {
    schema: {
      summary: "Retires a grant (RetireGrant by key id and grant id, as the key's account). Revoking (DELETE) does the same for an administrator; retiring is what a grant's retiring principal does.",
      tags: ['grants'], params: GrantParams, response: { 204: Type.Null(), ...errors },
    },
  }, async (request, reply) => {
    const meta = await resolveKey(kms, request.params.key)
    await aws(kms.send(new RetireGrantCommand({ KeyId: meta.Arn, GrantId: request.params.grantId })), { action: 'kms:RetireGrant', subject: { key: request.params.key } })
    request.log.info({ keyId: meta.KeyId, grantId: request.params.grantId }, 'grant retired')
    return reply.code(204).send(null)
  })
}
