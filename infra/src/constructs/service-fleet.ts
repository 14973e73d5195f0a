// One service as its own Auto Scaling group: a launch template with the service's instance profile, IMDSv2 only
// (hop limit 2, so the container on the instance reaches it too), an encrypted root volume, and the boot script
// that runs the service's image. It joins its load balancer target group only when the deployer says so.
import { Aws, CfnCondition, Duration, Fn, Tags } from 'aws-cdk-lib'
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as iam from 'aws-cdk-lib/aws-iam'
import { Construct } from 'constructs'
import type { Duty } from '@kms-share/policy'
import { acknowledge } from '../nag.js'
import { bootScript } from '../user-data.js'

export interface ServiceFleetProps {
  duty: Duty
  /** Each instance's Name tag (propagated at launch): the lab's name for the instance, as endpoints.json keys it. */
  instanceName: string
  vpc: ec2.IVpc
  securityGroup: ec2.ISecurityGroup
  instanceProfileName: string
  instanceType: string
  machineImage: ec2.IMachineImage
  image: string
  environment: Record<string, string>
  minInstances: number
  maxInstances: number
  rootVolumeGiB: number
  /** When this condition holds, the group joins these target groups (ARNs resolved at deploy time). */
  targetGroups?: { condition: CfnCondition; arns: string[] }
}

export class ServiceFleet extends Construct {
  readonly launchTemplate: ec2.LaunchTemplate
  readonly group: autoscaling.AutoScalingGroup

  constructor(scope: Construct, id: string, props: ServiceFleetProps) {
    super(scope, id)
    const userData = ec2.UserData.forLinux()
    userData.addCommands(...bootScript({
      duty: props.duty, image: props.image, accountId: Aws.ACCOUNT_ID, region: Aws.REGION, urlSuffix: Aws.URL_SUFFIX, environment: props.environment,
    }))
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(props.instanceType),
      machineImage: props.machineImage,
      userData,
      instanceProfile: iam.InstanceProfile.fromInstanceProfileName(this, 'Profile', props.instanceProfileName),
      securityGroup: props.securityGroup,
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 2,
      httpEndpoint: true,
      detailedMonitoring: true,
      blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(props.rootVolumeGiB, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) }],
    })
    this.group = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: props.vpc,
      vpcSubnets: { subnets: props.vpc.privateSubnets },
      launchTemplate: this.launchTemplate,
      minCapacity: props.minInstances,
      maxCapacity: props.maxInstances,
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(5) }),
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({ minInstancesInService: 0, maxBatchSize: 1 }),
    })
    Tags.of(this.group).add('Name', props.instanceName, { applyToLaunchedInstances: true })
    const cfnGroup = this.group.node.defaultChild as autoscaling.CfnAutoScalingGroup
    if (props.targetGroups) cfnGroup.targetGroupArns = Fn.conditionIf(props.targetGroups.condition.logicalId, props.targetGroups.arns, Aws.NO_VALUE) as unknown as string[]
    acknowledge(this.group, {
      'AwsSolutions-AS3': 'Scaling notifications would need an SNS topic, which the lab cannot deploy; scaling activities are in the Auto Scaling activity history and CloudTrail.',
    })
  }
}
