// Names that display as something else: bidi controls reorder what follows them
// ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf"), invisible characters make two names look
// alike. Upload refuses them; pages and download file names show them escaped.

// Invisible format characters (bidi controls, zero-width, soft hyphen, tags …) and the Hangul fillers that render blank.
export const INVISIBLE = /[\p{Cf}\u115f\u1160\u3164\uffa0]/u
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u
// Scripts whose spelling needs ZWNJ/ZWJ between letters (Persian, Indic conjuncts …); Latin, Greek and Cyrillic do not.
export const JOINING_SCRIPT = /[\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Gurmukhi}\p{Script=Gujarati}\p{Script=Oriya}\p{Script=Tamil}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Malayalam}\p{Script=Sinhala}]/u
export const PICTOGRAPH = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\ufe0f]/u

export const INVISIBLE_NAMES: Record<string, string> = {
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

export interface InvisibleChar {
  /** Hex, at least four digits: 202E. */
  codePoint: string
  /** In code points, from 0. */
  position: number
  bidi: boolean
}

/** The first invisible character that is not a legitimate joiner, with its code-point position. */
export function findInvisible(name: string): InvisibleChar | undefined {
  if (!INVISIBLE.test(name)) return undefined
  const chars = Array.from(name)
  for (const [i, ch] of chars.entries()) {
    if (!INVISIBLE.test(ch) || legitimateJoiner(chars, i)) continue
    return { codePoint: ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0'), position: i, bidi: BIDI.test(ch) }
  }
  return undefined
}

/** The name with each offending character written out as ⟨U+XXXX⟩, for showing to people. */
export function showInvisible(name: string): string {
  if (!INVISIBLE.test(name)) return name
  const chars = Array.from(name)
  return chars.map((ch, i) => (INVISIBLE.test(ch) && !legitimateJoiner(chars, i) ? `⟨U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩` : ch)).join('')
}

/** The name with each offending character replaced (file names a browser saves). */
export function replaceInvisible(name: string, replacement = '_'): string {
  if (!INVISIBLE.test(name)) return name
  const chars = Array.from(name)
  return chars.map((ch, i) => (INVISIBLE.test(ch) && !legitimateJoiner(chars, i) ? replacement : ch)).join('')
}
