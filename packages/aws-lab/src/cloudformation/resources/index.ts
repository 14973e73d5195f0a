// The resource types the lab deploys, each backed by lab resources. Any other type fails the
// stack with "Resource type … is not supported by aws-lab" (engine.ts) — never a silent success.
import { cdkMetadata } from './cdk.js'
import { autoScalingGroup, eip, flowLog, instance, internetGateway, launchTemplate, natGateway, route, routeTable, securityGroup, securityGroupEgress, securityGroupIngress, subnet, subnetRouteTableAssociation, vpc, vpcEndpoint, vpcGatewayAttachment } from './ec2.js'
import { instanceProfile, managedPolicy, policy, role } from './iam.js'
import { alias, key } from './kms.js'
import { bucket, bucketPolicy } from './s3.js'
import type { ResourceHandler } from './types.js'

export const RESOURCE_HANDLERS: Record<string, ResourceHandler> = {
  'AWS::IAM::Role': role,
  'AWS::IAM::Policy': policy,
  'AWS::IAM::ManagedPolicy': managedPolicy,
  'AWS::IAM::InstanceProfile': instanceProfile,
  'AWS::KMS::Key': key,
  'AWS::KMS::Alias': alias,
  'AWS::S3::Bucket': bucket,
  'AWS::S3::BucketPolicy': bucketPolicy,
  'AWS::EC2::VPC': vpc,
  'AWS::EC2::Subnet': subnet,
  'AWS::EC2::SecurityGroup': securityGroup,
  'AWS::EC2::SecurityGroupIngress': securityGroupIngress,
  'AWS::EC2::SecurityGroupEgress': securityGroupEgress,
  'AWS::EC2::RouteTable': routeTable,
  'AWS::EC2::SubnetRouteTableAssociation': subnetRouteTableAssociation,
  'AWS::EC2::Route': route,
  'AWS::EC2::InternetGateway': internetGateway,
  'AWS::EC2::VPCGatewayAttachment': vpcGatewayAttachment,
  'AWS::EC2::VPCEndpoint': vpcEndpoint,
  'AWS::EC2::EIP': eip,
  'AWS::EC2::NatGateway': natGateway,
  'AWS::EC2::FlowLog': flowLog,
  'AWS::EC2::LaunchTemplate': launchTemplate,
  'AWS::EC2::Instance': instance,
  'AWS::AutoScaling::AutoScalingGroup': autoScalingGroup,
  'AWS::CDK::Metadata': cdkMetadata,
}
