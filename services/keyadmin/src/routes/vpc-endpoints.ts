// KMS (and S3) interface VPC endpoints, the workshop's part 4 in one call: defaults from the instance's
// own network, private DNS on, optionally waiting until `available`; and part 5's endpoint-only key
// policy rendered for the endpoint just made, next to the workshop's version and why it breaks SSE-KMS.
// Scopes come from app.ts's hook: keys:read for GETs and rendering, keys:admin for changes.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CreateVpcEndpointCommand, DeleteVpcEndpointsCommand, ModifyVpcEndpointCommand, type EC2Client, type VpcEndpoint } from '@aws-sdk/client-ec2'
import { problemResponses } from '@kms-share/shared'
import { findTemplate, renderTemplate, validatePolicy } from '@kms-share/policy'
import { ec2Call } from '../network/ec2-errors.js'
import { describeEndpoint, endpointOut, listEndpoints, serviceOf, VpcEndpointSchema, waitForAvailable } from '../network/endpoints.js'
import { NetworkErrors } from '../network/errors.js'
import { FindingSchema } from '../schemas/policies.js'
import { refuseInvalid } from '../policy-check.js'

const VPCE_ID = '^vpce-[0-9a-f]{8,17}$'
const Params = Type.Object({ id: Type.String({ pattern: VPCE_ID, description: 'vpce-…' }) })
// Below the server's default idle limit (HTTP_IDLE_TIMEOUT_MS, 120 s): a waiting answer sends no bytes. Still pending: ask again.
const WaitSeconds = Type.Integer({ minimum: 1, maximum: 110, default: 90, description: 'Longest wait for `available` (AWS takes a minute or two; still pending afterwards: GET /vpc-endpoints/:id?wait=true again).' })
const Policy = Type.String({ minLength: 2, maxLength: 20_480, description: 'Endpoint policy (JSON text).' })

const CreateBody = Type.Object({
  service: Type.Union([Type.Literal('kms'), Type.Literal('s3')], { default: 'kms', description: 'The endpoint service: com.amazonaws.<region>.<service>.' }),
  vpcId: Type.Optional(Type.String({ pattern: '^vpc-[0-9a-f]{8,17}$', description: "Default: keyadmin's own VPC (instance metadata)." })),
  subnetIds: Type.Optional(Type.Array(Type.String({ pattern: '^subnet-[0-9a-f]{8,17}$' }), { minItems: 1, maxItems: 16, description: "Default: keyadmin's own subnet." })),
  securityGroupIds: Type.Optional(Type.Array(Type.String({ pattern: '^sg-[0-9a-f]{8,17}$' }), { minItems: 1, maxItems: 5, description: "Default: keyadmin's own security groups." })),
  privateDns: Type.Boolean({ default: true, description: "Private DNS: inside the VPC the service's usual name reaches the endpoint (needs the VPC's DNS support and hostnames)." }),
  policy: Type.Optional(Policy),
  tags: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 50 })),
  wait: Type.Boolean({ default: false, description: 'Answer only once the endpoint is available (or waitSeconds passed).' }),
  waitSeconds: Type.Optional(WaitSeconds),
}, { additionalProperties: false })

const PatchBody = Type.Object({
  policy: Type.Optional(Type.Union([Policy, Type.Null()], { description: 'A new endpoint policy; null resets it to full access.' })),
  privateDns: Type.Optional(Type.Boolean()),
}, { additionalProperties: false, minProperties: 1 })

const WaitQuery = Type.Object({
  wait: Type.Boolean({ default: false, description: 'Answer once the endpoint is available (or waitSeconds passed).' }),
  waitSeconds: Type.Optional(WaitSeconds),
}, { additionalProperties: false })

const KeyPolicyResult = Type.Object({
  name: Type.Literal('vpce-only'),
  endpoint: Type.String(),
  policy: Type.String(),
  findings: Type.Array(FindingSchema),
  workshopVersion: Type.Object({
    policy: Type.String({ description: "The workshop's part 5 policy for this endpoint: a Deny without the service exception." }),
    findings: Type.Array(FindingSchema, { description: 'Includes VPCE_DENY_BLOCKS_AWS_SERVICES: why it breaks SSE-KMS uploads and downloads.' }),
  }),
  apply: Type.String(),
})

/** The workshop's part 5 policy (seed/policies/vpce-only-data-operations.json) with this account, role and endpoint. */
function workshopVpceOnlyPolicy(accountId: string, role: string, vpceId: string): string {
  return `${JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' },
      {
        Sid: 'Allow for Use only within our VPC',
        Effect: 'Deny',
        Principal: { AWS: `arn:aws:iam::${accountId}:role/${role}` },
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
        Resource: '*',
        Condition: { StringNotEquals: { 'aws:sourceVpce': vpceId } },
      },
    ],
  }, null, 2)}\n`
}

/** Endpoint policies are resource policies: one with ERROR findings is refused (422, every finding) before EC2 sees it. */
function checkEndpointPolicy(text: string | null | undefined): void {
  if (typeof text === 'string') refuseInvalid(validatePolicy(text, { kind: 'resource' }))
}

/** Waits for `available`, but stops polling once the client has gone. */
async function waitWhileConnected(request: FastifyRequest, ec2: EC2Client, id: string, waitMs: number, pollMs?: number): Promise<VpcEndpoint> {
  const gone = new AbortController()
  const onClose = () => gone.abort()
  const socket = request.raw.socket
  socket?.once('close', onClose)
  try {
    return await waitForAvailable(ec2, id, waitMs, gone.signal, pollMs)
  } finally {
    socket?.off('close', onClose)
  }
}

export interface VpcEndpointsRouteOptions {
  /** The role the workshop's version of the endpoint-only policy names. */
  workshopRole?: string
  /** Poll interval while waiting for `available`. */
  pollMs?: number
}

export async function vpcEndpointsRoutes(fastify: FastifyInstance, options: VpcEndpointsRouteOptions = {}) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const errors = problemResponses(400, 401, 403, 404, 502, 503)
  const out = (e: Parameters<typeof endpointOut>[0]) => endpointOut(e, app.serviceEndpoint(serviceOf(e.ServiceName ?? '') === 's3' ? 's3' : 'kms'))

  app.post('/vpc-endpoints', {
    schema: {
      summary: "Creates an interface VPC endpoint (KMS by default) in keyadmin's own VPC, subnet and security groups unless given, private DNS on.",
      tags: ['network'],
      body: CreateBody,
      response: { 201: VpcEndpointSchema, ...errors, ...problemResponses(422) },
    },
  }, async (request, reply) => {
    const body = request.body
    checkEndpointPolicy(body.policy)
    const own = body.vpcId && body.subnetIds && body.securityGroupIds ? undefined : await app.instanceNetwork()
    const region = await app.ec2.config.region()
    const created = await ec2Call(app.ec2.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface',
      ServiceName: `com.amazonaws.${region}.${body.service}`,
      VpcId: body.vpcId ?? own!.vpcId,
      SubnetIds: body.subnetIds ?? [own!.subnetId],
      SecurityGroupIds: body.securityGroupIds ?? own!.securityGroupIds,
      PrivateDnsEnabled: body.privateDns,
      ...(body.policy ? { PolicyDocument: body.policy } : {}),
      ...(body.tags ? { TagSpecifications: [{ ResourceType: 'vpc-endpoint', Tags: Object.entries(body.tags).map(([Key, Value]) => ({ Key, Value })) }] } : {}),
      // Idempotent retries within this call (the SDK retries once).
      ClientToken: randomUUID(),
    })), 'ec2:CreateVpcEndpoint')
    let endpoint = created.VpcEndpoint
    if (!endpoint?.VpcEndpointId) throw new Error('EC2 returned no VPC endpoint')
    request.log.info({ vpcEndpointId: endpoint.VpcEndpointId, service: body.service }, 'VPC endpoint created')
    if (body.wait) endpoint = await waitWhileConnected(request, app.ec2, endpoint.VpcEndpointId, (body.waitSeconds ?? 90) * 1000, options.pollMs)
    reply.code(201).header('location', `/vpc-endpoints/${endpoint.VpcEndpointId}`)
    return out(endpoint)
  })

  app.get('/vpc-endpoints', {
    schema: {
      summary: 'VPC endpoints, by default those in keyadmin’s own VPC (?vpcId=all for every VPC).',
      tags: ['network'],
      querystring: Type.Object({
        vpcId: Type.Optional(Type.String({ pattern: '^(vpc-[0-9a-f]{8,17}|all)$' })),
        service: Type.Optional(Type.Union([Type.Literal('kms'), Type.Literal('s3')])),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ vpcId: Type.String(), endpoints: Type.Array(VpcEndpointSchema) }), ...errors },
    },
  }, async (request) => {
    const vpcId = request.query.vpcId ?? (await app.instanceNetwork()).vpcId
    const filters = vpcId === 'all' ? [] : [{ Name: 'vpc-id', Values: [vpcId] }]
    if (request.query.service) filters.push({ Name: 'service-name', Values: [`com.amazonaws.${await app.ec2.config.region()}.${request.query.service}`] })
    return { vpcId, endpoints: (await listEndpoints(app.ec2, filters)).map(out) }
  })

  app.get('/vpc-endpoints/:id', {
    schema: { summary: 'One VPC endpoint: state, DNS names, endpoint URL, policy (?wait=true waits for available).', tags: ['network'], params: Params, querystring: WaitQuery, response: { 200: VpcEndpointSchema, ...errors } },
  }, async (request) => {
    const { id } = request.params
    const e = request.query.wait ? await waitWhileConnected(request, app.ec2, id, (request.query.waitSeconds ?? 90) * 1000, options.pollMs) : await describeEndpoint(app.ec2, id)
    return out(e)
  })

  app.patch('/vpc-endpoints/:id', {
    schema: { summary: "Changes an endpoint's policy (null: full access again) or private DNS.", tags: ['network'], params: Params, body: PatchBody, response: { 200: VpcEndpointSchema, ...errors, ...problemResponses(422) } },
  }, async (request) => {
    const { id } = request.params
    const { policy, privateDns } = request.body
    checkEndpointPolicy(policy)
    await ec2Call(app.ec2.send(new ModifyVpcEndpointCommand({
      VpcEndpointId: id,
      ...(policy === null ? { ResetPolicy: true } : policy !== undefined ? { PolicyDocument: policy } : {}),
      ...(privateDns !== undefined ? { PrivateDnsEnabled: privateDns } : {}),
    })), 'ec2:ModifyVpcEndpoint', id)
    request.log.info({ vpcEndpointId: id, policyChanged: policy !== undefined, privateDns }, 'VPC endpoint modified')
    return out(await describeEndpoint(app.ec2, id))
  })

  app.delete('/vpc-endpoints/:id', {
    schema: { summary: 'Deletes a VPC endpoint.', tags: ['network'], params: Params, response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    const { id } = request.params
    const result = await ec2Call(app.ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [id] })), 'ec2:DeleteVpcEndpoints', id)
    // EC2 answers 200 and lists ids it could not delete.
    const failed = result.Unsuccessful?.find((u) => u.ResourceId === id)
    if (failed) {
      const code = failed.Error?.Code ?? ''
      if (/NotFound/.test(code)) throw new NetworkErrors.VPC_ENDPOINT_NOT_FOUND(id)
      throw new NetworkErrors.EC2_REJECTED(`${code}: ${failed.Error?.Message ?? ''}`)
    }
    request.log.info({ vpcEndpointId: id }, 'VPC endpoint deleted')
    return reply.code(204).send(null)
  })

  app.post('/vpc-endpoints/:id/key-policy', {
    // Rendering changes nothing: readers may do it (app.ts's scope hook).
    config: { scope: 'keys:read' },
    schema: {
      summary: "Renders the vpce-only key policy for this endpoint (SSE-KMS through S3 stays allowed), with the workshop's version and the finding that explains why it breaks SSE-KMS. Apply with PUT /keys/:key/policy.",
      tags: ['network', 'templates'],
      params: Params,
      response: { 200: KeyPolicyResult, ...errors },
    },
  }, async (request) => {
    const { id } = request.params
    const endpoint = await describeEndpoint(app.ec2, id)
    const me = await app.identity()
    const template = findTemplate('vpce-only')
    if (!template) throw new Error('the vpce-only template is missing from @kms-share/policy')
    const { policy } = renderTemplate(template, { accountId: me.accountId, vpceIds: [endpoint.VpcEndpointId ?? id] })
    const workshop = workshopVpceOnlyPolicy(me.accountId, options.workshopRole ?? 'KMSWorkshop-InstaceInitRole', endpoint.VpcEndpointId ?? id)
    const validate = (text: string) => validatePolicy(text, { service: 'kms', kind: 'resource', accountId: me.accountId })
    return {
      name: 'vpce-only' as const,
      endpoint: endpoint.VpcEndpointId ?? id,
      policy,
      findings: validate(policy),
      workshopVersion: { policy: workshop, findings: validate(workshop) },
      apply: 'PUT /keys/:key/policy with {"policy": <policy>} (POST /policy-templates/vpce-only with {"parameters": {"vpceIds": [id]}} renders the same)',
    }
  })
}
