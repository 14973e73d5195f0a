// The one way a problem becomes sentences, for both sides: the server's error pages import it
// (src/problem-guide.ts) and the pages' script gets this same text inside frame.js as
// window.kmsExplain (src/frame.ts). Plain JavaScript so that the browser runs it unchanged.

const FALLBACK = { title: 'The request failed.', next: 'Try again; if it goes on, give the operators the request id below.' }

/** {field} → the problem's member (arrays joined with "or"); undefined when a field has no value. */
function fill(template, problem) {
  let missing = false
  const text = template.replace(/\{([A-Za-z]+)\}/g, function (_m, field) {
    const value = problem[field]
    if (Array.isArray(value) && value.length) return value.map(String).join(' or ')
    if (typeof value === 'string' && value) return value
    missing = true
    return ''
  })
  return missing ? undefined : text
}

/** What a person reads for a problem (or a bare status): { title, next, detail, code, status, requestId }. */
export function explainProblem(problem, guide) {
  const p = problem || {}
  const entry = (p.code && Object.hasOwn(guide, p.code) ? guide[p.code] : undefined) || FALLBACK
  const status = typeof p.status === 'number' ? p.status : 0
  const explained = {
    title: fill(entry.title, p) || p.title || FALLBACK.title,
    next: fill(entry.next, p) || FALLBACK.next,
    detail: p.detail || p.title || '',
    code: p.code || 'HTTP_' + status,
    status: status,
  }
  if (p.requestId) explained.requestId = p.requestId
  return explained
}
