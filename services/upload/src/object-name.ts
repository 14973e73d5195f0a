// Object names: what S3 accepts is broader than what a file share should; refuse the
// names that cause trouble downstream (paths, control characters) with what to fix.
import { findInvisible, INVISIBLE_NAMES } from '@kms-share/shared'
import { UploadErrors } from './errors.js'

export { findInvisible }

export const MAX_KEY_BYTES = 1024

// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u

/** The object key for a name: NFC-normalised and checked; throws UPL_INVALID_NAME saying what to fix. */
export function objectKey(name: string | undefined): string {
  if (name === undefined || name === '') throw new UploadErrors.INVALID_NAME('the name is empty; give a file name or a "key"')
  let key: string
  try {
    key = name.normalize('NFC')
  } catch {
    throw new UploadErrors.INVALID_NAME('the name is not valid Unicode')
  }
  if (/[\ud800-\udfff]/u.test(key)) throw new UploadErrors.INVALID_NAME('the name contains an unpaired surrogate (not valid UTF-8)')
  const control = CONTROL.exec(key)
  if (control) {
    const cp = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')
    throw new UploadErrors.INVALID_NAME(`control character U+${cp} at position ${control.index}; remove it`)
  }
  const invisible = findInvisible(key)
  if (invisible) {
    const name = INVISIBLE_NAMES[invisible.codePoint]
    const what = invisible.bidi
      ? 'a bidirectional control, which makes a name display in another order than it is stored (e.g. "invoice\\u202Efdp.exe" shows as "invoiceexe.pdf")'
      : 'an invisible character, which makes two different names look the same'
    throw new UploadErrors.INVALID_NAME(`U+${invisible.codePoint}${name ? ` (${name})` : ''} at position ${invisible.position} is ${what}; remove it and send the name as it should read`)
  }
  for (const segment of key.split('/')) {
    if (segment === '.' || segment === '..') throw new UploadErrors.INVALID_NAME(`"${segment}" path segments are not allowed; name the file without them`)
    if (segment === '') throw new UploadErrors.INVALID_NAME('empty path segment (leading, trailing or doubled "/"); remove the extra "/"')
  }
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes > MAX_KEY_BYTES) throw new UploadErrors.INVALID_NAME(`the name is ${bytes} bytes in UTF-8; S3 allows at most ${MAX_KEY_BYTES}, shorten it by ${bytes - MAX_KEY_BYTES}`)
  return key
}
