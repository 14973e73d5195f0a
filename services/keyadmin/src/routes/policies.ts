// Key policies: GET and PUT (validate → lockout check → apply, or a dry run with a diff),
// POST /policies/validate and POST /policies/simulate.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { ProblemError, problemResponses } from '@kms-share/shared'
import { validatePolicy, type NamedPolicy, type RequestContext } from '@kms-share/policy'
import { aws } from '../aws-errors.js'
import { unifiedDiff } from '../diff.js'
import { KeyadminErrors } from '../errors.js'
import { IamReader } from '../iam-read.js'
import { resolveKey } from '../keys.js'
import { accessChanges, keyAccessContext } from '../key-access.js'
import { documentOf, findingsFor, lockoutCheck, problemWith, refuseInvalid, refuseLockout, syntaxFirst } from '../policy-check.js'
import { KeyParams } from '../schemas/keys.js'
import {
  CheckNoNewAccessBodySchema, CheckNoNewAccessResultSchema, FindingsSchema, KeyPolicySchema, PolicyTextBodySchema, PutPolicyQuerySchema, PutPolicyResultSchema, SimulateBodySchema, SimulateResultSchema,
} from '../schemas/policies.js'
import { awsFilledContext, checkContextKeys, decideOnKey, encryptionContextKeys, kmsAction, mergeContext, ROOT_IDENTITY_POLICY, simulatedPrincipal } from '../simulation.js'

export interface PoliciesRouteOptions {
  /** The bucket whose objects the access matrix judges (through S3, for its objects). */
  bucket: string
}

export async function policiesRoutes(fastify: FastifyInstance, options: PoliciesRouteOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { kms } = app
  const errors = problemResponses(400, 401, 403, 404, 409, 422, 502, 503)

  async function currentPolicy(keyId: string): Promise<string> {
    const out = await aws(kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' })), { action: 'kms:GetKeyPolicy', subject: { key: keyId } })
    return out.Policy ?? ''
  }

  app.get('/keys/:key/policy', {
    schema: { summary: "The key's policy and its findings.", tags: ['policies'], params: KeyParams, response: { 200: KeyPolicySchema, ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    const policy = await currentPolicy(meta.KeyId ?? '')
    return { keyId: meta.KeyId ?? '', arn: meta.Arn ?? '', policy, findings: await findingsFor(app, policy) }
  })

  app.put('/keys/:key/policy', {
    schema: {
      summary: 'Validates the policy (422 with every finding on any ERROR), checks that keyadmin could still change it afterwards (409 if not), then applies it (MFA-guarded when configured). ?dryRun=true: findings, lockout check and diff only.',
      tags: ['policies'], params: KeyParams, querystring: PutPolicyQuerySchema, body: PolicyTextBodySchema, response: { 200: PutPolicyResultSchema, ...errors },
    },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    const keyId = meta.KeyId ?? ''
    const text = request.body.policy
    const findings = await findingsFor(app, text)
    const diff = unifiedDiff(await currentPolicy(keyId), text)
    refuseInvalid(findings)
    const lockout = await lockoutCheck(app, meta.Arn ?? '', documentOf(text), text)
    // A Deny that could lock keyadmin out later is a finding at its line, not a silent pass.
    findings.push(...lockout.risks)
    findings.sort((a, b) => a.line - b.line || a.column - b.column)
    if (request.query.dryRun) {
      const access = await accessChanges(await keyAccessContext(app, keyId, options.bucket), documentOf(text))
      return { keyId, applied: false, findings, lockout, diff, access }
    }
    refuseLockout(lockout)
    await app.mfa.sensitive(request, 'kms:PutKeyPolicy', (client) => aws(client.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: text })), { action: 'kms:PutKeyPolicy', subject: { key: request.params.key } }))
    request.log.info({ keyId, findings: findings.length }, 'key policy applied')
    return { keyId, applied: true, findings, lockout, diff }
  })

  app.post('/keys/:key/policy/check-no-new-access', {
    config: { scope: 'keys:read' },
    schema: {
      summary: "For scripts and CI: 200 PASS when the proposed policy gives nobody an action (or a circumstance) they lack under the key's current policy (or referencePolicy), judged with identity policies and grants; 409 KADM_NEW_ACCESS with the list otherwise; 422 with the findings when the policy has errors.",
      tags: ['policies'], params: KeyParams, body: CheckNoNewAccessBodySchema, response: { 200: CheckNoNewAccessResultSchema, ...errors },
    },
  }, async (request) => {
    const { policy, referencePolicy } = request.body
    refuseInvalid(await findingsFor(app, policy))
    if (referencePolicy) refuseInvalid(await findingsFor(app, referencePolicy))
    const ctx = await keyAccessContext(app, request.params.key, options.bucket)
    const result = await accessChanges(ctx, documentOf(policy), referencePolicy ? documentOf(referencePolicy) : undefined)
    if (result.newAccess.length > 0) {
      const list = result.newAccess.map((c) => c.sentence)
      throw new ProblemError(problemWith(new KeyadminErrors.NEW_ACCESS(list.join('; ')), { result: 'FAIL', keyId: ctx.keyId, ...result }))
    }
    const losses = result.changes.length
    return { keyId: ctx.keyId, result: 'PASS' as const, message: losses === 0 ? 'No change in who can do what.' : `No new access; ${losses} narrowed or removed.`, ...result }
  })

  app.post('/policies/validate', {
    config: { scope: 'keys:read' },
    schema: { summary: "Every finding for a key policy, in packages/policy's shape (text in, so one that does not parse can be checked).", tags: ['policies'], body: PolicyTextBodySchema, response: { 200: FindingsSchema, ...errors } },
  }, async (request) => ({ findings: await findingsFor(app, request.body.policy) }))

  app.post('/policies/simulate', {
    config: { scope: 'keys:read' },
    schema: {
      summary: 'Whether a principal may perform a KMS action on a key under a key policy, with the context AWS would fill (given keys override; keys AWS never sets are refused).',
      tags: ['policies'], body: SimulateBodySchema, response: { 200: SimulateResultSchema, ...errors },
    },
  }, async (request) => {
    const body = request.body
    if (!body.policy && !body.key) throw new KeyadminErrors.SIMULATE_INPUT('give a policy (text) or a key, or both')
    const action = kmsAction(body.action)
    const given = checkContextKeys({ ...encryptionContextKeys(body.encryptionContext), ...(body.context ?? {}) })
    const { accountId } = await app.identity()
    const region = await kms.config.region()
    const simulated = simulatedPrincipal(body.principal, accountId)
    if (!simulated) throw new KeyadminErrors.SIMULATE_INPUT(`principal ${body.principal}: give a role, role session, user or root ARN, or an account id`)

    const meta = body.key ? await resolveKey(kms, body.key) : undefined
    const text = body.policy ?? await currentPolicy(meta?.KeyId ?? '')
    const findings = syntaxFirst(validatePolicy(text, { service: 'kms', kind: 'resource', accountId }))
    const document = documentOf(text)
    const resource = meta?.Arn ?? `arn:aws:kms:${region}:${accountId}:key/simulated-key`

    let identityPolicies: NamedPolicy[] = []
    if (body.identityPolicies) {
      if (simulated.principal.type === 'root') identityPolicies = [ROOT_IDENTITY_POLICY]
      else if (simulated.iamEntity) identityPolicies = await new IamReader(app.iam).identityPolicies(simulated.iamEntity)
    }
    const lower = new Set(Object.keys(given).map((k) => k.toLowerCase()))
    const age = Object.entries(given).find(([k]) => k.toLowerCase() === 'aws:multifactorauthage')?.[1]
    const filled = awsFilledContext(simulated.principal, {
      region,
      viaS3: lower.has('kms:viaservice'),
      ...(typeof age === 'string' && /^\d+$/.test(age) ? { mfaAgeSeconds: Number(age) } : {}),
    })
    const context: RequestContext = mergeContext(filled, given)
    const result = decideOnKey({ principal: simulated.principal, action, keyArn: resource, accountId, keyPolicy: document, identityPolicies, context })
    return {
      decision: result.decision,
      statements: result.decidingStatements,
      explanation: [...result.explanation],
      ...(result.deniedBy ? { deniedBy: result.deniedBy } : {}),
      resource,
      context,
      identityPolicies: identityPolicies.map((p) => p.name),
      findings,
    }
  })
}
