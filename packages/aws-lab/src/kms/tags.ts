// KMS key tags.
import type { Operation } from '../core/types.js'
import { requestTagConditions } from './authz.js'
import { constraintViolation, kmsErrors } from './errors.js'
import type { Tag } from './model.js'
import { save, page, byKeyId, onKey, type KmsInput } from './operation.js'

export function validateTags(tags: unknown): Tag[] {
  if (!Array.isArray(tags)) throw constraintViolation(undefined, 'tags', 'Member must not be null')
  const seen = new Set<string>()
  // Lengths are the API's member constraints (ValidationException, 1-based member index); the rest KMS's own rules.
  for (const [i, tag] of (tags as Tag[]).entries()) {
    const at = `tags.${i + 1}.member`
    if (typeof tag?.TagKey !== 'string' || tag.TagKey.length < 1) throw constraintViolation(tag?.TagKey, `${at}.tagKey`, 'Member must have length greater than or equal to 1')
    if (tag.TagKey.length > 128) throw constraintViolation(tag.TagKey, `${at}.tagKey`, 'Member must have length less than or equal to 128')
    if (typeof tag.TagValue !== 'string') throw constraintViolation(tag.TagValue, `${at}.tagValue`, 'Member must not be null')
    if (tag.TagValue.length > 256) throw constraintViolation(tag.TagValue, `${at}.tagValue`, 'Member must have length less than or equal to 256')
    if (tag.TagKey.toLowerCase().startsWith('aws:')) throw kmsErrors.tag('Tags beginning with aws: are reserved')
    if (seen.has(tag.TagKey)) throw kmsErrors.tag('Duplicate tag keys')
    seen.add(tag.TagKey)
  }
  return tags as Tag[]
}

function mergeTags(existing: Tag[], added: Tag[]): Tag[] {
  const merged = existing.map((t) => ({ ...t }))
  for (const t of added) {
    const hit = merged.find((m) => m.TagKey === t.TagKey)
    if (hit) hit.TagValue = t.TagValue
    else merged.push({ TagKey: t.TagKey, TagValue: t.TagValue })
  }
  if (merged.length > 50) throw kmsErrors.limitExceeded('A KMS key can have at most 50 tags.')
  return merged
}

const TagResource = onKey(
  'TagResource',
  byKeyId,
  (input: KmsInput, ctx, { key }) => {
    key.tags = mergeTags(key.tags, validateTags(input.Tags))
    save(ctx)
    return {}
  },
  { context: (input: KmsInput) => requestTagConditions(Array.isArray(input.Tags) ? input.Tags : []) },
)

const UntagResource = onKey(
  'UntagResource',
  byKeyId,
  (input: KmsInput, ctx, { key }) => {
    const keys = input.TagKeys
    if (!Array.isArray(keys)) throw constraintViolation(undefined, 'tagKeys', 'Member must not be null')
    key.tags = key.tags.filter((t) => !keys.includes(t.TagKey))
    save(ctx)
    return {}
  },
  { context: (input: KmsInput) => requestTagConditions([], Array.isArray(input.TagKeys) ? input.TagKeys : []) },
)

const ListResourceTags = onKey(
  'ListResourceTags',
  byKeyId,
  (input: KmsInput, _ctx, { key }) => {
    const { items, ...rest } = page(key.tags, input.Limit, input.Marker, 50, 50)
    return { Tags: items, ...rest }
  },
  { readOnly: true },
)

export const tagOperations: Record<string, Operation> = { TagResource, UntagResource, ListResourceTags }
