// Object names: what S3 accepts is broader than what a file share should; refuse the
// names that cause trouble downstream (paths, control characters) with what to fix.
import { UploadErrors } from './errors.js'

export const MAX_KEY_BYTES = 1024

// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u

// Invisible format characters (bidi controls, zero-width, soft hyphen, tags …) and the Hangul fillers that render blank.
const INVISIBLE = /[\p{Cf}\u115f\u1160\u3164\uffa0]/u
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u
// Scripts whose spelling needs ZWNJ/ZWJ between letters (Persian, Indic conjuncts …); Latin, Greek and Cyrillic do not.
const JOINING_SCRIPT = /[\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Gurmukhi}\p{Script=Gujarati}\p{Script=Oriya}\p{Script=Tamil}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Malayalam}\p{Script=Sinhala}]/u
const PICTOGRAPH = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\ufe0f]/u

const INVISIBLE_NAMES: Record<string, string> = {
  '00AD': 'SOFT HYPHEN', '061C': 'ARABIC LETTER MARK', '200B': 'ZERO WIDTH SPACE', '200C': 'ZERO WIDTH NON-JOINER',
  '200D': 'ZERO WIDTH JOINER', '200E': 'LEFT-TO-RIGHT MARK', '200F': 'RIGHT-TO-LEFT MARK', '202A': 'LEFT-TO-RIGHT EMBEDDING',
  '202B': 'RIGHT-TO-LEFT EMBEDDING', '202C': 'POP DIRECTIONAL FORMATTING', '202D': 'LEFT-TO-RIGHT OVERRIDE',
  '202E': 'RIGHT-TO-LEFT OVERRIDE', '2060': 'WORD JOINER', '2066': 'LEFT-TO-RIGHT ISOLATE', '2067': 'RIGHT-TO-LEFT ISOLATE',
  '2068': 'FIRST STRONG ISOLATE', '2069': 'POP DIRECTIONAL ISOLATE', 'FEFF': 'ZERO WIDTH NO-BREAK SPACE (BOM)',
}

/** A joiner that spells a word (Persian, Indic) or an emoji sequence, not one hidden in a Latin name. */
function legitimateJoiner(chars: string[], i: number): boolean {
  const [before, joiner, after] = [chars[i - 1] ?? '', chars[i], chars[i + 1] ?? '']
  if (joiner === '\u200d' && PICTOGRAPH.test(before) && PICTOGRAPH.test(after)) return true
  return (joiner === '\u200c' || joiner === '\u200d') && JOINING_SCRIPT.test(before) && /[\p{L}\p{M}]/u.test(after)
}

/** The first invisible character that is not a legitimate joiner, with its code-point position. */
export function findInvisible(name: string): { codePoint: string; position: number; bidi: boolean } | undefined {
  if (!INVISIBLE.test(name)) return undefined
  const chars = Array.from(name)
  for (const [i, ch] of chars.entries()) {
    if (!INVISIBLE.test(ch) || legitimateJoiner(chars, i)) continue
    return { codePoint: ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0'), position: i, bidi: BIDI.test(ch) }
  }
  return undefined
}

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
