// What the instance keyadmin runs on knows about its network, read from instance metadata with
// IMDSv2 (one session token, then plain GETs). The paths are AWS's; two of the workshop's are wrong:
// `.../network/interface:MAC/subnet-id` and `.../macs/mac:MAC/security-group-ids`.
import type { MetadataService } from '@aws-sdk/ec2-metadata-service'
import { problemOf, ProblemError } from '@kms-share/shared'
import { NetworkErrors } from './errors.js'

export interface InstanceNetwork {
  instanceId: string
  availabilityZone: string
  region: string
  accountId: string
  mac: string
  privateIp: string
  vpcId: string
  vpcCidr: string
  subnetId: string
  subnetCidr: string
  securityGroupIds: string[]
  securityGroupNames: string[]
  /** The metadata paths each value came from, with this instance's MAC filled in. */
  metadataPaths: Record<string, string>
}

const META = '/latest/meta-data'
const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean)

/** Reads the instance's identity and network from metadata; a 503 problem when metadata does not answer. */
export async function discoverNetwork(imds: MetadataService): Promise<InstanceNetwork> {
  let token: string
  try {
    token = await imds.fetchMetadataToken()
  } catch (err) {
    throw new ProblemError(problemOf(new NetworkErrors.METADATA_UNAVAILABLE(`PUT /latest/api/token: ${(err as Error).message}`)), { cause: err })
  }
  const get = async (path: string): Promise<string> => {
    try {
      return (await imds.request(path, { headers: { 'x-aws-ec2-metadata-token': token } })).trim()
    } catch (err) {
      throw new ProblemError(problemOf(new NetworkErrors.METADATA_UNAVAILABLE(`GET ${path}: ${(err as Error).message}`)), { cause: err })
    }
  }
  const mac = await get(`${META}/mac`)
  const macs = `${META}/network/interfaces/macs/${mac}`
  const paths = {
    instanceId: `${META}/instance-id`,
    availabilityZone: `${META}/placement/availability-zone`,
    region: `${META}/placement/region`,
    mac: `${META}/mac`,
    privateIp: `${META}/local-ipv4`,
    vpcId: `${macs}/vpc-id`,
    vpcCidr: `${macs}/vpc-ipv4-cidr-block`,
    subnetId: `${macs}/subnet-id`,
    subnetCidr: `${macs}/subnet-ipv4-cidr-block`,
    securityGroupIds: `${macs}/security-group-ids`,
    securityGroupNames: `${macs}/security-groups`,
    accountId: '/latest/dynamic/instance-identity/document',
  }
  const [instanceId, availabilityZone, region, privateIp, vpcId, vpcCidr, subnetId, subnetCidr, groupIds, groupNames, identity] = await Promise.all([
    get(paths.instanceId), get(paths.availabilityZone), get(paths.region), get(paths.privateIp), get(paths.vpcId), get(paths.vpcCidr),
    get(paths.subnetId), get(paths.subnetCidr), get(paths.securityGroupIds), get(paths.securityGroupNames), get(paths.accountId),
  ])
  let accountId = ''
  try {
    accountId = String((JSON.parse(identity) as { accountId?: string }).accountId ?? '')
  } catch {
    // The identity document is JSON on EC2; without it the account comes from STS elsewhere.
  }
  return {
    instanceId, availabilityZone, region, accountId, mac, privateIp, vpcId, vpcCidr, subnetId, subnetCidr,
    securityGroupIds: lines(groupIds), securityGroupNames: lines(groupNames), metadataPaths: paths,
  }
}
