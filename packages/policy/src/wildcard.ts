// `*` and `?` matching without backtracking: a pattern is split at its stars into chunks, and each
// chunk is placed at its leftmost fit after the previous one (leftmost is always safe, because the
// star before the next chunk absorbs whatever lies between). Time grows with value length × chunk
// length, never with the number of stars: a backtracking regex (`^a.*a.*…b$`) tries every way to
// place n stars, and 13 stars against 30 characters took seconds.
// After Russ Cox, "Glob Matching Can Be Simple And Fast Too" (https://research.swtch.com/glob).

/** A pattern part: literal text, `*` (any run, even empty) or `?` (one UTF-16 code unit). */
export type WildcardPart = { t: 'lit'; v: string } | { t: 'star' } | { t: 'one' }

/**
 * The most wildcards (`*` and `?`) and characters one policy value may have. Matching stays linear
 * past them; they keep a policy's cost predictable and are reported by validatePolicy
 * (WILDCARD_PATTERN_TOO_COMPLEX, POLICY_VALUE_TOO_LONG) rather than enforced while evaluating.
 */
export const MAX_PATTERN_WILDCARDS = 32
export const MAX_PATTERN_LENGTH = 2048

/** A run of characters between stars; `any[i]` marks a `?` at position i. */
interface Chunk {
  text: string
  any?: Uint8Array
}

export interface WildcardMatcher {
  test(value: string): boolean
}

function chunkOf(parts: WildcardPart[], ignoreCase: boolean): Chunk {
  let text = ''
  let any: number[] | undefined
  for (const p of parts) {
    if (p.t === 'lit') text += ignoreCase ? p.v.toLowerCase() : p.v
    else {
      ;(any ??= []).push(text.length)
      // A placeholder the mask overrides.
      text += '?'
    }
  }
  if (!any) return { text }
  const mask = new Uint8Array(text.length)
  for (const i of any) mask[i] = 1
  return { text, any: mask }
}

function fitsAt(chunk: Chunk, value: string, at: number): boolean {
  const { text, any } = chunk
  if (!any) return value.startsWith(text, at)
  for (let i = 0; i < text.length; i++) if (any[i] === 0 && value.charCodeAt(at + i) !== text.charCodeAt(i)) return false
  return true
}

/** The leftmost position ≥ from where chunk fits and ends at or before `end`; -1 when none. */
function find(chunk: Chunk, value: string, from: number, end: number): number {
  const last = end - chunk.text.length
  if (!chunk.any) {
    const at = value.indexOf(chunk.text, from)
    return at >= 0 && at <= last ? at : -1
  }
  for (let at = from; at <= last; at++) if (fitsAt(chunk, value, at)) return at
  return -1
}

/** Compiles parts into a matcher over the whole value; `ignoreCase` lower-cases pattern and value. */
export function compileWildcard(parts: WildcardPart[], ignoreCase = false): WildcardMatcher {
  const chunks: Chunk[] = []
  let current: WildcardPart[] = []
  let stars = 0
  for (const p of parts) {
    if (p.t === 'star') {
      chunks.push(chunkOf(current, ignoreCase))
      current = []
      stars++
    } else current.push(p)
  }
  chunks.push(chunkOf(current, ignoreCase))
  if (stars === 0) {
    const only = chunks[0]
    return { test: (raw) => {
      const value = ignoreCase ? raw.toLowerCase() : raw
      return value.length === only.text.length && fitsAt(only, value, 0)
    } }
  }
  const head = chunks[0]
  const tail = chunks[chunks.length - 1]
  const middle = chunks.slice(1, -1).filter((c) => c.text.length > 0)
  const minimum = chunks.reduce((n, c) => n + c.text.length, 0)
  return {
    test(raw) {
      const value = ignoreCase ? raw.toLowerCase() : raw
      if (value.length < minimum) return false
      if (!fitsAt(head, value, 0)) return false
      const end = value.length - tail.text.length
      if (!fitsAt(tail, value, end)) return false
      let at = head.text.length
      for (const chunk of middle) {
        const found = find(chunk, value, at, end)
        if (found < 0) return false
        at = found + chunk.text.length
      }
      return true
    },
  }
}

/** Parts of a plain wildcard text (`*` and `?` are wildcards; no policy variables). */
export function wildcardParts(pattern: string): WildcardPart[] {
  const parts: WildcardPart[] = []
  let lit = ''
  for (const ch of pattern) {
    if (ch === '*' || ch === '?') {
      if (lit) parts.push({ t: 'lit', v: lit })
      lit = ''
      parts.push({ t: ch === '*' ? 'star' : 'one' })
    } else lit += ch
  }
  if (lit) parts.push({ t: 'lit', v: lit })
  return parts
}

const PLAIN = new Map<string, WildcardMatcher>()

/** A cached matcher for a plain wildcard text (EC2 filters, catalogue lookups). */
export function wildcardMatcher(pattern: string, ignoreCase = false): WildcardMatcher {
  const key = (ignoreCase ? 'i' : 's') + pattern
  let m = PLAIN.get(key)
  if (!m) {
    // Bounded: patterns come from requests and policy text, which a long-running lab keeps receiving.
    if (PLAIN.size >= 20_000) PLAIN.clear()
    m = compileWildcard(wildcardParts(pattern), ignoreCase)
    PLAIN.set(key, m)
  }
  return m
}

/** How many wildcards a policy value has, outside `${…}` variables (`${*}` is a literal star). */
export function countWildcards(value: string): number {
  return value.replace(/\$\{[^}]*\}/g, '').replace(/[^*?]/g, '').length
}
