// The services (lab-deployable: launch templates, Auto Scaling groups, the AMI through an SSM parameter): one
// Auto Scaling group per service, each with its own instance profile. They join the load balancer's target
// groups only with LoadBalancer=attached, reading the ARNs the edge stack publishes in SSM, so this stack
// never references the edge stack and deploys without it.
import { CfnCondition, CfnOutput, CfnParameter, Fn, Stack, type StackProps } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import type { Construct } from 'constructs'
import { serviceRole, type Duty } from '@kms-share/policy'
import { ServiceFleet } from '../constructs/service-fleet.js'
import type { ShareNetwork } from '../constructs/share-network.js'
import { DUTIES, capitalise, edgeParameter, instanceName, targetGroupNames } from '../names.js'
import type { KmsShareSettings } from '../settings.js'

export interface ComputeStackProps extends StackProps {
  settings: KmsShareSettings
  network: ShareNetwork
  bucketName: string
  keyArn: string
}

export class ComputeStack extends Stack {
  readonly fleets: ServiceFleet[] = []

  constructor(scope: Construct, id: string, props: ComputeStackProps) {
    super(scope, id, props)
    const { settings, network } = props
    const loadBalancer = new CfnParameter(this, 'LoadBalancer', {
      type: 'String',
      default: 'none',
      allowedValues: ['none', 'attached'],
      description: 'attached: each web service joins the target group the edge stack (deployed first) published in SSM under /kms-share/edge/target-group/; none: no load balancer (the lab).',
    })
    const attached = new CfnCondition(this, 'AttachedToLoadBalancer', { expression: Fn.conditionEquals(loadBalancer.valueAsString, 'attached') })
    const images = {} as Record<Duty, string>
    for (const duty of DUTIES) {
      images[duty] = new CfnParameter(this, `${capitalise(duty)}Image`, {
        type: 'String',
        default: `kms-share/${duty}:latest`,
        description: `The ${duty} container image: a full reference, or repository:tag in this account's ECR`,
      }).valueAsString
    }
    const imageId = new CfnParameter(this, 'MachineImage', {
      type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      default: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
      description: 'The SSM parameter holding the instances\' AMI (Amazon Linux 2023, x86_64; the boot script uses dnf and Docker)',
    })
    const machineImage: ec2.IMachineImage = { getImage: () => ({ imageId: imageId.valueAsString, osType: ec2.OperatingSystemType.LINUX, userData: ec2.UserData.forLinux() }) }
    const trustProxy = network.vpc.vpcCidrBlock
    const environment: Record<Duty, Record<string, string>> = {
      upload: { BUCKET: props.bucketName, KMS_KEY_ID: props.keyArn, TRUST_PROXY: trustProxy },
      download: { BUCKET: props.bucketName, TRUST_PROXY: trustProxy },
      keyadmin: { BUCKET: props.bucketName, TRUST_PROXY: trustProxy },
      audit: { BUCKET: props.bucketName, AUDIT_KMS_KEY_ARN: props.keyArn },
    }
    const resolve = (name: string) => `{{resolve:ssm:${edgeParameter.targetGroup(name)}}}`
    const fleet = (duty: Duty, id: string, extra: { targetGroup?: string; shard?: number; min?: number; max?: number; volume?: number }) => {
      const f = new ServiceFleet(this, id, {
        duty,
        instanceName: instanceName(duty, extra.shard),
        vpc: network.vpc,
        securityGroup: network.serviceGroups[duty],
        instanceProfileName: serviceRole(duty).roleName,
        instanceType: settings.instanceTypes[duty] ?? settings.instanceType,
        machineImage,
        image: images[duty],
        environment: environment[duty],
        minInstances: extra.min ?? 1,
        maxInstances: extra.max ?? settings.maxInstances,
        rootVolumeGiB: extra.volume ?? 16,
        ...(extra.targetGroup ? { targetGroups: { condition: attached, arns: [resolve(extra.targetGroup)] } } : {}),
      })
      this.fleets.push(f)
      new CfnOutput(this, `${id}AutoScalingGroup`, { value: f.group.autoScalingGroupName, description: `${duty}: start an instance refresh here after changing its secrets or image` })
      return f
    }
    for (const tg of targetGroupNames(settings.downloadShards)) {
      // A download shard stays one instance: its cache is what the load balancer routes its objects to.
      if (tg.duty === 'download') fleet('download', `Download${tg.shard}`, { targetGroup: tg.name, shard: tg.shard, min: 1, max: 1, volume: 40 })
      else fleet(tg.duty, capitalise(tg.duty), { targetGroup: tg.name })
    }
    fleet('audit', 'Audit', {})
  }
}
