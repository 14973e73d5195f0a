// The network (lab-deployable: VPC, subnets, route tables, security groups, endpoints).
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import type { Construct } from 'constructs'
import { ShareNetwork } from '../constructs/share-network.js'
import type { KmsShareSettings } from '../settings.js'

export interface NetworkStackProps extends StackProps {
  settings: KmsShareSettings
  flowLogBucket: s3.IBucket
}

export class NetworkStack extends Stack {
  readonly network: ShareNetwork

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props)
    const { settings } = props
    this.network = new ShareNetwork(this, 'Network', {
      ...(settings.existingVpc ? { existingVpc: settings.existingVpc } : {}),
      cidr: settings.vpcCidr,
      natGateways: settings.natGateways,
      flowLogBucket: props.flowLogBucket,
    })
    new CfnOutput(this, 'VpcId', { value: this.network.vpc.vpcId })
    new CfnOutput(this, 'KmsEndpointId', { value: this.network.kmsEndpoint.vpcEndpointId, description: 'The KMS interface endpoint (private DNS on): the id for an aws:SourceVpce key policy (keyadmin\'s vpce-only template)' })
  }
}
