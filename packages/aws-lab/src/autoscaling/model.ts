// Auto Scaling groups: each keeps DesiredCapacity instances launched from its launch template
// across its subnets, launching and terminating as the capacity changes. Each instance gets its
// own metadata endpoint serving its instance profile's role (imds/server.ts follows the model).
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-groups.html
import { randomUUID } from 'node:crypto'
import { AwsError, text, type StateStore } from '../core/types.js'
import type { Ec2Model } from '../ec2/model.js'
import { instanceProfileName, launchInstance, specTags, templateData } from '../ec2/network.js'
import type { IamModel } from '../iam/model.js'

export interface GroupTag {
  Key: string
  Value: string
  PropagateAtLaunch: boolean
}

export interface GroupRecord {
  AutoScalingGroupName: string
  AutoScalingGroupARN: string
  LaunchTemplate: { LaunchTemplateId?: string; LaunchTemplateName?: string; Version?: string }
  MinSize: number
  MaxSize: number
  DesiredCapacity: number
  /** Subnet ids, in order. */
  Subnets: string[]
  Tags: GroupTag[]
  HealthCheckType: string
  HealthCheckGracePeriod: number
  TargetGroupARNs: string[]
  CreatedTime: string
  Instances: string[]
}

interface AutoScalingState {
  groups: Record<string, GroupRecord>
}

export const validation = (message: string) => new AwsError('ValidationError', message, 400)

export class AutoScalingModel {
  constructor(private readonly store: StateStore, private readonly ec2: Ec2Model, private readonly iam: IamModel) {}

  get state(): AutoScalingState {
    const s = this.store.section<AutoScalingState>('autoscaling', () => ({ groups: {} }))
    s.groups ??= {}
    return s
  }

  save(): void {
    this.store.save('autoscaling')
  }

  arn(name: string): string {
    return `arn:aws:autoscaling:${this.ec2.region}:${this.ec2.accountId}:autoScalingGroup:${randomUUID()}:autoScalingGroupName/${name}`
  }

  group(name: string): GroupRecord {
    const g = Object.hasOwn(this.state.groups, name) ? this.state.groups[name] : undefined
    if (!g) throw validation(`AutoScalingGroup name not found - AutoScalingGroup '${name}' not found`)
    return g
  }

  /** Sizes as Auto Scaling checks them. */
  static checkSizes(min: number, max: number, desired: number): void {
    if (![min, max, desired].every((n) => Number.isInteger(n) && n >= 0)) throw validation('MinSize, MaxSize and DesiredCapacity must be whole numbers')
    if (min > max) throw validation(`Max bound, ${max}, must be greater than or equal to min bound, ${min}`)
    if (desired < min || desired > max) throw validation(`Desired capacity:${desired} must be between the specified min size:${min} and max size:${max}`)
  }

  /** Launches or terminates instances until the group has DesiredCapacity; returns what changed. */
  reconcile(group: GroupRecord): { launched: string[]; terminated: string[] } {
    const launched: string[] = []
    const terminated: string[] = []
    group.Instances = group.Instances.filter((id) => this.ec2.state.instances[id])
    const found = templateData(this.ec2, group.LaunchTemplate)
    if (!found) throw validation('You must use a valid fully-formed launch template.')
    const data = found.data
    const tags: Record<string, string> = { ...specTags(data, 'instance'), 'aws:autoscaling:groupName': group.AutoScalingGroupName }
    for (const t of group.Tags) if (t.PropagateAtLaunch) tags[t.Key] = t.Value
    while (group.Instances.length < group.DesiredCapacity) {
      // Spread across the group's subnets (zones) in turn, as Auto Scaling balances them.
      const subnet = group.Subnets[group.Instances.length % group.Subnets.length]
      const instance = launchInstance(this.ec2, {
        imageId: text(data.ImageId ?? ''),
        instanceType: data.InstanceType === undefined ? undefined : text(data.InstanceType),
        subnetId: subnet,
        securityGroupIds: Array.isArray(data.SecurityGroupId) ? data.SecurityGroupId.map((v) => text(v)) : data.SecurityGroupId === undefined ? [] : [text(data.SecurityGroupId)],
        instanceProfileName: instanceProfileName(this.iam, data.IamInstanceProfile),
        tags,
      })
      group.Instances.push(instance.InstanceId)
      launched.push(instance.InstanceId)
    }
    while (group.Instances.length > group.DesiredCapacity) {
      // The newest instance goes first (the lab's termination policy; AWS's default weighs zones and launch templates first).
      const id = group.Instances.pop()!
      this.ec2.removeInstance(id)
      terminated.push(id)
    }
    this.save()
    return { launched, terminated }
  }

  remove(name: string): void {
    delete this.state.groups[name]
    this.save()
  }
}
