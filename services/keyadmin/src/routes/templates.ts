// GET /policy-templates and POST /policy-templates/:name: the workshop's policies, parameterised,
// with defaults from this deployment (account, region, bucket, the services' roles, keyadmin itself).
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { problemResponses } from '@kms-share/shared'
import { findTemplate, POLICY_TEMPLATES, renderTemplate, TemplateParameterError, validatePolicy } from '@kms-share/policy'
import { KeyadminErrors } from '../errors.js'
import { FindingSchema } from '../schemas/policies.js'

export interface TemplatesRouteOptions {
  bucket: string
  uploaderRole: string
  downloaderRole: string
}

const ParameterValue = Type.Union([Type.String(), Type.Integer(), Type.Array(Type.String())])

const TemplateSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  parameters: Type.Array(Type.Object({
    name: Type.String(),
    type: Type.String(),
    description: Type.String(),
    required: Type.Boolean({ description: 'Required when there is no default here.' }),
    default: Type.Optional(ParameterValue),
  })),
})

export async function templatesRoutes(fastify: FastifyInstance, options: TemplatesRouteOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const errors = problemResponses(400, 401, 403, 404, 502, 503)

  /** Values this deployment knows: who the account, region, bucket and roles are. */
  async function deploymentDefaults(): Promise<Record<string, string | string[]>> {
    const me = await app.identity()
    const region = await app.kms.config.region()
    const administrators = [me.principalArn]
    const defaults: Record<string, string | string[]> = {
      accountId: me.accountId,
      region,
      bucket: options.bucket,
      administrators,
      uploaderRole: options.uploaderRole,
      downloaderRole: options.downloaderRole,
      contextValues: [`arn:aws:s3:::${options.bucket}`, `arn:aws:s3:::${options.bucket}/*`],
    }
    if (app.mfa.enabled) {
      const mfaUser = await app.mfa.sensitiveIdentity()
      administrators.push(mfaUser.principalArn)
      defaults.mfaPrincipals = [mfaUser.principalArn]
    }
    return defaults
  }

  app.get('/policy-templates', {
    schema: { summary: 'The policy templates, their parameters and the defaults this deployment fills in.', tags: ['templates'], response: { 200: Type.Object({ templates: Type.Array(TemplateSchema) }), ...errors } },
  }, async () => {
    const defaults = await deploymentDefaults()
    return {
      templates: POLICY_TEMPLATES.map((t) => ({
        name: t.name,
        description: t.description,
        parameters: t.parameters.map((p) => {
          const value = defaults[p.name] ?? p.default
          return { name: p.name, type: p.type, description: p.description, required: p.required && value === undefined, ...(value !== undefined ? { default: value } : {}) }
        }),
      })),
    }
  })

  app.post('/policy-templates/:name', {
    config: { scope: 'keys:read' },
    schema: {
      summary: 'Renders a template with the given parameters (the rest from defaults): the policy text and its findings. Apply it with PUT /keys/:key/policy.',
      tags: ['templates'],
      params: Type.Object({ name: Type.String({ minLength: 1 }) }),
      body: Type.Optional(Type.Object({ parameters: Type.Record(Type.String(), ParameterValue, { default: {} }) }, { additionalProperties: false })),
      response: { 200: Type.Object({ name: Type.String(), policy: Type.String(), parameters: Type.Record(Type.String(), ParameterValue), findings: Type.Array(FindingSchema) }), ...errors },
    },
  }, async (request) => {
    const template = findTemplate(request.params.name)
    if (!template) throw new KeyadminErrors.TEMPLATE_NOT_FOUND(`${request.params.name} (templates: ${POLICY_TEMPLATES.map((t) => t.name).join(', ')})`)
    const defaults = await deploymentDefaults()
    const known = new Set(template.parameters.map((p) => p.name))
    const given = request.body?.parameters ?? {}
    const merged: Record<string, unknown> = { ...Object.fromEntries(Object.entries(defaults).filter(([k]) => known.has(k))), ...given }
    try {
      const { policy, values } = renderTemplate(template, merged)
      const findings = validatePolicy(policy, { service: 'kms', kind: 'resource', accountId: String(values.accountId) })
      return { name: template.name, policy, parameters: values, findings }
    } catch (err) {
      if (err instanceof TemplateParameterError) throw new KeyadminErrors.TEMPLATE_PARAMETERS(err.message)
      throw err
    }
  })
}
