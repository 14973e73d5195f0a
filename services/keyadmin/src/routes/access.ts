// GET /keys/:key/access: who can do what with the key, and separation-of-duties findings.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms'
import { problemResponses } from '@kms-share/shared'
import { accessMatrix } from '../access.js'
import { aws } from '../aws-errors.js'
import { IamReader } from '../iam-read.js'
import { resolveKey } from '../keys.js'
import { documentOf } from '../policy-check.js'
import { KeyParams } from '../schemas/keys.js'
import { MatchedStatementSchema } from '../schemas/policies.js'

export const AccessMatrixSchema = Type.Object({
  keyArn: Type.String(),
  principals: Type.Array(Type.Object({
    principal: Type.String({ description: 'Role, user or root ARN, or * (any principal, with no IAM permissions of its own).' }),
    kind: Type.String(),
    identityPolicies: Type.Array(Type.String()),
    actions: Type.Array(Type.Object({
      action: Type.String(),
      category: Type.String({ description: 'use, administration or read' }),
      access: Type.Union([Type.Literal('always'), Type.Literal('conditional'), Type.Literal('never')]),
      conditions: Type.Array(Type.String(), { description: 'When conditional: e.g. "only through S3, for BUCKET\'s objects", "only with MFA", "only through vpce-…".' }),
      statements: Type.Array(MatchedStatementSchema),
      deniedBy: Type.Optional(Type.String()),
    })),
  })),
  findings: Type.Array(Type.Object({ code: Type.String(), principal: Type.String(), message: Type.String() })),
  skipped: Type.Array(Type.String()),
})

export async function accessRoutes(fastify: FastifyInstance, options: { bucket: string }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/keys/:key/access', {
    schema: {
      summary: "For every IAM role and user, the root and * (where the key policy names it): which of the key's actions each may perform, under which conditions, decided by which statements; separation-of-duties findings.",
      tags: ['access'], params: KeyParams, response: { 200: AccessMatrixSchema, ...problemResponses(400, 401, 403, 404, 422, 502, 503) },
    },
  }, async (request) => {
    const meta = await resolveKey(app.kms, request.params.key)
    const policy = await aws(app.kms.send(new GetKeyPolicyCommand({ KeyId: meta.KeyId, PolicyName: 'default' })), { action: 'kms:GetKeyPolicy', subject: { key: request.params.key } })
    const { accountId } = await app.identity()
    return accessMatrix({
      keyArn: meta.Arn ?? '', accountId, region: await app.kms.config.region(), bucket: options.bucket,
      keyPolicy: documentOf(policy.Policy ?? ''), reader: new IamReader(app.iam),
    })
  })
}
