// VPC endpoints as keyadmin answers them: EC2's description plus the endpoint URL a client
// passes as --endpoint-url / AWS_ENDPOINT_URL_KMS to go through the endpoint.
import { DescribeVpcEndpointsCommand, type EC2Client, type VpcEndpoint } from '@aws-sdk/client-ec2'
import { Type, type Static } from 'typebox'
import { ec2Call } from './ec2-errors.js'
import { NetworkErrors } from './errors.js'

export const VpcEndpointSchema = Type.Object({
  id: Type.String(),
  vpcId: Type.String(),
  serviceName: Type.String(),
  service: Type.String({ description: 'kms, s3 …' }),
  type: Type.String(),
  state: Type.String({ description: 'pending, available, deleting, deleted, failed …' }),
  privateDnsEnabled: Type.Boolean(),
  subnetIds: Type.Array(Type.String()),
  securityGroupIds: Type.Array(Type.String()),
  dnsNames: Type.Array(Type.String(), { description: "The endpoint's DNS names: regional, zonal, then (with private DNS) the service's regional name." }),
  endpointUrl: Type.String({ description: 'What to give --endpoint-url or AWS_ENDPOINT_URL_<SERVICE> to go through this endpoint.' }),
  privateDnsUrl: Type.Optional(Type.String({ description: "With private DNS on: the service's usual URL, which inside the VPC reaches this endpoint." })),
  policy: Type.String({ description: 'The endpoint policy (JSON text).' }),
  createdAt: Type.Optional(Type.String()),
  tags: Type.Record(Type.String(), Type.String()),
})
export type VpcEndpointOut = Static<typeof VpcEndpointSchema>

/** The service part of `com.amazonaws.<region>.<service>`. */
export const serviceOf = (serviceName: string) => serviceName.split('.').pop() ?? serviceName

/**
 * The URL that reaches a service through an endpoint. Against AWS: https://<the endpoint's regional DNS name>.
 * Against the lab (an endpoint URL is configured): <lab>/vpce/<id>, the lab's way of marking a call as arriving through it.
 */
export function endpointUrlFor(e: VpcEndpoint, configured: string | undefined): string {
  const id = e.VpcEndpointId ?? ''
  if (configured) return `${configured.replace(/\/vpce\/[^/]+\/?$/, '').replace(/\/+$/, '')}/vpce/${id}`
  const regional = (e.DnsEntries ?? []).map((d) => d.DnsName ?? '').find((n) => n.startsWith(`${id}-`))
  return regional ? `https://${regional}` : ''
}

export function endpointOut(e: VpcEndpoint, configured: string | undefined): VpcEndpointOut {
  const serviceName = e.ServiceName ?? ''
  const service = serviceOf(serviceName)
  const dnsNames = (e.DnsEntries ?? []).map((d) => d.DnsName ?? '').filter(Boolean)
  const privateName = dnsNames.find((n) => !n.includes('.vpce.'))
  return {
    id: e.VpcEndpointId ?? '',
    vpcId: e.VpcId ?? '',
    serviceName,
    service,
    type: e.VpcEndpointType ?? '',
    state: String(e.State ?? '').toLowerCase(),
    privateDnsEnabled: Boolean(e.PrivateDnsEnabled),
    subnetIds: e.SubnetIds ?? [],
    securityGroupIds: (e.Groups ?? []).map((g) => g.GroupId ?? ''),
    dnsNames,
    endpointUrl: endpointUrlFor(e, configured),
    ...(e.PrivateDnsEnabled && privateName ? { privateDnsUrl: `https://${privateName}` } : {}),
    policy: e.PolicyDocument ?? '',
    ...(e.CreationTimestamp ? { createdAt: e.CreationTimestamp.toISOString() } : {}),
    tags: Object.fromEntries((e.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
  }
}

/** One endpoint by id; a 404 problem when EC2 does not know it. */
export async function describeEndpoint(ec2: EC2Client, id: string): Promise<VpcEndpoint> {
  const out = await ec2Call(ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [id] })), 'ec2:DescribeVpcEndpoints', id)
  const found = out.VpcEndpoints?.find((e) => e.VpcEndpointId === id)
  if (!found) throw new NetworkErrors.VPC_ENDPOINT_NOT_FOUND(id)
  return found
}

/** Every endpoint matching the filters (all pages). */
export async function listEndpoints(ec2: EC2Client, filters: Array<{ Name: string; Values: string[] }>): Promise<VpcEndpoint[]> {
  const all: VpcEndpoint[] = []
  let token: string | undefined
  do {
    const out = await ec2Call(ec2.send(new DescribeVpcEndpointsCommand({ ...(filters.length ? { Filters: filters } : {}), MaxResults: 100, ...(token ? { NextToken: token } : {}) })), 'ec2:DescribeVpcEndpoints')
    all.push(...(out.VpcEndpoints ?? []))
    token = out.NextToken
  } while (token && all.length < 10_000)
  // AWS lists a deleted endpoint for a while (deleting, then deleted); for this service it is gone.
  // AWS answers these states in lower case, which the SDK's State type (Deleting, Deleted) does not spell.
  return all.filter((e) => !['deleting', 'deleted'].includes(String(e.State).toLowerCase()))
}

/**
 * Polls until the endpoint is `available` (or failed/rejected/deleted), at most `waitMs`.
 * AWS takes a minute or two; each poll is a time-limited DescribeVpcEndpoints.
 */
export async function waitForAvailable(ec2: EC2Client, id: string, waitMs: number, signal?: AbortSignal, intervalMs = 1_000): Promise<VpcEndpoint> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const e = await describeEndpoint(ec2, id)
    const state = String(e.State ?? '').toLowerCase()
    if (state !== 'pending' && state !== 'pendingacceptance') return e
    if (Date.now() + intervalMs > deadline || signal?.aborted) return e
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
