// GET /network and GET /network/dns: the instance keyadmin runs on (from instance metadata, IMDSv2)
// and whether its VPC's resolver sends the regional KMS name to a VPC endpoint (workshop parts 4–5).
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DescribeVpcAttributeCommand } from '@aws-sdk/client-ec2'
import { problemResponses } from '@kms-share/shared'
import { ec2Call } from '../network/ec2-errors.js'
import { endpointOut, listEndpoints, VpcEndpointSchema } from '../network/endpoints.js'

export const NetworkSchema = Type.Object({
  instanceId: Type.String(),
  availabilityZone: Type.String(),
  region: Type.String(),
  accountId: Type.String(),
  mac: Type.String(),
  privateIp: Type.String(),
  vpcId: Type.String(),
  vpcCidr: Type.String(),
  subnetId: Type.String(),
  subnetCidr: Type.String(),
  securityGroupIds: Type.Array(Type.String()),
  securityGroupNames: Type.Array(Type.String()),
  metadataPaths: Type.Record(Type.String(), Type.String(), { description: 'The instance metadata path each value was read from.' }),
})

const DnsSchema = Type.Object({
  vpcId: Type.String(),
  enableDnsSupport: Type.Boolean(),
  enableDnsHostnames: Type.Boolean(),
  service: Type.String({ description: 'com.amazonaws.<region>.kms' }),
  regionalName: Type.String({ description: 'kms.<region>.amazonaws.com' }),
  resolvesToEndpoint: Type.Boolean({ description: "Whether, inside this VPC, the regional name answers with a KMS endpoint's addresses." }),
  endpoint: Type.Optional(VpcEndpointSchema),
  explanation: Type.String(),
})

export async function networkRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get('/network', {
    schema: {
      summary: 'The instance keyadmin runs on: instance id, zone, region, VPC, subnet and security groups, from instance metadata (IMDSv2).',
      tags: ['network'],
      response: { 200: NetworkSchema, ...problemResponses(401, 403, 503) },
    },
  }, async () => app.instanceNetwork())

  app.get('/network/dns', {
    schema: {
      summary: "The VPC's DNS support and DNS hostnames, and whether the regional KMS name resolves to a KMS VPC endpoint (private DNS).",
      tags: ['network'],
      querystring: Type.Object({ vpcId: Type.Optional(Type.String({ pattern: '^vpc-[0-9a-f]{8,17}$', description: "Default: keyadmin's own VPC." })) }, { additionalProperties: false }),
      response: { 200: DnsSchema, ...problemResponses(400, 401, 403, 404, 502, 503) },
    },
  }, async (request) => {
    const vpcId = request.query.vpcId ?? (await app.instanceNetwork()).vpcId
    const region = await app.ec2.config.region()
    const attribute = async (Attribute: 'enableDnsSupport' | 'enableDnsHostnames') => {
      const out = await ec2Call(app.ec2.send(new DescribeVpcAttributeCommand({ VpcId: vpcId, Attribute })), 'ec2:DescribeVpcAttribute')
      return Boolean((Attribute === 'enableDnsSupport' ? out.EnableDnsSupport : out.EnableDnsHostnames)?.Value)
    }
    const service = `com.amazonaws.${region}.kms`
    const [enableDnsSupport, enableDnsHostnames, endpoints] = await Promise.all([
      attribute('enableDnsSupport'),
      attribute('enableDnsHostnames'),
      listEndpoints(app.ec2, [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'service-name', Values: [service] }]),
    ])
    const privateDns = endpoints.find((e) => e.PrivateDnsEnabled && String(e.State).toLowerCase() === 'available')
    const pending = endpoints.find((e) => e.PrivateDnsEnabled && String(e.State).toLowerCase() === 'pending')
    const regionalName = `kms.${region}.amazonaws.com`
    const resolvesToEndpoint = Boolean(privateDns && enableDnsSupport && enableDnsHostnames)
    let explanation: string
    if (resolvesToEndpoint) explanation = `Inside ${vpcId}, ${regionalName} resolves to ${privateDns!.VpcEndpointId}: calls to KMS's usual URL go through the endpoint.`
    else if (!enableDnsSupport || !enableDnsHostnames) {
      explanation = `${vpcId} has DNS ${!enableDnsSupport ? 'support' : 'hostnames'} off, so the endpoint's private DNS does not answer: ${regionalName} resolves to KMS's public addresses, and only calls sent to the endpoint's own URL go through an endpoint.`
    } else if (pending) explanation = `${pending.VpcEndpointId} has private DNS on but is still pending; ${regionalName} resolves to it once it is available.`
    else explanation = `No available KMS endpoint with private DNS in ${vpcId}: ${regionalName} resolves to KMS's public addresses.`
    const shown = privateDns ?? pending
    return {
      vpcId, enableDnsSupport, enableDnsHostnames, service, regionalName, resolvesToEndpoint,
      ...(shown ? { endpoint: endpointOut(shown, app.serviceEndpoint('kms')) } : {}),
      explanation,
    }
  })
}
