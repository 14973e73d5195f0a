// What every part of the keyadmin page shares: calls to the JSON API (CSRF token, step-up, problems in
// words), small DOM helpers, one date format, the status line, tabs and the confirmation dialog.

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

/** What to do next, by problem code: the detail says what happened, this says how to go on. */
const NEXT_STEP = {
  KADM_MFA_REQUIRED: 'Enter the current code from your MFA device in "MFA code for sensitive changes", then try again.',
  KADM_MFA_INVALID: 'Enter the current code from your MFA device (codes change every 30 seconds).',
  KADM_MFA_REUSED: 'Wait for the next code from your MFA device, enter it, then try again.',
  KADM_POLICY_INVALID: 'Fix the findings listed under the editor, then try again.',
  KADM_POLICY_LOCKOUT: 'Keep a statement that lets the key administrators call kms:PutKeyPolicy.',
  KADM_TAG_LIMIT: 'Change the tag as described and add it again.',
  KADM_INVALID_KEY_STATE: 'Check the key\'s state on the General tab.',
  SHR_MISSING_SCOPE: 'Ask whoever manages kms-share\'s groups for access, then sign in again.',
  SHR_AWS_ACCESS_DENIED: 'AWS refused: the policy that denies it is named above; change it on the Key policy tab or in IAM.',
  KADM_AUDIT_NOT_CONFIGURED: 'Set REDIS_URL for keyadmin to the audit worker\'s Redis.',
  KADM_AUDIT_UNAVAILABLE: 'Try again in a moment.',
}

/** A problem as a sentence for people: what failed, why, AWS's code when AWS refused, and the next step. */
export function problemText(p, doing) {
  if (!p || typeof p !== 'object') return `${doing ? `Could not ${doing}` : 'Failed'}: keyadmin gave no details.`
  const aws = p.awsErrorCode ? ` (AWS: ${p.awsErrorCode})` : ''
  const next = NEXT_STEP[p.code] ? ` ${NEXT_STEP[p.code]}` : ''
  const detail = String(p.detail ?? p.title ?? 'no details').replace(/\.$/, '')
  return `${doing ? `Could not ${doing}: ` : ''}${detail}${aws}.${next}`
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

/** One date format on every page: 2026-12-05 06:46 UTC (the full time on hover). */
export function formatDate(iso) {
  if (!iso) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return String(iso)
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}
export const dateCell = (iso) => (iso ? el('time', { datetime: iso, title: iso }, formatDate(iso)) : '—')

export function formatBytes(n) {
  if (n === undefined || n === null) return '—'
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let v = n
  let i = -1
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++ }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

/** The status line; `scope` tags a message so a later success of that kind can clear it. */
let statusScope = ''
export function status(message, kind = '', scope = '') {
  const s = $('status')
  s.className = kind
  s.textContent = message
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
    onSelect(tab.id.replace(/^tab-/, ''))
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

/**
 * Asks before a destructive change: a modal dialog with a title, what will happen (nodes or text) and
 * the confirming button's label. Resolves true only when that button is pressed; Escape cancels.
 */
export function confirmDialog(title, body, confirmLabel) {
  const dialog = $('confirm')
  $('confirm-title').textContent = title
  $('confirm-body').replaceChildren(...(Array.isArray(body) ? body : [body]).map((b) => (b instanceof Node ? b : el('p', {}, b))))
  $('confirm-ok').textContent = confirmLabel
  dialog.returnValue = 'cancel'
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true })
    dialog.showModal()
    $('confirm-cancel').focus()
  })
}
