// POST /keys/:key/grants (CreateGrant, a sensitive operation: only through the MFA session) and
// DELETE /keys/:key/grants/:grantId (RevokeGrant with keyadmin's own role: taking access away needs no MFA);
// GET /keys/:key/grants lists them (ListGrants, every page) and POST /keys/:key/grants/:grantId/retire
// retires one (RetireGrant as the key's account: keyadmin's role needs kms:RetireGrant, which only takes access away).
// A grant never gives more than the key policy leaves: explicit denies win over grants, so the answer
// says which of the granted operations the key policy denies the grantee anyway.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CreateGrantCommand, GetKeyPolicyCommand, RetireGrantCommand, RevokeGrantCommand } from '@aws-sdk/client-kms'
import { problemResponses } from '@kms-share/shared'
import { aws } from '../aws-errors.js'
import { grantCondition } from '../access.js'
import { listAllGrants, resolveKey } from '../keys.js'
import { documentOf } from '../policy-check.js'
import { KeyGrantSchema, KeyParams } from '../schemas/keys.js'
import { awsFilledContext, decideOnKey, simulatedPrincipal } from '../simulation.js'

/** CreateGrant's operations (API_CreateGrant.html, Operations). */
const GRANT_OPERATIONS = [
  'Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'Sign', 'Verify', 'GetPublicKey',
  'CreateGrant', 'RetireGrant', 'DescribeKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'GenerateMac', 'VerifyMac',
  'DeriveSharedSecret',
] as const

const PrincipalArn = Type.String({ minLength: 1, maxLength: 256, pattern: '^arn:aws[a-z-]*:(iam|sts)::\\d{12}:\\S+$', description: 'A role, user, role session or account root ARN.' })
const ContextMap = Type.Record(Type.String({ minLength: 1, maxLength: 384 }), Type.String({ maxLength: 384 }))

const CreateGrantBody = Type.Object({
  granteePrincipal: PrincipalArn,
  operations: Type.Array(Type.Union(GRANT_OPERATIONS.map((o) => Type.Literal(o))), { minItems: 1, maxItems: GRANT_OPERATIONS.length, uniqueItems: true }),
  retiringPrincipal: Type.Optional(PrincipalArn),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[a-zA-Z0-9:/_-]+$' })),
  constraints: Type.Optional(Type.Object({
    encryptionContextEquals: Type.Optional(ContextMap),
    encryptionContextSubset: Type.Optional(ContextMap),
  }, { additionalProperties: false })),
}, { additionalProperties: false })

const CreatedGrant = Type.Object({
  keyId: Type.String(),
  grantId: Type.String(),
  granteePrincipal: Type.String(),
  operations: Type.Array(Type.String()),
  deniedByKeyPolicy: Type.Array(Type.String(), { description: 'Granted operations the key policy explicitly denies this grantee: the grant gives nothing for them (explicit denies win over grants).' }),
})

export const GrantSchema = Type.Intersect([KeyGrantSchema, Type.Object({
  condition: Type.Optional(Type.String({ description: 'The constraint in words: "when the encryption context equals {…}".' })),
})])
export const GrantParams = Type.Intersect([KeyParams, Type.Object({ grantId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9]+$' }) })])

export async function grantsRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { kms } = app
  const errors = problemResponses(400, 401, 403, 404, 409, 502, 503)

  app.post('/keys/:key/grants', {
    schema: {
      summary: 'Creates a grant (CreateGrant, MFA-guarded when configured: X-MFA-Code). The answer names the granted operations the key policy denies the grantee anyway.',
      tags: ['grants'], params: KeyParams, body: CreateGrantBody, response: { 201: CreatedGrant, ...errors },
    },
  }, async (request, reply) => {
    const meta = await resolveKey(kms, request.params.key)
    const keyId = meta.KeyId ?? ''
    const { granteePrincipal, operations, retiringPrincipal, name, constraints } = request.body
    const out = await app.mfa.sensitive(request, 'kms:CreateGrant', (client) => aws(client.send(new CreateGrantCommand({
      KeyId: keyId,
      GranteePrincipal: granteePrincipal,
      Operations: operations,
      ...(retiringPrincipal ? { RetiringPrincipal: retiringPrincipal } : {}),
      ...(name ? { Name: name } : {}),
      ...(constraints ? { Constraints: { EncryptionContextEquals: constraints.encryptionContextEquals, EncryptionContextSubset: constraints.encryptionContextSubset } } : {}),
    })), { action: 'kms:CreateGrant', subject: { key: request.params.key } }))
    request.log.info({ keyId, grantId: out.GrantId, granteePrincipal, operations }, 'grant created')
    reply.code(201)
    return { keyId, grantId: out.GrantId ?? '', granteePrincipal, operations, deniedByKeyPolicy: await deniedToGrantee(keyId, meta.Arn ?? '', granteePrincipal, operations) }
  })

  app.delete('/keys/:key/grants/:grantId', {
    schema: {
      summary: "Revokes a grant (RevokeGrant, keyadmin's own role: taking access away needs no MFA).",
      tags: ['grants'], params: GrantParams,
      response: { 204: Type.Null(), ...errors },
    },
  }, async (request, reply) => {
    const meta = await resolveKey(kms, request.params.key)
    await aws(kms.send(new RevokeGrantCommand({ KeyId: meta.KeyId, GrantId: request.params.grantId })), { action: 'kms:RevokeGrant', subject: { key: request.params.key } })
    request.log.info({ keyId: meta.KeyId, grantId: request.params.grantId }, 'grant revoked')
    return reply.code(204).send(null)
  })

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

  /** The operations an explicit deny in the key policy takes from the grantee whatever the grant says. */
  async function deniedToGrantee(keyId: string, keyArn: string, grantee: string, operations: readonly string[]): Promise<string[]> {
    const { accountId } = await app.identity()
    const simulated = simulatedPrincipal(grantee, accountId)
    if (!simulated) return []
    const policy = await aws(kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' })), { action: 'kms:GetKeyPolicy', subject: { key: keyId } })
    const keyPolicy = documentOf(policy.Policy ?? '')
    const region = await kms.config.region()
    return operations.filter((op) => {
      const action = `kms:${op}`
      // Direct calls and calls through S3 alike: a deny in either is a deny the grant cannot lift everywhere.
      return [{}, { viaS3: true }].every((c) => decideOnKey({
        principal: simulated.principal, action, keyArn, accountId, keyPolicy, identityPolicies: [], context: awsFilledContext(simulated.principal, { region, ...c }),
      }).decision === 'ExplicitlyDenied')
    })
  }
}
