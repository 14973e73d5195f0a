// What every part of the keyadmin page shares: calls to the JSON API (CSRF token, step-up), small DOM
// helpers, and the frame's shared pieces (window.kms from /auth/assets/frame.js: one date and size
// format, problems as a sentence with the next step, the confirmation dialog), the status line and tabs.

export const $ = (id) => document.getElementById(id)
export const enc = encodeURIComponent

// State-changing requests from a cookie session carry the CSRF token (none with AUTH_DISABLED).
const csrf = fetch('/auth/csrf', { headers: { accept: 'application/json' } })
  .then((r) => (r.ok ? r.json().then((b) => b.token) : null))
  .catch(() => null)

/** fetch against keyadmin's API: { status, body, stepUp } with the body parsed (or a problem made up when it is not JSON). */
export async function call(method, path, body, extraHeaders = {}) {
  const headers = { accept: 'application/json', ...extraHeaders }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') {
    const token = await csrf
    if (token) headers['x-csrf-token'] = token
  }
  let res
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  } catch {
    return { status: 0, body: { status: 0, code: 'NETWORK', detail: 'keyadmin did not answer: check your connection and try again.' }, stepUp: false }
  }
  const text = await res.text()
  let parsed
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {
    parsed = { status: res.status, code: `HTTP_${res.status}`, detail: `keyadmin answered ${res.status} ${res.statusText} without details; try again in a moment.` }
  }
  // RFC 9470: the session must authenticate again (fresh, with MFA) before this change (/auth/session.js).
  const stepUp = Boolean(window.kmsAuth && window.kmsAuth.isStepUp(res))
  return { status: res.status, body: parsed, stepUp }
}

/** A problem as one line of text (for places that hold text): what happened, the service's (or AWS's) sentence, the next step. */
export function problemText(p, doing) {
  const e = window.kms.explain(p)
  const detail = e.detail && e.detail !== e.title ? ` ${e.detail.replace(/\.?$/, '.')}` : ''
  return `${doing ? `Could not ${doing}: ` : ''}${e.title}${detail} ${e.next}`
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v)
    else if (v === true) node.setAttribute(k, '')
    else node.setAttribute(k, String(v))
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return node
}

/** The frame's one date format (2026-12-05 06:46 UTC) in a <time> with the full timestamp. */
export const formatDate = (iso) => window.kms.formatDate(iso)
export const dateCell = (iso) => (iso ? window.kms.timeElement(iso) : '—')
export const formatBytes = (n) => (typeof n === 'number' ? window.kms.formatBytes(n) : '—')

/** The status line: a success (or progress) message, or a problem; `scope` tags it so a later success of that kind can clear it. */
let statusScope = ''
export function status(message, kind = '', scope = '') {
  const line = message ? el('p', { class: `kms-message ${kind === 'error' ? 'kms-error' : kind === 'ok' ? 'kms-ok' : 'kms-muted'}`, role: kind === 'error' ? 'alert' : 'status' }, message) : ''
  $('status').replaceChildren(line)
  statusScope = scope
}
/** A problem in the status line, as the frame writes it: "Could not …: what happened", AWS's sentence, the next step. */
export function failed(problem, doing, scope = '') {
  window.kms.showError($('status'), problem, doing ? `Could not ${doing}` : undefined)
  statusScope = scope
}
export function clearStatus(scope) {
  if (statusScope === scope) status('')
}

/** role/kms-share-downloader → kms-share-downloader; the account root; any principal (*). */
export function principalName(principal) {
  if (principal === '*') return 'any principal (*)'
  const root = /^arn:aws[\w-]*:iam::(\d{12}):root$/.exec(principal)
  if (root) return `the account root (${root[1]})`
  const named = /^arn:aws[\w-]*:iam::\d{12}:(?:role|user)\/(?:.*\/)?([^/]+)$/.exec(principal)
  return named ? named[1] : principal
}

/** key=value per line → an object (blank lines skipped); throws on a line without '='. */
export function parsePairs(text) {
  const out = {}
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf('=')
    if (i <= 0) throw new Error(`"${line}" is not key=value`)
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim()
  }
  return out
}

/** A tablist with the WAI-ARIA keyboard pattern (arrows, Home, End); `onSelect(name)` when a tab is chosen. */
export function tabs(list, onSelect) {
  const all = () => [...list.querySelectorAll('[role="tab"]')].filter((t) => !t.hidden)
  const select = (tab, focus = false) => {
    for (const t of list.querySelectorAll('[role="tab"]')) {
      const on = t === tab
      t.setAttribute('aria-selected', String(on))
      t.tabIndex = on ? 0 : -1
      const panel = document.getElementById(t.getAttribute('aria-controls'))
      if (panel && !on) panel.hidden = true
    }
    // Several tabs may share one panel (the key lists): the chosen tab's panel shows, and names it.
    const panel = document.getElementById(tab.getAttribute('aria-controls'))
    if (panel) {
      panel.hidden = false
      panel.setAttribute('aria-labelledby', tab.id)
    }
    if (focus) tab.focus()
    return onSelect(tab.id.replace(/^tab-/, ''))
  }
  list.addEventListener('click', (e) => {
    const tab = e.target.closest('[role="tab"]')
    if (tab) select(tab)
  })
  list.addEventListener('keydown', (e) => {
    const visible = all()
    const i = visible.indexOf(document.activeElement)
    if (i < 0) return
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: visible.length - 1 }[e.key]
    if (next === undefined) return
    e.preventDefault()
    select(visible[(next + visible.length) % visible.length], true)
  })
  return { select: (name) => select($(`tab-${name}`)), selected: () => list.querySelector('[aria-selected="true"]').id.replace(/^tab-/, '') }
}

/** Asks before a destructive change (the frame's dialog): resolves true only when the confirming button is pressed. */
export function confirmDialog(title, body, confirmLabel) {
  const content = el('div', {}, ...(Array.isArray(body) ? body : [body]).map((b) => (b instanceof Node ? b : el('p', {}, b))))
  return window.kms.confirm({ title, body: content, confirmLabel })
}
