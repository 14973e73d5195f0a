// AWS::IAM::Role, Policy, ManagedPolicy and InstanceProfile, made through the lab's IAM API.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/AWS_IAM.html
import { AwsError, text } from '../../core/types.js'
import { isObject, type TemplateObject, type TemplateValue } from '../template.js'
import { ignoreNotFound, notFoundAs, optionalString, policyText, requiredString, sameValue, stringList, type CurrentResource, type ResourceContext, type ResourceHandler } from './types.js'

const unsupported = (property: string, type: string) => new AwsError('ValidationError', `Property ${property} of ${type} is not supported by aws-lab`, 400)

function inlinePolicies(value: TemplateValue | undefined): Map<string, string> {
  const out = new Map<string, string>()
  for (const p of Array.isArray(value) ? value : []) {
    if (!isObject(p)) continue
    out.set(text(p.PolicyName), policyText(p.PolicyDocument) ?? '{}')
  }
  return out
}

async function roleCreate(props: TemplateObject, ctx: ResourceContext) {
  if (props.PermissionsBoundary !== undefined) throw unsupported('PermissionsBoundary', 'AWS::IAM::Role')
  const name = optionalString(props, 'RoleName') ?? ctx.physicalName(64)
  const out = await ctx.call<{ Role: { Arn: string; RoleId: string } }>('iam', 'CreateRole', {
    RoleName: name,
    AssumeRolePolicyDocument: policyText(props.AssumeRolePolicyDocument) ?? '',
    Path: optionalString(props, 'Path'),
    Description: optionalString(props, 'Description'),
    MaxSessionDuration: optionalString(props, 'MaxSessionDuration'),
  })
  ctx.provisional(name)
  for (const [policyName, doc] of inlinePolicies(props.Policies)) await ctx.call('iam', 'PutRolePolicy', { RoleName: name, PolicyName: policyName, PolicyDocument: doc })
  for (const arn of stringList(props.ManagedPolicyArns)) await ctx.call('iam', 'AttachRolePolicy', { RoleName: name, PolicyArn: arn })
  return { physicalId: name, attributes: { Arn: out.Role.Arn, RoleId: out.Role.RoleId } }
}

export const role: ResourceHandler = {
  attributes: ['Arn', 'RoleId'],
  replaceOn: ['RoleName', 'Path', 'Description', 'MaxSessionDuration', 'PermissionsBoundary'],
  create: roleCreate,
  async update(props, current, ctx) {
    const name = current.physicalId
    if (!sameValue(props.AssumeRolePolicyDocument, current.properties.AssumeRolePolicyDocument)) {
      await ctx.call('iam', 'UpdateAssumeRolePolicy', { RoleName: name, PolicyDocument: policyText(props.AssumeRolePolicyDocument) ?? '' })
    }
    const before = inlinePolicies(current.properties.Policies)
    const after = inlinePolicies(props.Policies)
    for (const [policyName, doc] of after) if (before.get(policyName) !== doc) await ctx.call('iam', 'PutRolePolicy', { RoleName: name, PolicyName: policyName, PolicyDocument: doc })
    for (const policyName of before.keys()) if (!after.has(policyName)) await ignoreNotFound(ctx.call('iam', 'DeleteRolePolicy', { RoleName: name, PolicyName: policyName }))
    const oldArns = stringList(current.properties.ManagedPolicyArns)
    const newArns = stringList(props.ManagedPolicyArns)
    for (const arn of newArns) if (!oldArns.includes(arn)) await ctx.call('iam', 'AttachRolePolicy', { RoleName: name, PolicyArn: arn })
    for (const arn of oldArns) if (!newArns.includes(arn)) await ignoreNotFound(ctx.call('iam', 'DetachRolePolicy', { RoleName: name, PolicyArn: arn }))
    return { physicalId: name, attributes: current.attributes }
  },
  async delete(current, ctx) {
    const name = current.physicalId
    const inline = await ctx.call<{ PolicyNames: string[] }>('iam', 'ListRolePolicies', { RoleName: name }).catch(notFoundAs({ PolicyNames: [] }))
    for (const policyName of inline.PolicyNames) await ignoreNotFound(ctx.call('iam', 'DeleteRolePolicy', { RoleName: name, PolicyName: policyName }))
    const attached = await ctx.call<{ AttachedPolicies: Array<{ PolicyArn: string }> }>('iam', 'ListAttachedRolePolicies', { RoleName: name }).catch(notFoundAs({ AttachedPolicies: [] }))
    for (const p of attached.AttachedPolicies) await ignoreNotFound(ctx.call('iam', 'DetachRolePolicy', { RoleName: name, PolicyArn: p.PolicyArn }))
    await ignoreNotFound(ctx.call('iam', 'DeleteRole', { RoleName: name }))
  },
}

/** Runs `each` for every role and user a policy resource names. */
async function forTargets(props: TemplateObject, type: string, each: (kind: 'Role' | 'User', name: string) => Promise<unknown>): Promise<void> {
  if (stringList(props.Groups).length) throw unsupported('Groups', type)
  for (const r of stringList(props.Roles)) await each('Role', r.split('/').pop()!)
  for (const u of stringList(props.Users)) await each('User', u.split('/').pop()!)
}

export const policy: ResourceHandler = {
  attributes: ['Id'],
  replaceOn: ['PolicyName'],
  async create(props, ctx) {
    const policyName = requiredString(props, 'PolicyName')
    const doc = policyText(props.PolicyDocument) ?? ''
    const physicalId = ctx.physicalName(128)
    ctx.provisional(physicalId)
    await forTargets(props, 'AWS::IAM::Policy', (kind, name) => ctx.call('iam', `Put${kind}Policy`, { [`${kind}Name`]: name, PolicyName: policyName, PolicyDocument: doc }))
    return { physicalId, attributes: { Id: physicalId } }
  },
  async update(props, current, ctx) {
    const policyName = requiredString(props, 'PolicyName')
    const doc = policyText(props.PolicyDocument) ?? ''
    await forTargets(props, 'AWS::IAM::Policy', (kind, name) => ctx.call('iam', `Put${kind}Policy`, { [`${kind}Name`]: name, PolicyName: policyName, PolicyDocument: doc }))
    const keep = new Set([...stringList(props.Roles).map((r) => `Role:${r}`), ...stringList(props.Users).map((u) => `User:${u}`)])
    await forTargets(current.properties, 'AWS::IAM::Policy', async (kind, name) => {
      if (!keep.has(`${kind}:${name}`)) await ignoreNotFound(ctx.call('iam', `Delete${kind}Policy`, { [`${kind}Name`]: name, PolicyName: policyName }))
    })
    return { physicalId: current.physicalId, attributes: current.attributes }
  },
  async delete(current, ctx) {
    const policyName = text(current.properties.PolicyName)
    await forTargets(current.properties, 'AWS::IAM::Policy', (kind, name) => ignoreNotFound(ctx.call('iam', `Delete${kind}Policy`, { [`${kind}Name`]: name, PolicyName: policyName })))
  },
}

export const managedPolicy: ResourceHandler = {
  attributes: ['PolicyArn', 'PolicyId', 'DefaultVersionId', 'AttachmentCount', 'IsAttachable', 'CreateDate', 'UpdateDate'],
  replaceOn: ['ManagedPolicyName', 'Path', 'Description'],
  async create(props, ctx) {
    const name = optionalString(props, 'ManagedPolicyName') ?? ctx.physicalName(128)
    const out = await ctx.call<{ Policy: { Arn: string; PolicyId: string; DefaultVersionId: string } }>('iam', 'CreatePolicy', {
      PolicyName: name,
      PolicyDocument: policyText(props.PolicyDocument) ?? '',
      Path: optionalString(props, 'Path'),
      Description: optionalString(props, 'Description'),
    })
    const arn = out.Policy.Arn
    ctx.provisional(arn)
    await forTargets(props, 'AWS::IAM::ManagedPolicy', (kind, target) => ctx.call('iam', `Attach${kind}Policy`, { [`${kind}Name`]: target, PolicyArn: arn }))
    return { physicalId: arn, attributes: { PolicyArn: arn, PolicyId: out.Policy.PolicyId, DefaultVersionId: out.Policy.DefaultVersionId, IsAttachable: 'true' } }
  },
  async update(props, current, ctx) {
    const arn = current.physicalId
    const attributes = { ...current.attributes }
    if (!sameValue(props.PolicyDocument, current.properties.PolicyDocument)) {
      const versions = await ctx.call<{ Versions: Array<{ VersionId: string; IsDefaultVersion: boolean }> }>('iam', 'ListPolicyVersions', { PolicyArn: arn })
      // At most five versions: make room by dropping the oldest non-default one, as CloudFormation does.
      const old = versions.Versions.filter((v) => !v.IsDefaultVersion)
      if (versions.Versions.length >= 5 && old.length) await ctx.call('iam', 'DeletePolicyVersion', { PolicyArn: arn, VersionId: old[old.length - 1].VersionId })
      const made = await ctx.call<{ PolicyVersion: { VersionId: string } }>('iam', 'CreatePolicyVersion', { PolicyArn: arn, PolicyDocument: policyText(props.PolicyDocument) ?? '', SetAsDefault: 'true' })
      attributes.DefaultVersionId = made.PolicyVersion.VersionId
    }
    const was = new Set([...stringList(current.properties.Roles).map((r) => `Role:${r}`), ...stringList(current.properties.Users).map((u) => `User:${u}`)])
    const now = new Set([...stringList(props.Roles).map((r) => `Role:${r}`), ...stringList(props.Users).map((u) => `User:${u}`)])
    await forTargets(props, 'AWS::IAM::ManagedPolicy', async (kind, target) => {
      if (!was.has(`${kind}:${target}`)) await ctx.call('iam', `Attach${kind}Policy`, { [`${kind}Name`]: target, PolicyArn: arn })
    })
    await forTargets(current.properties, 'AWS::IAM::ManagedPolicy', async (kind, target) => {
      if (!now.has(`${kind}:${target}`)) await ignoreNotFound(ctx.call('iam', `Detach${kind}Policy`, { [`${kind}Name`]: target, PolicyArn: arn }))
    })
    return { physicalId: arn, attributes }
  },
  async delete(current, ctx) {
    const arn = current.physicalId
    await forTargets(current.properties, 'AWS::IAM::ManagedPolicy', (kind, target) => ignoreNotFound(ctx.call('iam', `Detach${kind}Policy`, { [`${kind}Name`]: target, PolicyArn: arn })))
    const versions = await ctx.call<{ Versions: Array<{ VersionId: string; IsDefaultVersion: boolean }> }>('iam', 'ListPolicyVersions', { PolicyArn: arn }).catch(notFoundAs({ Versions: [] }))
    for (const v of versions.Versions) if (!v.IsDefaultVersion) await ignoreNotFound(ctx.call('iam', 'DeletePolicyVersion', { PolicyArn: arn, VersionId: v.VersionId }))
    await ignoreNotFound(ctx.call('iam', 'DeletePolicy', { PolicyArn: arn }))
  },
}

function profileRole(props: TemplateObject): string {
  const roles = stringList(props.Roles)
  if (roles.length !== 1) throw new AwsError('ValidationError', 'Properties validation failed for resource with message: #/Roles: expected maximum item count: 1, found: ' + text(roles.length), 400)
  return roles[0]
}

export const instanceProfile: ResourceHandler = {
  attributes: ['Arn'],
  replaceOn: ['InstanceProfileName', 'Path'],
  async create(props, ctx) {
    const name = optionalString(props, 'InstanceProfileName') ?? ctx.physicalName(128)
    const role = profileRole(props)
    const out = await ctx.call<{ InstanceProfile: { Arn: string } }>('iam', 'CreateInstanceProfile', { InstanceProfileName: name, Path: optionalString(props, 'Path') })
    ctx.provisional(name)
    await ctx.call('iam', 'AddRoleToInstanceProfile', { InstanceProfileName: name, RoleName: role })
    return { physicalId: name, attributes: { Arn: out.InstanceProfile.Arn } }
  },
  async update(props, current: CurrentResource, ctx) {
    const role = profileRole(props)
    const old = stringList(current.properties.Roles)[0]
    if (old !== role) {
      if (old) await ignoreNotFound(ctx.call('iam', 'RemoveRoleFromInstanceProfile', { InstanceProfileName: current.physicalId, RoleName: old }))
      await ctx.call('iam', 'AddRoleToInstanceProfile', { InstanceProfileName: current.physicalId, RoleName: role })
    }
    return { physicalId: current.physicalId, attributes: current.attributes }
  },
  async delete(current, ctx) {
    for (const r of stringList(current.properties.Roles)) await ignoreNotFound(ctx.call('iam', 'RemoveRoleFromInstanceProfile', { InstanceProfileName: current.physicalId, RoleName: r }))
    await ignoreNotFound(ctx.call('iam', 'DeleteInstanceProfile', { InstanceProfileName: current.physicalId }))
  },
}
