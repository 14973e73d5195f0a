// Amazon EC2 Auto Scaling (query protocol, 2011-01-01): create, update, describe and delete groups
// launched from launch templates. Creating or growing a group needs what launching needs
// (ec2:RunInstances on the template, iam:PassRole for its instance profile's role), as in AWS.
// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_Operations.html
import { AwsError, text, type AuthCheck, type Operation, type ServiceDefinition } from '../core/types.js'
import type { Ec2Model } from '../ec2/model.js'
import { instanceProfileName, launchChecks, templateData } from '../ec2/network.js'
import type { IamModel } from '../iam/model.js'
import { AutoScalingModel, validation, type GroupRecord } from './model.js'

type Input = Record<string, unknown>
type Members = Record<string, unknown>

const members = (value: unknown): Members[] => (Array.isArray(value) ? (value as Members[]) : [])
const list = (value: unknown): string[] => (value === undefined || value === '' ? [] : Array.isArray(value) ? value.map((v) => text(v)) : [text(value)])

function groupOut(g: GroupRecord, ec2: Ec2Model) {
  return {
    AutoScalingGroupName: g.AutoScalingGroupName,
    AutoScalingGroupARN: g.AutoScalingGroupARN,
    LaunchTemplate: g.LaunchTemplate,
    MinSize: g.MinSize,
    MaxSize: g.MaxSize,
    DesiredCapacity: g.DesiredCapacity,
    DefaultCooldown: 300,
    AvailabilityZones: [...new Set(g.Subnets.map((s) => ec2.state.subnets[s]?.AvailabilityZone).filter(Boolean))],
    LoadBalancerNames: [],
    TargetGroupARNs: g.TargetGroupARNs,
    HealthCheckType: g.HealthCheckType,
    HealthCheckGracePeriod: g.HealthCheckGracePeriod,
    Instances: g.Instances.map((id) => ec2.state.instances[id]).filter(Boolean).map((i) => ({
      InstanceId: i.InstanceId,
      InstanceType: i.InstanceType,
      AvailabilityZone: ec2.state.subnets[i.SubnetId]?.AvailabilityZone,
      LifecycleState: 'InService',
      HealthStatus: 'Healthy',
      LaunchTemplate: g.LaunchTemplate,
      ProtectedFromScaleIn: false,
    })),
    CreatedTime: new Date(g.CreatedTime),
    VPCZoneIdentifier: g.Subnets.join(','),
    Tags: g.Tags.map((t) => ({ ResourceId: g.AutoScalingGroupName, ResourceType: 'auto-scaling-group', Key: t.Key, Value: t.Value, PropagateAtLaunch: t.PropagateAtLaunch })),
    TerminationPolicies: ['Default'],
    NewInstancesProtectedFromScaleIn: false,
    ServiceLinkedRoleARN: `arn:aws:iam::${ec2.accountId}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
  }
}

export function createAutoScalingService(model: AutoScalingModel, ec2: Ec2Model, iam: IamModel): ServiceDefinition {
  const groupArn = (name: string) => (Object.hasOwn(model.state.groups, name) ? model.state.groups[name].AutoScalingGroupARN : `arn:aws:autoscaling:${ec2.region}:${ec2.accountId}:autoScalingGroup:*:autoScalingGroupName/${name}`)
  const name = (i: Input) => {
    const n = text(i.AutoScalingGroupName ?? '')
    if (!n) throw validation("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
    return n
  }
  /** Using a launch template is launching: the caller must be allowed to, as in AWS. */
  const templateChecks = (i: Input): AuthCheck[] => {
    if (i.LaunchTemplate === undefined) return []
    const found = templateData(ec2, i.LaunchTemplate)
    if (!found) return []
    const data = found.data
    return launchChecks(ec2, iam, 'ec2:RunInstances', { securityGroupIds: list(data.SecurityGroupId), imageId: data.ImageId === undefined ? undefined : text(data.ImageId), profile: instanceProfileName(iam, data.IamInstanceProfile), launchTemplateId: found.template.LaunchTemplateId })
  }

  const operations: Record<string, Operation<Input, unknown>> = {
    CreateAutoScalingGroup: {
      authorize: (i) => [{ action: 'autoscaling:CreateAutoScalingGroup', resource: groupArn(name(i)) }, ...templateChecks(i)],
      run: (i) => {
        const groupName = name(i)
        if (Object.hasOwn(model.state.groups, groupName)) throw new AwsError('AlreadyExists', `AutoScalingGroup by this name already exists - A group with the name ${groupName} already exists`, 400)
        if (i.LaunchTemplate === undefined) throw validation('Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.')
        const template = templateData(ec2, i.LaunchTemplate)!
        const subnets = text(i.VPCZoneIdentifier ?? '').split(',').map((s) => s.trim()).filter(Boolean)
        if (!subnets.length) throw validation('No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.')
        for (const s of subnets) ec2.subnet(s)
        const min = Number(i.MinSize)
        const max = Number(i.MaxSize)
        const desired = i.DesiredCapacity === undefined ? min : Number(i.DesiredCapacity)
        AutoScalingModel.checkSizes(min, max, desired)
        const group: GroupRecord = {
          AutoScalingGroupName: groupName,
          AutoScalingGroupARN: model.arn(groupName),
          LaunchTemplate: { LaunchTemplateId: template.template.LaunchTemplateId, LaunchTemplateName: template.template.LaunchTemplateName, Version: text((i.LaunchTemplate as Members).Version ?? '$Default') },
          MinSize: min,
          MaxSize: max,
          DesiredCapacity: desired,
          Subnets: subnets,
          Tags: members(i.Tags).map((t) => ({ Key: text(t.Key), Value: text(t.Value ?? ''), PropagateAtLaunch: text(t.PropagateAtLaunch ?? 'false') === 'true' })),
          HealthCheckType: text(i.HealthCheckType ?? 'EC2'),
          HealthCheckGracePeriod: Number(i.HealthCheckGracePeriod ?? 0),
          TargetGroupARNs: list(i.TargetGroupARNs),
          CreatedTime: new Date().toISOString(),
          Instances: [],
        }
        if (group.TargetGroupARNs.length) throw validation('Target groups need Elastic Load Balancing, which aws-lab does not have')
        model.state.groups[groupName] = group
        model.reconcile(group)
        return {}
      },
    },
    UpdateAutoScalingGroup: {
      authorize: (i) => [{ action: 'autoscaling:UpdateAutoScalingGroup', resource: groupArn(name(i)) }, ...templateChecks(i)],
      run: (i) => {
        const group = model.group(name(i))
        const min = i.MinSize === undefined ? group.MinSize : Number(i.MinSize)
        const max = i.MaxSize === undefined ? group.MaxSize : Number(i.MaxSize)
        // A new min or max moves the desired capacity inside the bounds, as Auto Scaling does.
        const desired = i.DesiredCapacity === undefined ? Math.min(max, Math.max(min, group.DesiredCapacity)) : Number(i.DesiredCapacity)
        AutoScalingModel.checkSizes(min, max, desired)
        if (i.LaunchTemplate !== undefined) {
          const template = templateData(ec2, i.LaunchTemplate)!
          group.LaunchTemplate = { LaunchTemplateId: template.template.LaunchTemplateId, LaunchTemplateName: template.template.LaunchTemplateName, Version: text((i.LaunchTemplate as Members).Version ?? '$Default') }
        }
        if (i.VPCZoneIdentifier !== undefined) {
          const subnets = text(i.VPCZoneIdentifier).split(',').map((s) => s.trim()).filter(Boolean)
          for (const s of subnets) ec2.subnet(s)
          group.Subnets = subnets
        }
        Object.assign(group, { MinSize: min, MaxSize: max, DesiredCapacity: desired })
        if (i.HealthCheckType !== undefined) group.HealthCheckType = text(i.HealthCheckType)
        if (i.HealthCheckGracePeriod !== undefined) group.HealthCheckGracePeriod = Number(i.HealthCheckGracePeriod)
        model.reconcile(group)
        return {}
      },
    },
    SetDesiredCapacity: {
      authorize: (i) => [{ action: 'autoscaling:SetDesiredCapacity', resource: groupArn(name(i)) }],
      run: (i) => {
        const group = model.group(name(i))
        const desired = Number(i.DesiredCapacity)
        if (desired > group.MaxSize) throw validation(`New SetDesiredCapacity value ${desired} is above max value ${group.MaxSize} for the AutoScalingGroup.`)
        if (desired < group.MinSize) throw validation(`New SetDesiredCapacity value ${desired} is below min value ${group.MinSize} for the AutoScalingGroup.`)
        group.DesiredCapacity = desired
        model.reconcile(group)
        return {}
      },
    },
    DeleteAutoScalingGroup: {
      authorize: (i) => [{ action: 'autoscaling:DeleteAutoScalingGroup', resource: groupArn(name(i)) }],
      run: (i) => {
        const group = model.group(name(i))
        const live = group.Instances.filter((id) => ec2.state.instances[id])
        if (live.length && text(i.ForceDelete ?? 'false') !== 'true') throw new AwsError('ResourceInUse', 'You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.', 400)
        group.DesiredCapacity = 0
        group.MinSize = 0
        model.reconcile(group)
        model.remove(group.AutoScalingGroupName)
        return {}
      },
    },
    DescribeAutoScalingGroups: {
      readOnly: true,
      authorize: () => [{ action: 'autoscaling:DescribeAutoScalingGroups', resource: '*' }],
      run: (i) => {
        const names = list(i.AutoScalingGroupNames)
        const groups = Object.values(model.state.groups).filter((g) => !names.length || names.includes(g.AutoScalingGroupName))
        return { AutoScalingGroups: groups.map((g) => groupOut(g, ec2)) }
      },
    },
    DescribeAutoScalingInstances: {
      readOnly: true,
      authorize: () => [{ action: 'autoscaling:DescribeAutoScalingInstances', resource: '*' }],
      run: (i) => {
        const ids = list(i.InstanceIds)
        const rows = Object.values(model.state.groups).flatMap((g) => groupOut(g, ec2).Instances.map((x) => ({ ...x, AutoScalingGroupName: g.AutoScalingGroupName, HealthStatus: 'HEALTHY' })))
        return { AutoScalingInstances: rows.filter((r) => !ids.length || ids.includes(r.InstanceId)) }
      },
    },
  }
  return { name: 'autoscaling', signingName: 'autoscaling', eventSource: 'autoscaling.amazonaws.com', accessDenied: { code: 'AccessDenied', status: 403 }, operations }
}
