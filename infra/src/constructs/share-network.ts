// Where the services run: a VPC (or an existing one, every id given so nothing is looked up), an S3 gateway
// endpoint, a KMS interface endpoint with private DNS, and one security group per service that lets it out
// only on 443 (AWS APIs, its image registry) and in only from the load balancer, which the edge stack adds.
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import { Construct } from 'constructs'
import type { Duty } from '@kms-share/policy'
import { DUTIES, capitalise } from '../names.js'
import { acknowledge } from '../nag.js'
import type { ExistingVpc } from '../settings.js'

export interface ShareNetworkProps {
  existingVpc?: ExistingVpc
  cidr: string
  natGateways: number
  /** Where the VPC's flow logs go (a new VPC only). */
  flowLogBucket?: s3.IBucket
}

export class ShareNetwork extends Construct {
  readonly vpc: ec2.IVpc
  readonly serviceGroups: Record<Duty, ec2.SecurityGroup>
  readonly kmsEndpoint: ec2.InterfaceVpcEndpoint
  readonly s3Endpoint: ec2.GatewayVpcEndpoint

  constructor(scope: Construct, id: string, props: ShareNetworkProps) {
    super(scope, id)
    const given = props.existingVpc
    if (given) {
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: given.vpcId,
        vpcCidrBlock: given.cidr,
        availabilityZones: given.availabilityZones,
        privateSubnetIds: given.privateSubnetIds,
        privateSubnetRouteTableIds: given.privateRouteTableIds,
        publicSubnetIds: given.publicSubnetIds,
      })
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(props.cidr),
        maxAzs: 2,
        natGateways: props.natGateways,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
          { name: 'private', subnetType: props.natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 },
        ],
        // A custom resource (a Lambda function) would be needed; the default group is left unused instead.
        restrictDefaultSecurityGroup: false,
        flowLogs: props.flowLogBucket
          ? { rejected: { destination: ec2.FlowLogDestination.toS3(props.flowLogBucket, 'vpc-flow-logs/'), trafficType: ec2.FlowLogTrafficType.REJECT } }
          : undefined,
      })
      this.vpc = vpc
      if (!props.flowLogBucket) acknowledge(vpc, { 'AwsSolutions-VPC7': 'No flow-log bucket was given to this VPC.' })
    }
    const privateSubnets: ec2.SubnetSelection = { subnets: given ? this.vpc.privateSubnets : this.vpc.selectSubnets({ subnetGroupName: 'private' }).subnets }

    this.s3Endpoint = new ec2.GatewayVpcEndpoint(this, 'S3Endpoint', { vpc: this.vpc, service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [privateSubnets] })

    this.serviceGroups = {} as Record<Duty, ec2.SecurityGroup>
    for (const duty of DUTIES) {
      const group = new ec2.SecurityGroup(this, `${capitalise(duty)}Group`, {
        vpc: this.vpc,
        description: `kms-share ${duty}: out on 443 only (AWS APIs, image registry); in from the load balancer only`,
        allowAllOutbound: false,
      })
      group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs without an endpoint (through NAT) and the image registry')
      this.serviceGroups[duty] = group
    }

    const endpointGroup = new ec2.SecurityGroup(this, 'KmsEndpointGroup', {
      vpc: this.vpc,
      description: 'kms-share KMS endpoint: 443 from the services',
      allowAllOutbound: false,
    })
    for (const duty of DUTIES) endpointGroup.addIngressRule(this.serviceGroups[duty], ec2.Port.tcp(443), `KMS from ${duty}`)
    this.kmsEndpoint = new ec2.InterfaceVpcEndpoint(this, 'KmsEndpoint', {
      vpc: this.vpc,
      service: ec2.InterfaceVpcEndpointAwsService.KMS,
      privateDnsEnabled: true,
      subnets: privateSubnets,
      securityGroups: [endpointGroup],
      open: false,
    })
  }
}
