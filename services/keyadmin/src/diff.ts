// A line diff (longest common subsequence) in unified style, for dryRun answers and the page.
// Key policies are at most 32 KB, so the quadratic table stays small.

export interface DiffLine {
  op: ' ' | '-' | '+'
  text: string
}

export function diffLines(before: string, after: string): DiffLine[] {
  const a = before.replace(/\r\n/g, '\n').split('\n')
  const b = after.replace(/\r\n/g, '\n').split('\n')
  if (a.at(-1) === '') a.pop()
  if (b.at(-1) === '') b.pop()
  const n = a.length
  const m = b.length
  // lcs[i][j]: common lines of a[i:] and b[j:], in one flat array.
  const lcs = new Uint32Array((n + 1) * (m + 1))
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] = a[i] === b[j] ? lcs[(i + 1) * (m + 1) + j + 1] + 1 : Math.max(lcs[(i + 1) * (m + 1) + j], lcs[i * (m + 1) + j + 1])
    }
  }
  const out: DiffLine[] = []
  let i = 0
  let j = 0
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', text: a[i] })
      i++
      j++
    } else if (lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) out.push({ op: '-', text: a[i++] })
    else out.push({ op: '+', text: b[j++] })
  }
  while (i < n) out.push({ op: '-', text: a[i++] })
  while (j < m) out.push({ op: '+', text: b[j++] })
  return out
}

/** The diff as text: `--- current`, `+++ proposed`, then each line with its marker. */
export function unifiedDiff(before: string, after: string): string {
  const lines = diffLines(before, after)
  return ['--- current', '+++ proposed', ...lines.map((l) => `${l.op}${l.text}`)].join('\n') + '\n'
}
