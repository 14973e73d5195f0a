// AWS::KMS::Key and AWS::KMS::Alias through the lab's KMS. Deleting a key schedules its deletion
// (PendingWindowInDays, 30 by default), as CloudFormation does; DeletionPolicy Retain keeps it.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kms-key.html
import { text } from '../../core/types.js'
import { awsErrorOf, optionalString, policyText, requiredString, sameValue, tagList, type ResourceHandler } from './types.js'

const kmsTags = (tags: Array<{ Key: string; Value: string }>) => tags.map((t) => ({ TagKey: t.Key, TagValue: t.Value }))

export const key: ResourceHandler = {
  attributes: ['Arn', 'KeyId'],
  replaceOn: ['KeySpec', 'KeyUsage', 'MultiRegion', 'Origin'],
  async create(props, ctx) {
    // Stack-level tags travel to the key; CloudFormation's own aws: tags are reserved in KMS.
    const tags = [...ctx.tags.filter((t) => !t.Key.startsWith('aws:')), ...tagList(props.Tags)]
    const out = await ctx.call<{ KeyMetadata: { KeyId: string; Arn: string } }>('kms', 'CreateKey', {
      Description: optionalString(props, 'Description'),
      KeySpec: optionalString(props, 'KeySpec'),
      KeyUsage: optionalString(props, 'KeyUsage'),
      Origin: optionalString(props, 'Origin'),
      ...(props.MultiRegion !== undefined ? { MultiRegion: text(props.MultiRegion) === 'true' } : {}),
      ...(props.KeyPolicy !== undefined ? { Policy: policyText(props.KeyPolicy) } : {}),
      ...(props.BypassPolicyLockoutSafetyCheck !== undefined ? { BypassPolicyLockoutSafetyCheck: text(props.BypassPolicyLockoutSafetyCheck) === 'true' } : {}),
      ...(tags.length ? { Tags: kmsTags(tags) } : {}),
    })
    const keyId = out.KeyMetadata.KeyId
    ctx.provisional(keyId)
    if (text(props.EnableKeyRotation) === 'true') {
      await ctx.call('kms', 'EnableKeyRotation', { KeyId: keyId, ...(props.RotationPeriodInDays !== undefined ? { RotationPeriodInDays: Number(props.RotationPeriodInDays) } : {}) })
    }
    if (text(props.Enabled) === 'false') await ctx.call('kms', 'DisableKey', { KeyId: keyId })
    return { physicalId: keyId, attributes: { Arn: out.KeyMetadata.Arn, KeyId: keyId } }
  },
  async update(props, current, ctx) {
    const keyId = current.physicalId
    const was = current.properties
    if (!sameValue(props.KeyPolicy, was.KeyPolicy)) {
      await ctx.call('kms', 'PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: policyText(props.KeyPolicy) ?? JSON.stringify({ Version: '2012-10-17', Id: 'key-default-1', Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ctx.accountId}:root` }, Action: 'kms:*', Resource: '*' }] }) })
    }
    if (!sameValue(props.Description, was.Description)) await ctx.call('kms', 'UpdateKeyDescription', { KeyId: keyId, Description: optionalString(props, 'Description') ?? '' })
    if (text(props.EnableKeyRotation) !== text(was.EnableKeyRotation) || !sameValue(props.RotationPeriodInDays, was.RotationPeriodInDays)) {
      if (text(props.EnableKeyRotation) === 'true') await ctx.call('kms', 'EnableKeyRotation', { KeyId: keyId, ...(props.RotationPeriodInDays !== undefined ? { RotationPeriodInDays: Number(props.RotationPeriodInDays) } : {}) })
      else await ctx.call('kms', 'DisableKeyRotation', { KeyId: keyId })
    }
    if (text(props.Enabled ?? 'true') !== text(was.Enabled ?? 'true')) await ctx.call('kms', text(props.Enabled ?? 'true') === 'false' ? 'DisableKey' : 'EnableKey', { KeyId: keyId })
    if (!sameValue(props.Tags, was.Tags)) {
      const next = tagList(props.Tags)
      const gone = tagList(was.Tags).filter((t) => !next.some((n) => n.Key === t.Key)).map((t) => t.Key)
      if (gone.length) await ctx.call('kms', 'UntagResource', { KeyId: keyId, TagKeys: gone })
      if (next.length) await ctx.call('kms', 'TagResource', { KeyId: keyId, Tags: kmsTags(next) })
    }
    return { physicalId: keyId, attributes: current.attributes }
  },
  async delete(current, ctx) {
    const days = current.properties.PendingWindowInDays === undefined ? 30 : Number(current.properties.PendingWindowInDays)
    try {
      await ctx.call('kms', 'ScheduleKeyDeletion', { KeyId: current.physicalId, PendingWindowInDays: days })
    } catch (err) {
      // A key already pending deletion (or gone) is what a delete wants.
      if (/KMSInvalidStateException|NotFoundException/.test(awsErrorOf(err)?.code ?? '')) return
      throw err
    }
  },
}

export const alias: ResourceHandler = {
  attributes: [],
  replaceOn: ['AliasName'],
  async create(props, ctx) {
    const name = requiredString(props, 'AliasName')
    await ctx.call('kms', 'CreateAlias', { AliasName: name, TargetKeyId: requiredString(props, 'TargetKeyId') })
    return { physicalId: name, attributes: {} }
  },
  async update(props, current, ctx) {
    await ctx.call('kms', 'UpdateAlias', { AliasName: current.physicalId, TargetKeyId: requiredString(props, 'TargetKeyId') })
    return { physicalId: current.physicalId, attributes: {} }
  },
  async delete(current, ctx) {
    try {
      await ctx.call('kms', 'DeleteAlias', { AliasName: current.physicalId })
    } catch (err) {
      if (/NotFoundException/.test(awsErrorOf(err)?.code ?? '')) return
      throw err
    }
  },
}
