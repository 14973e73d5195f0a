// AWS's tag limits for KMS keys, checked before the call so the answer says what to fix:
// https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html
import { KeyadminErrors } from './errors.js'

export const MAX_TAGS_PER_KEY = 50
export const MAX_TAG_KEY_LENGTH = 128
export const MAX_TAG_VALUE_LENGTH = 256
/** Letters, digits, spaces and _ . : / = + - @ in any language, as AWS's tag rules allow. */
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u

/** Throws KADM_TAG_LIMIT with every problem; `existing` are the key's current tag keys. */
export function checkTags(tags: Record<string, string>, existing: string[]): void {
  const problems: string[] = []
  for (const [key, value] of Object.entries(tags)) {
    const keyLength = [...key].length
    if (keyLength < 1 || keyLength > MAX_TAG_KEY_LENGTH) problems.push(`tag key ${JSON.stringify(key.slice(0, 40))} has ${keyLength} characters (1–${MAX_TAG_KEY_LENGTH})`)
    if (key.toLowerCase().startsWith('aws:')) problems.push(`tag key ${JSON.stringify(key)}: the aws: prefix is reserved for AWS`)
    if (!TAG_CHARS.test(key)) problems.push(`tag key ${JSON.stringify(key)}: only letters, digits, spaces and _ . : / = + - @`)
    const valueLength = [...value].length
    if (valueLength > MAX_TAG_VALUE_LENGTH) problems.push(`tag value of ${JSON.stringify(key)} has ${valueLength} characters (0–${MAX_TAG_VALUE_LENGTH})`)
    if (!TAG_CHARS.test(value)) problems.push(`tag value of ${JSON.stringify(key)}: only letters, digits, spaces and _ . : / = + - @`)
  }
  const total = new Set([...existing, ...Object.keys(tags)]).size
  if (total > MAX_TAGS_PER_KEY) problems.push(`the key would have ${total} tags (at most ${MAX_TAGS_PER_KEY})`)
  if (problems.length > 0) throw new KeyadminErrors.TAG_LIMIT(problems.join('; '))
}
