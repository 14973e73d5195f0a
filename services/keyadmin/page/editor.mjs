// The keyadmin page's script (bundled by esbuild, see src/page/bundle.ts): keys, the access matrix,
// and a key policy editor that shows findings at their lines, with simulate, diff and apply.
import { EditorView, basicSetup } from 'codemirror'
import { json } from '@codemirror/lang-json'
import { linter, lintGutter, forceLinting } from '@codemirror/lint'

const $ = (id) => document.getElementById(id)
const enc = encodeURIComponent
let selectedKey = null

// State-changing requests from a cookie session carry the CSRF token (none with AUTH_DISABLED).
const csrf = fetch('/auth/csrf', { headers: { accept: 'application/json' } })
  .then((r) => (r.ok ? r.json().then((b) => b.token) : null))
  .catch(() => null)

async function call(method, path, body, extraHeaders = {}) {
  const headers = { accept: 'application/json', ...extraHeaders }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') {
    const token = await csrf
    if (token) headers['x-csrf-token'] = token
  }
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  // RFC 9470: the session must authenticate again (fresh, with MFA) before this change (/auth/session.js).
  const stepUp = Boolean(window.kmsAuth && window.kmsAuth.isStepUp(res))
  return { status: res.status, body: text ? JSON.parse(text) : undefined, stepUp }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return node
}

function status(message, kind = '') {
  const s = $('status')
  s.className = kind
  s.textContent = message
}

function problemText(p) {
  return `${p.status} ${p.code}: ${p.detail}`
}

// ---- the editor: findings from POST /policies/validate become diagnostics at their line and column
function diagnosticsFor(doc, findings) {
  return findings.map((f) => {
    const line = doc.line(Math.min(Math.max(f.line, 1), doc.lines))
    const from = Math.min(line.from + Math.max(f.column - 1, 0), line.to)
    const to = Math.min(from + 1, line.to)
    const severity = f.severity === 'ERROR' ? 'error' : f.severity === 'SUGGESTION' ? 'info' : 'warning'
    return { from, to: Math.max(to, from), severity, source: f.code, message: f.message + (f.suggestion ? ` (suggestion: ${f.suggestion})` : '') }
  })
}

function renderFindings(findings) {
  const list = $('findings')
  list.replaceChildren(...findings.map((f) => el('li', { 'class': f.severity.toLowerCase(), 'data-line': String(f.line) }, `${f.line}:${f.column} ${f.severity} ${f.code} — ${f.message}`)))
  if (findings.length === 0) list.append(el('li', { class: 'ok' }, 'No findings.'))
}

const policyLinter = linter(async (view) => {
  const text = view.state.doc.toString()
  if (!text.trim()) return []
  const res = await call('POST', '/policies/validate', { policy: text })
  if (res.status !== 200) {
    status(problemText(res.body), 'error')
    return []
  }
  renderFindings(res.body.findings)
  return diagnosticsFor(view.state.doc, res.body.findings)
}, { delay: 400 })

const editor = new EditorView({
  doc: '',
  extensions: [basicSetup, json(), lintGutter(), policyLinter, EditorView.lineWrapping],
  parent: $('editor'),
})
window.policyEditor = editor

function setPolicy(text) {
  editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } })
}

// ---- keys
async function loadKeys() {
  const res = await call('GET', '/keys')
  if (res.status !== 200) return status(problemText(res.body), 'error')
  const rows = res.body.keys.map((k) => {
    const button = el('button', { 'type': 'button', 'data-key': k.keyId }, 'Select')
    button.addEventListener('click', () => selectKey(k.keyId))
    return el('tr', {},
      el('td', {}, el('code', {}, k.keyId)),
      el('td', {}, k.aliases.join(', ') || '—'),
      el('td', {}, k.state),
      el('td', {}, k.origin),
      el('td', {}, k.rotation.supported ? (k.rotation.enabled ? 'on' : 'off') : 'n/a'),
      el('td', { class: 'num' }, k.tagCount),
      el('td', {}, button))
  })
  $('keys').replaceChildren(...rows)
}

async function selectKey(keyId) {
  selectedKey = keyId
  $('selected').textContent = keyId
  const [policy, tags] = await Promise.all([call('GET', `/keys/${enc(keyId)}/policy`), call('GET', `/keys/${enc(keyId)}/tags`)])
  if (policy.status !== 200) return status(problemText(policy.body), 'error')
  setPolicy(policy.body.policy)
  $('tags').textContent = Object.entries(tags.body?.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || 'no tags'
  forceLinting(editor)
  await loadAccess()
}

// ---- who can do what
async function loadAccess() {
  if (!selectedKey) return
  const res = await call('GET', `/keys/${enc(selectedKey)}/access`)
  if (res.status !== 200) return status(problemText(res.body), 'error')
  const actions = res.body.principals[0]?.actions.map((a) => a.action) ?? []
  const head = el('tr', {}, el('th', {}, 'principal'), ...actions.map((a) => el('th', {}, a.replace('kms:', ''))))
  const rows = res.body.principals.map((p) => el('tr', {},
    el('th', {}, p.principal.replace(/^arn:aws:iam::\d+:/, '')),
    ...p.actions.map((a) => el('td', { class: a.access, title: [a.conditions.join('; '), a.statements.map((s) => `${s.policy}${s.sid ? ' ' + s.sid : ''}`).join(', ')].filter(Boolean).join(' — ') },
      a.access === 'always' ? '✔' : a.access === 'conditional' ? a.conditions.map((c) => c.replace(/^only /, '')).join('; ') : '·'))))
  $('access').replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows))
  $('sod').replaceChildren(...res.body.findings.map((f) => el('li', { class: 'security_warning' }, `${f.code}: ${f.message}`)))
}

// ---- buttons
$('validate').addEventListener('click', () => forceLinting(editor))
$('dry-run').addEventListener('click', async () => {
  if (!selectedKey) return status('Select a key first.', 'error')
  status('Checking…')
  const res = await call('PUT', `/keys/${enc(selectedKey)}/policy?dryRun=true`, { policy: editor.state.doc.toString() })
  if (res.status !== 200) {
    if (res.body.findings) renderFindings(res.body.findings)
    return status(problemText(res.body), 'error')
  }
  $('diff').textContent = res.body.diff
  status(res.body.lockout.allowed ? 'Dry run: valid; keyadmin could still change the policy afterwards.' : `Dry run: this would lock ${res.body.lockout.principal} out (${res.body.lockout.decision}).`, res.body.lockout.allowed ? 'ok' : 'error')
})
// A change waiting for the person to confirm it is them at the provider (step-up), kept across that round trip.
const PENDING_APPLY = 'kms-share:keyadmin:pending-apply'

async function apply(afterStepUp = false) {
  if (!selectedKey) return status('Select a key first.', 'error')
  // The MFA box exists only where keyadmin acts through the MFA user (KEYADMIN_MFA_PROFILE).
  const code = $('mfa') ? $('mfa').value.trim() : ''
  status('Applying…')
  const res = await call('PUT', `/keys/${enc(selectedKey)}/policy`, { policy: editor.state.doc.toString() }, code ? { 'x-mfa-code': code } : {})
  if (res.stepUp) {
    if (afterStepUp) return status(`${problemText(res.body)} — your sign-in still does not meet what this change needs.`, 'error')
    sessionStorage.setItem(PENDING_APPLY, JSON.stringify({ key: selectedKey, policy: editor.state.doc.toString() }))
    status('This change needs a fresh sign-in with MFA: taking you to confirm it is you…')
    return window.kmsAuth.stepUp()
  }
  if (res.status !== 200) {
    if (res.body.findings) renderFindings(res.body.findings)
    return status(problemText(res.body), 'error')
  }
  $('diff').textContent = res.body.diff
  status(afterStepUp ? 'Applied (after you confirmed it is you).' : 'Applied.', 'ok')
  await loadAccess()
}
$('apply').addEventListener('click', () => apply())

/** Back from a step-up: the key and the policy as they were, and the change applied. */
async function resumePendingApply() {
  const saved = sessionStorage.getItem(PENDING_APPLY)
  if (!saved) return
  sessionStorage.removeItem(PENDING_APPLY)
  const pending = JSON.parse(saved)
  await selectKey(pending.key)
  setPolicy(pending.policy)
  if ($('mfa') && !$('mfa').value.trim()) return status('Signed in again. Enter the MFA code, then press Apply.', 'ok')
  await apply(true)
}
$('simulate').addEventListener('click', async () => {
  const res = await call('POST', '/policies/simulate', {
    policy: editor.state.doc.toString(),
    ...(selectedKey ? { key: selectedKey } : {}),
    principal: $('sim-principal').value.trim(),
    action: $('sim-action').value.trim(),
  })
  if (res.status !== 200) return status(problemText(res.body), 'error')
  $('sim-result').textContent = `${res.body.decision}${res.body.deniedBy ? ` (${res.body.deniedBy})` : ''}\n${res.body.explanation.join('\n')}`
})
$('template').addEventListener('change', async () => {
  const name = $('template').value
  if (!name) return
  const res = await call('POST', `/policy-templates/${enc(name)}`, { parameters: {} })
  if (res.status !== 200) return status(problemText(res.body), 'error')
  setPolicy(res.body.policy)
  forceLinting(editor)
})

// ---- audit: the latest verdicts (audit:read; unavailable when keyadmin has no REDIS_URL or Redis is down)
async function loadAudit() {
  const [summary, list] = await Promise.all([call('GET', '/audit/summary'), call('GET', '/audit?limit=20')])
  if (summary.status !== 200) {
    $('audit-summary').textContent = summary.body?.detail ? problemText(summary.body) : `audit unavailable (${summary.status})`
    return
  }
  const counts = Object.entries(summary.body.byVerdict).map(([verdict, n]) => `${verdict} ${n}`).join(' · ')
  $('audit-summary').textContent = `${counts} (of ${summary.body.total} objects)`
  const rows = (list.body?.items ?? []).map((r) => el('tr', {},
    el('td', {}, el('a', { href: `/audit/objects/${r.key.split('/').map(enc).join('/')}` }, r.key)),
    el('td', { class: r.verdict === 'VERIFIED' ? 'ok' : 'error' }, r.verdict),
    el('td', {}, Object.entries(r.event?.encryptionContext ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '—'),
    el('td', {}, r.verdictAt ?? '')))
  $('audit').replaceChildren(...rows)
}

loadKeys().then(resumePendingApply)
loadAudit()
