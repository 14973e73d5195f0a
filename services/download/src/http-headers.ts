// Download headers: Content-Disposition (RFC 6266 with RFC 5987 filename*) and byte ranges (RFC 9110).
import { replaceInvisible } from '@kms-share/shared'

/** The file name a browser saves: the key's last segment, bidi controls and invisible characters as "_" (no "fdp.exe" posing as ".pdf"). */
export function downloadName(key: string): string {
  const last = key.split('/').filter(Boolean).pop()
  return last ? replaceInvisible(last) : 'download'
}

/** RFC 5987 attr-char percent-encoding: encodeURIComponent leaves ' ( ) * unescaped, which attr-char forbids. */
export function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** `attachment` always (never rendered inline), an ASCII fallback name and the exact UTF-8 one. */
export function contentDisposition(key: string): string {
  const name = downloadName(key)
  const fallback = name.replace(/[^\x20-\x7e]|["\\%;]/g, '_')
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc5987(name)}`
}

export type RangeResult =
  | { kind: 'none' }
  | { kind: 'unsatisfiable' }
  | { kind: 'range'; start: number; end: number }

/**
 * One byte range of a `size`-byte representation. Several ranges or a malformed header are
 * ignored (the whole file is sent, as RFC 9110 allows); a range past the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: 'none' }
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim())
  if (!match) return { kind: 'none' }
  const [, first, last] = match
  if (first === '' && last === '') return { kind: 'none' }
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'range', start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  let end = last === '' ? size - 1 : Number(last)
  if (last !== '' && end < start) return { kind: 'none' }
  if (start >= size) return { kind: 'unsatisfiable' }
  if (end >= size) end = size - 1
  return { kind: 'range', start, end }
}

/** HTML text and attribute escaping. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`)
}
