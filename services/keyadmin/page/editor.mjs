// The keyadmin page's script (bundled by esbuild, see src/page/bundle.ts): the key lists, and for the
// selected key its tabs — general and deletion (with the impact report), the key policy editor
// (findings at their lines, dry run with who gains and who loses, Apply after confirmation), who can do
// what with Simulate, tags, aliases, rotation, key material, grants and the audit's verdicts. Every
// change goes through the documented JSON API; sensitive ones carry the MFA code or step up first.
import { EditorView, basicSetup } from 'codemirror'
import { json } from '@codemirror/lang-json'
import { linter, lintGutter, forceLinting } from '@codemirror/lint'
import { $, call, clearStatus, confirmDialog, dateCell, el, enc, failed, formatBytes, formatDate, parsePairs, principalName, problemText, status, tabs } from './lib.mjs'
import { renderMatrix, renderSummary, wireMatrix } from './matrix.mjs'

/** The selected key's detail (GET /keys/:key), or null. */
let key = null
let matrix = null
let listManager = 'CUSTOMER'
/** Customer managed keys, for "move alias to". */
let customerKeys = []
const keyPath = (suffix = '') => `/keys/${enc(key.keyId)}${suffix}`

// ---- sensitive changes: the MFA code where keyadmin acts as the MFA user, else a step-up at the provider
const PENDING = 'kms-share:keyadmin:pending'
const resumers = {}

function mfaHeaders() {
  const code = $('mfa') ? $('mfa').value.trim() : ''
  return code ? { 'x-mfa-code': code } : {}
}

/**
 * Runs a sensitive change. When the session must confirm it is the person (RFC 9470), the change is kept
 * (kind and what it needs) and the person is sent through the provider; back, `resumers[kind]` runs it.
 */
async function sensitive(kind, payload, run, afterStepUp = false) {
  const headers = mfaHeaders()
  const res = await run(headers)
  // Each MFA code works once: the box is emptied for the next change.
  if (headers['x-mfa-code'] && $('mfa')) $('mfa').value = ''
  if (res.stepUp) {
    if (afterStepUp) {
      failed(res.body, 'make this change after signing in again')
      return null
    }
    sessionStorage.setItem(PENDING, JSON.stringify({ kind, keyId: key.keyId, payload }))
    status('This change needs a fresh sign-in with MFA: taking you to confirm it is you…')
    window.kmsAuth.stepUp()
    return null
  }
  return res
}

async function resumePending() {
  const saved = sessionStorage.getItem(PENDING)
  if (!saved) return
  sessionStorage.removeItem(PENDING)
  const pending = JSON.parse(saved)
  await selectKey(pending.keyId, pending.kind === 'apply' ? 'policy' : undefined)
  if ($('mfa') && !$('mfa').value.trim()) {
    status('Signed in again. Enter the MFA code, then repeat the change.', 'ok')
    if (pending.kind === 'apply') setPolicy(pending.payload.policy)
    return
  }
  await resumers[pending.kind]?.(pending.payload, true)
}

/** A change's answer: on success `done(body)` and a status in words; else the problem in words. */
async function report(res, doing, done, scope = '') {
  if (!res) return false
  if (res.status >= 200 && res.status < 300) {
    if (done) await done(res.body)
    return true
  }
  failed(res.body, doing, scope)
  return false
}

// A new action makes the last message stale: it goes as the person presses a button (not a tab, not in a dialog).
document.addEventListener('click', (e) => {
  const button = e.target.closest('button')
  if (button && button.getAttribute('role') !== 'tab' && !button.closest('dialog') && !button.closest('#access')) status('')
}, true)

// ---- the key lists
const keyTabs = tabs(document.querySelector('#key-list [role="tablist"]'), (name) => {
  listManager = name === 'aws' ? 'AWS' : 'CUSTOMER'
  $('keys-caption').textContent = listManager === 'AWS' ? 'AWS managed keys' : 'Customer managed keys'
  $('new-key').hidden = listManager === 'AWS'
  loadKeys()
})
void keyTabs

let searchTimer
$('key-search').addEventListener('input', () => {
  clearTimeout(searchTimer)
  searchTimer = setTimeout(loadKeys, 250)
})

let listRequest = 0
async function loadKeys() {
  const q = $('key-search').value.trim()
  const mine = ++listRequest
  const res = await call('GET', `/keys?manager=${listManager}${q ? `&q=${enc(q)}` : ''}`)
  if (mine !== listRequest) return
  if (res.status !== 200) return failed(res.body, 'list the keys')
  if (listManager === 'CUSTOMER' && !q) customerKeys = res.body.keys
  const rows = res.body.keys.map((k) => el('tr', { 'data-key': k.keyId },
    el('td', {}, el('a', { href: `#key=${enc(k.keyId)}`, class: 'key-link' }, k.aliases.join(', ') || `(no alias) ${k.keyId.slice(0, 8)}…`)),
    el('td', { class: 'wide-only' }, el('code', {}, k.keyId)),
    el('td', {}, el('span', { class: `badge ${k.state}` }, k.state)),
    el('td', { class: 'wide-only' }, k.origin),
    el('td', { class: 'wide-only' }, k.rotation.supported ? (k.rotation.enabled ? `every ${k.rotation.periodInDays ?? 365} days` : 'off') : 'n/a'),
    el('td', {}, dateCell(k.creationDate))))
  $('keys').replaceChildren(...rows)
  const empty = $('keys-empty')
  empty.hidden = rows.length > 0
  empty.textContent = q
    ? `No key matches "${q}".`
    : listManager === 'AWS'
      ? 'No AWS managed keys yet: AWS creates one (alias/aws/s3 …) the first time a service encrypts with its default key.'
      : 'No customer managed keys yet: create one with "Create key".'
}

$('new-key').addEventListener('click', () => {
  $('create-key-form').hidden = false
  $('new-key').setAttribute('aria-expanded', 'true')
  $('create-alias').focus()
})
$('create-cancel').addEventListener('click', () => {
  $('create-key-form').hidden = true
  $('new-key').setAttribute('aria-expanded', 'false')
  $('new-key').focus()
})
$('create-key-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const alias = $('create-alias').value.trim()
  const description = $('create-description').value.trim()
  const res = await call('POST', '/keys', { origin: $('create-origin').value, ...(alias ? { alias } : {}), ...(description ? { description } : {}) })
  await report(res, 'create the key', async (body) => {
    $('create-key-form').hidden = true
    $('create-key-form').reset()
    status(`Created ${body.aliases[0] ?? body.keyId} (${body.state}).`, 'ok')
    await loadKeys()
    location.hash = `key=${enc(body.keyId)}`
  })
})

// ---- one key
const detailTabs = tabs(document.querySelector('#key-detail [role="tablist"]'), (name) => {
  if (key) history.replaceState(null, '', `#key=${enc(key.keyId)}&tab=${name}`)
  return loadTab(name)
})

async function selectKey(keyId, tab) {
  const res = await call('GET', `/keys/${enc(keyId)}`)
  if (res.status !== 200) return failed(res.body, 'open the key')
  key = res.body
  matrix = null
  $('key-detail').hidden = false
  $('key-title').textContent = key.aliases[0] ?? key.keyId
  $('key-state-badge').textContent = key.state
  $('key-state-badge').className = `badge ${key.state}`
  $('key-arn').textContent = key.arn
  $('tab-material').hidden = key.origin !== 'EXTERNAL'
  $('tab-rotation').hidden = key.manager === 'AWS'
  // AWS managed keys are AWS's to change: the page shows them, and offers no change.
  for (const node of document.querySelectorAll('#key-detail [data-change]')) node.hidden = key.manager === 'AWS'
  renderGeneral()
  const wanted = tab && !$(`tab-${tab}`).hidden ? tab : 'general'
  // Awaited, so a change resumed after a step-up lands on a loaded tab (its policy is not overwritten).
  if (detailTabs.selected() === wanted) await loadTab(wanted)
  else await detailTabs.select(wanted)
  $('key-detail').scrollIntoView({ block: 'start' })
}

async function refreshKey() {
  const res = await call('GET', keyPath())
  if (res.status === 200) {
    key = res.body
    $('key-state-badge').textContent = key.state
    $('key-state-badge').className = `badge ${key.state}`
    renderGeneral()
  }
  loadKeys()
}

function loadTab(name) {
  if (!key) return undefined
  const loaders = { general: loadImpact, policy: loadPolicy, access: loadAccess, tags: renderTags, aliases: renderAliases, rotation: loadRotation, material: renderMaterial, grants: loadGrants, audit: () => loadAudit(false) }
  return loaders[name]?.()
}

function onHash() {
  const params = new URLSearchParams(location.hash.slice(1))
  const id = params.get('key')
  if (id && (!key || key.keyId !== id)) selectKey(id, params.get('tab') ?? undefined)
}
window.addEventListener('hashchange', onHash)

// ---- general, state and deletion
function renderGeneral() {
  const facts = [
    ['Key id', el('code', {}, key.keyId)], ['Aliases', key.aliases.join(', ') || '—'], ['State', key.state],
    ['Origin', key.origin === 'EXTERNAL' ? 'EXTERNAL (imported key material)' : key.origin], ['Key manager', key.manager === 'AWS' ? 'AWS (AWS managed key)' : 'Customer'],
    ['Key spec', key.keySpec], ['Key usage', key.keyUsage], ['Created', dateCell(key.creationDate)],
    ...(key.deletionDate ? [['Deletion on', dateCell(key.deletionDate)]] : []),
    ...(key.origin === 'EXTERNAL' ? [['Key material expires', key.expirationModel === 'KEY_MATERIAL_EXPIRES' ? dateCell(key.validTo) : key.state === 'PendingImport' ? 'no material imported' : 'never']] : []),
  ]
  $('general-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))
  $('description').value = key.description
  const pending = key.state === 'PendingDeletion'
  const aws = key.manager === 'AWS'
  $('enable-key').hidden = aws || key.state !== 'Disabled'
  $('disable-key').hidden = aws || key.state !== 'Enabled'
  $('deletion-schedule').hidden = aws || pending
  $('deletion-cancel').hidden = aws || !pending
}

let impact = null
async function loadImpact() {
  $('impact').textContent = 'Reading the audit and CloudTrail for the impact report…'
  const res = await call('GET', keyPath('/impact'))
  if (res.status !== 200) {
    impact = null
    $('impact').textContent = problemText(res.body, 'make the impact report')
    return null
  }
  impact = res.body
  $('impact').textContent = key.state === 'PendingDeletion' ? `Deletion is scheduled for ${formatDate(key.deletionDate)}. ${impact.sentences.delete}` : impact.sentences.delete
  return impact
}

$('description-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const res = await call('PATCH', keyPath(), { description: $('description').value })
  await report(res, 'save the description', async (body) => { key = body; status('Description saved.', 'ok'); renderGeneral(); loadKeys() })
})

$('enable-key').addEventListener('click', async () => {
  await report(await call('POST', keyPath('/enable')), 'enable the key', async () => { status('The key is enabled.', 'ok'); await refreshKey() })
})

async function disableKey(_payload, afterStepUp = false) {
  const res = await sensitive('disable', {}, (h) => call('POST', keyPath('/disable'), undefined, h), afterStepUp)
  await report(res, 'disable the key', async () => { status('The key is disabled: every use fails until it is enabled again.', 'ok'); await refreshKey() })
}
resumers.disable = disableKey
$('disable-key').addEventListener('click', async () => {
  const report = await loadImpact()
  const ok = await confirmDialog(`Disable ${key.aliases[0] ?? key.keyId}?`, report ? report.sentences.disable : 'The impact report could not be made: objects under this key become unreadable until it is enabled again.', 'Disable key')
  if (ok) await disableKey()
})

async function scheduleDeletion(payload, afterStepUp = false) {
  const res = await sensitive('deletion', payload, (h) => call('POST', keyPath('/deletion'), payload, h), afterStepUp)
  await report(res, 'schedule the deletion', async (body) => { status(`Deletion scheduled for ${formatDate(body.deletionDate)}; cancel it any time before.`, 'ok'); await refreshKey(); loadImpact() })
}
resumers.deletion = scheduleDeletion
$('schedule-deletion').addEventListener('click', async () => {
  const days = Number($('deletion-days').value)
  if (!Number.isInteger(days) || days < 7 || days > 30) {
    status('The waiting period is 7 to 30 days.', 'error')
    $('deletion-days').focus()
    return
  }
  const report = await loadImpact()
  const ok = await confirmDialog(`Schedule deletion of ${key.aliases[0] ?? key.keyId}?`, [
    report ? report.sentences.delete : 'The impact report could not be made.',
    `The key is deleted in ${days} days and cannot be used meanwhile; after that, nothing it encrypted can ever be decrypted.`,
  ], `Schedule deletion in ${days} days`)
  if (ok) await scheduleDeletion({ pendingWindowInDays: days })
})

$('cancel-deletion').addEventListener('click', async () => {
  await report(await call('DELETE', keyPath('/deletion')), 'cancel the deletion', async () => { status('Deletion cancelled; the key is Disabled, as KMS leaves it: enable it to use it again.', 'ok'); await refreshKey(); loadImpact() })
})

// ---- key policy: findings from POST /policies/validate become diagnostics at their line and column
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
    failed(res.body, 'validate the policy', 'policy')
    return []
  }
  renderFindings(res.body.findings)
  // A policy without errors makes the last refusal (a failed Apply or dry run) stale.
  if (!res.body.findings.some((f) => f.severity === 'ERROR')) clearStatus('policy')
  return diagnosticsFor(view.state.doc, res.body.findings)
}, { delay: 400 })

const editor = new EditorView({
  doc: '',
  extensions: [
    basicSetup, json(), lintGutter(), policyLinter, EditorView.lineWrapping, EditorView.contentAttributes.of({ 'aria-label': 'Key policy (JSON)' }),
    // The page's CSP allows this one <style> element by its nonce.
    EditorView.cspNonce.of(document.body.dataset.styleNonce ?? ''),
  ],
  parent: $('editor'),
})
window.policyEditor = editor

function setPolicy(text) {
  editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } })
  $('dry-run-result').hidden = true
}

async function loadPolicy() {
  const res = await call('GET', keyPath('/policy'))
  if (res.status !== 200) return failed(res.body, 'read the key policy')
  setPolicy(res.body.policy)
  forceLinting(editor)
  if (!matrix) await loadMatrix()
  if (matrix) renderSummary(matrix)
}

/** One line per principal and kind of change: "admin loses kms:Encrypt, kms:Decrypt" (the API lists each cell). */
function groupChanges(changes) {
  const groups = new Map()
  for (const c of changes) {
    const id = JSON.stringify([c.principal, c.change, c.before, c.after])
    const group = groups.get(id)
    if (group) group.actions.push(c.action)
    else groups.set(id, { first: c, actions: [c.action] })
  }
  return [...groups.values()].map(({ first, actions }) => ({ change: first.change, sentence: first.sentence.replace(first.action, actions.join(', ')) }))
}

function renderChanges(changes) {
  return changes.length === 0
    ? [el('li', { class: 'ok' }, 'Nobody gains or loses any action on this key.')]
    : groupChanges(changes).map((c) => el('li', { class: c.change }, c.sentence))
}

/** PUT ?dryRun=true: findings, lockout check, text diff and who gains or loses what; null when refused. */
async function dryRun() {
  status('Checking the policy: findings, lockout and who gains or loses access…')
  const res = await call('PUT', `${keyPath('/policy')}?dryRun=true`, { policy: editor.state.doc.toString() })
  if (res.status !== 200) {
    if (res.body?.findings) renderFindings(res.body.findings)
    failed(res.body, 'check the policy', 'policy')
    return null
  }
  $('diff').textContent = res.body.diff
  $('access-changes').replaceChildren(...renderChanges(res.body.access.changes))
  $('dry-run-result').hidden = false
  if (!res.body.lockout.allowed) {
    status(`This policy would lock ${res.body.lockout.principal} out of the key (${res.body.lockout.decision}): keep a statement that lets the key administrators call kms:PutKeyPolicy.`, 'error', 'policy')
    return null
  }
  status(`Dry run: valid; keyadmin could still change the policy afterwards; ${res.body.access.changes.length} change${res.body.access.changes.length === 1 ? '' : 's'} in who can do what.`, 'ok', 'policy')
  return res.body
}

async function apply(payload, afterStepUp = false) {
  status('Applying…')
  const res = await sensitive('apply', payload, (h) => call('PUT', keyPath('/policy'), { policy: payload.policy }, h), afterStepUp)
  await report(res, 'apply the policy', async () => {
    status(afterStepUp ? 'Applied (after you confirmed it is you).' : 'Applied.', 'ok', 'policy')
    matrix = null
    await loadMatrix()
    if (matrix) renderSummary(matrix)
  }, 'policy')
}
resumers.apply = async (payload, afterStepUp) => {
  setPolicy(payload.policy)
  await apply(payload, afterStepUp)
}

$('validate').addEventListener('click', () => forceLinting(editor))
$('dry-run').addEventListener('click', () => dryRun())
$('apply').addEventListener('click', async () => {
  const policy = editor.state.doc.toString()
  const checked = await dryRun()
  if (!checked) return
  const changes = checked.access.changes
  const losses = changes.filter((c) => !c.newAccess).length
  const gains = changes.length - losses
  const ok = await confirmDialog(`Apply this key policy to ${key.aliases[0] ?? key.keyId}?`, [
    el('p', {}, changes.length === 0 ? 'Nobody gains or loses any action on this key.' : `${losses} loss${losses === 1 ? '' : 'es'} and ${gains} gain${gains === 1 ? '' : 's'} of access:`),
    ...(changes.length ? [el('ul', { class: 'changes', id: 'confirm-changes' }, ...renderChanges(changes))] : []),
  ], 'Apply policy')
  if (ok) await apply({ policy })
  else status('Not applied.', '', 'policy')
})
$('template').addEventListener('change', async () => {
  const name = $('template').value
  if (!name) return
  const res = await call('POST', `/policy-templates/${enc(name)}`, { parameters: {} })
  if (res.status !== 200) return failed(res.body, 'render the template')
  setPolicy(res.body.policy)
  forceLinting(editor)
})

// ---- who can do what
async function loadMatrix() {
  const res = await call('GET', keyPath('/access'))
  if (res.status !== 200) {
    failed(res.body, 'work out who can do what')
    return
  }
  matrix = res.body
}

async function loadAccess() {
  if (!matrix) await loadMatrix()
  if (!matrix) return
  renderMatrix(matrix)
  $('cell-detail').textContent = ''
  $('sod').replaceChildren(...matrix.findings.map((f) => el('li', { class: 'security_warning' }, `${f.code}: ${f.message}`)))
}
wireMatrix()
for (const id of ['filter-principal', 'filter-action']) $(id).addEventListener('input', () => matrix && renderMatrix(matrix))

$('simulate-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  let encryptionContext
  try {
    encryptionContext = parsePairs($('sim-context').value)
  } catch (err) {
    return status(`Encryption context: ${err.message}; write one key=value per line.`, 'error')
  }
  const context = {}
  if ($('sim-via').value === 's3') context['kms:ViaService'] = `s3.${key.arn.split(':')[3]}.amazonaws.com`
  if ($('sim-vpce').value.trim()) context['aws:SourceVpce'] = $('sim-vpce').value.trim()
  const res = await call('POST', '/policies/simulate', {
    key: key.keyId, principal: $('sim-principal').value.trim(), action: $('sim-action').value.trim(),
    ...(Object.keys(encryptionContext).length ? { encryptionContext } : {}), ...(Object.keys(context).length ? { context } : {}),
  })
  if (res.status !== 200) return failed(res.body, 'simulate')
  $('sim-result').textContent = `${res.body.decision}${res.body.deniedBy ? ` (${res.body.deniedBy})` : ''}\n${res.body.explanation.join('\n')}`
})

// ---- tags
function renderTags() {
  const entries = Object.entries(key.tags ?? {})
  $('tags').replaceChildren(...entries.map(([k, v]) => el('tr', {},
    el('td', {}, k), el('td', {}, v || el('span', { class: 'empty' }, '(empty)')),
    el('td', {}, key.manager === 'AWS'
      ? ''
      : [
          el('button', { type: 'button', class: 'kms-secondary', onclick: () => { $('tag-key').value = k; $('tag-value').value = v; $('tag-value').focus() } }, 'Edit'), ' ',
          el('button', { type: 'button', class: 'kms-secondary', onclick: () => removeTag(k) }, 'Remove…'),
        ]))))
  $('tags-empty').hidden = entries.length > 0
}
async function removeTag(tagKey) {
  if (!(await confirmDialog(`Remove the tag ${tagKey}?`, 'Policies and cost reports that select keys by this tag stop matching this key.', 'Remove tag'))) return
  await report(await call('DELETE', `${keyPath('/tags')}?keys=${enc(tagKey)}`), 'remove the tag', async (body) => {
    key.tags = body.tags
    status(`Removed the tag ${tagKey}.`, 'ok')
    renderTags()
  })
}
$('tag-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const tagKey = $('tag-key').value.trim()
  await report(await call('PUT', keyPath('/tags'), { tags: { [tagKey]: $('tag-value').value } }), 'tag the key', async (body) => {
    key.tags = body.tags
    status(`Tagged ${tagKey}.`, 'ok')
    $('tag-form').reset()
    renderTags()
  })
})

// ---- aliases
function renderAliases() {
  const targets = customerKeys.filter((k) => k.keyId !== key.keyId)
  $('aliases').replaceChildren(...key.aliases.map((name) => {
    const select = el('select', { 'aria-label': `Move ${name} to`, 'disabled': targets.length === 0 }, ...targets.map((k) => el('option', { value: k.keyId }, `${k.aliases[0] ?? '(no alias)'} — ${k.keyId.slice(0, 8)}…`)))
    const aws = key.manager === 'AWS' || name.startsWith('alias/aws/')
    return el('tr', {},
      el('td', {}, el('code', {}, name)),
      el('td', {}, aws ? '—' : [select, ' ', el('button', { type: 'button', class: 'kms-secondary', disabled: targets.length === 0, onclick: () => moveAlias({ name, target: select.value }) }, 'Move…')]),
      el('td', {}, aws ? '' : el('button', { type: 'button', class: 'kms-danger', onclick: () => deleteAlias({ name }) }, 'Delete…')))
  }))
  $('aliases-empty').hidden = key.aliases.length > 0
}
async function moveAliasNow(payload, afterStepUp = false) {
  const res = await sensitive('move-alias', payload, (h) => call('PUT', `/aliases/${enc(payload.name)}`, { key: payload.target }, h), afterStepUp)
  await report(res, `move ${payload.name}`, async () => { status(`${payload.name} now names key ${payload.target}.`, 'ok'); await refreshKey(); renderAliases() })
}
resumers['move-alias'] = moveAliasNow
async function moveAlias(payload) {
  const target = customerKeys.find((k) => k.keyId === payload.target)
  const ok = await confirmDialog(`Move ${payload.name} to another key?`, `Whatever encrypts with ${payload.name} uses ${target?.aliases[0] ?? payload.target} from now on; data already encrypted stays under this key.`, 'Move alias')
  if (ok) await moveAliasNow(payload)
}
async function deleteAliasNow(payload, afterStepUp = false) {
  const res = await sensitive('delete-alias', payload, (h) => call('DELETE', `/aliases/${enc(payload.name)}`, undefined, h), afterStepUp)
  await report(res, `delete ${payload.name}`, async () => { status(`Deleted ${payload.name}.`, 'ok'); await refreshKey(); renderAliases() })
}
resumers['delete-alias'] = deleteAliasNow
async function deleteAlias(payload) {
  const ok = await confirmDialog(`Delete ${payload.name}?`, `Services and scripts that name ${payload.name} (KMS_KEY_ID, --key-id) fail until it exists again. The key itself stays.`, 'Delete alias')
  if (ok) await deleteAliasNow(payload)
}
$('alias-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const name = $('alias-name').value.trim()
  await report(await call('POST', '/aliases', { name, key: key.keyId }), 'create the alias', async (body) => {
    status(`Created ${body.name}.`, 'ok')
    $('alias-form').reset()
    await refreshKey()
    renderAliases()
  })
})

// ---- rotation
async function loadRotation() {
  const res = await call('GET', keyPath('/rotation'))
  if (res.status !== 200) return failed(res.body, 'read the rotation')
  renderRotation(res.body)
}
function renderRotation(r) {
  $('rotation-status').textContent = r.supported
    ? (r.enabled ? `Rotates automatically every ${r.periodInDays ?? 365} days; next on ${formatDate(r.nextRotationDate) || 'a date KMS sets'}.` : 'Automatic rotation is off.')
    : 'KMS does not rotate this key automatically (imported key material, or not a symmetric KMS key): import new material to replace it.'
  $('rotation-enabled').checked = r.enabled
  if (r.periodInDays) $('rotation-period').value = String(r.periodInDays)
  $('rotation-form').hidden = !r.supported || key.manager === 'AWS'
  $('rotations').replaceChildren(...r.rotations.map((x) => el('tr', {}, el('td', {}, dateCell(x.date)), el('td', {}, x.type === 'ON_DEMAND' ? 'on demand' : 'automatic'))))
  $('rotations-empty').hidden = r.rotations.length > 0
}
$('rotation-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const enabled = $('rotation-enabled').checked
  const period = Number($('rotation-period').value)
  if (enabled && (!Number.isInteger(period) || period < 90 || period > 2560)) {
    status('The rotation period is 90 to 2,560 days.', 'error')
    return $('rotation-period').focus()
  }
  await report(await call('PUT', keyPath('/rotation'), enabled ? { enabled, periodInDays: period } : { enabled }), 'change the rotation', (body) => {
    status(enabled ? `Automatic rotation on, every ${body.periodInDays ?? period} days.` : 'Automatic rotation off.', 'ok')
    renderRotation(body)
  })
})
$('rotate-now').addEventListener('click', async () => {
  await report(await call('POST', keyPath('/rotations')), 'rotate the key', (body) => { status('Rotated: new material encrypts from now on; older material still decrypts.', 'ok'); renderRotation(body) })
})

// ---- imported key material
function renderMaterial() {
  const expiry = key.expirationModel === 'KEY_MATERIAL_EXPIRES' ? `expires ${formatDate(key.validTo)}` : 'does not expire'
  $('material-status').textContent = key.state === 'PendingImport' ? 'No key material: import some to use the key.' : `Key material imported; it ${expiry}.`
  $('delete-material').hidden = key.state === 'PendingImport'
}
$('import-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const body = {}
  if ($('import-material').value.trim()) body.material = $('import-material').value.trim()
  if ($('import-expires').value) body.validTo = new Date($('import-expires').value).toISOString()
  // The material leaves the form as soon as it is sent.
  $('import-material').value = ''
  await report(await call('POST', keyPath('/import'), body), 'import the key material', async (out) => {
    status(`Imported: the key is ${out.state}. ${out.note}`, 'ok')
    await refreshKey()
    renderMaterial()
  })
})
async function deleteMaterial(_payload, afterStepUp = false) {
  const res = await sensitive('delete-material', {}, (h) => call('DELETE', keyPath('/material'), undefined, h), afterStepUp)
  await report(res, 'delete the key material', async () => { status('Key material deleted: the key is PendingImport until the same material is imported again.', 'ok'); await refreshKey(); renderMaterial() })
}
resumers['delete-material'] = deleteMaterial
$('delete-material').addEventListener('click', async () => {
  const report = await loadImpact()
  const ok = await confirmDialog(`Delete the key material of ${key.aliases[0] ?? key.keyId}?`, [
    report ? report.sentences.disable.replace(/^Disabling this key/, 'Deleting its material').replace('until it is enabled again', 'until the same material is imported again') : 'Everything under this key becomes unreadable until the same material is imported again.',
    'Only the same material brings the key back: make sure you hold a copy.',
  ], 'Delete key material')
  if (ok) await deleteMaterial()
})

// ---- grants
async function loadGrants() {
  const res = await call('GET', keyPath('/grants'))
  if (res.status !== 200) return failed(res.body, 'list the grants')
  const grants = res.body.grants
  $('grants').replaceChildren(...grants.map((g) => el('tr', {},
    el('td', {}, el('code', { title: g.grantId }, `${g.grantId.slice(0, 12)}…`), g.name ? [el('br'), g.name] : ''),
    el('td', { title: g.granteePrincipal }, principalName(g.granteePrincipal)),
    el('td', {}, g.operations.join(', ')),
    el('td', {}, g.condition ?? '—'),
    el('td', {}, g.retiringPrincipal ? principalName(g.retiringPrincipal) : '—'),
    el('td', {}, dateCell(g.creationDate)),
    el('td', {}, key.manager === 'AWS'
      ? ''
      : [
          el('button', { type: 'button', class: 'kms-secondary', onclick: () => endGrant(g, 'retire') }, 'Retire…'), ' ',
          el('button', { type: 'button', class: 'kms-danger', onclick: () => endGrant(g, 'revoke') }, 'Revoke…'),
        ]))))
  $('grants-empty').hidden = grants.length > 0
}
async function endGrant(g, how) {
  const ok = await confirmDialog(`${how === 'retire' ? 'Retire' : 'Revoke'} the grant ${g.name ?? g.grantId}?`, `${principalName(g.granteePrincipal)} loses ${g.operations.join(', ')} through this grant.`, how === 'retire' ? 'Retire grant' : 'Revoke grant')
  if (!ok) return
  const res = how === 'retire' ? await call('POST', keyPath(`/grants/${enc(g.grantId)}/retire`)) : await call('DELETE', keyPath(`/grants/${enc(g.grantId)}`))
  await report(res, `${how} the grant`, async () => { status(`${how === 'retire' ? 'Retired' : 'Revoked'} the grant ${g.name ?? g.grantId}.`, 'ok'); matrix = null; await loadGrants() })
}
async function createGrant(payload, afterStepUp = false) {
  const res = await sensitive('grant', payload, (h) => call('POST', keyPath('/grants'), payload, h), afterStepUp)
  await report(res, 'create the grant', async (body) => {
    const denied = body.deniedByKeyPolicy?.length ? ` The key policy denies ${body.deniedByKeyPolicy.join(', ')} to the grantee anyway.` : ''
    status(`Created grant ${body.grantId}.${denied}`, 'ok')
    $('grant-form').reset()
    matrix = null
    await loadGrants()
  })
}
resumers.grant = createGrant
$('grant-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const operations = [...document.querySelectorAll('input[name="grant-op"]:checked')].map((i) => i.value)
  if (operations.length === 0) return status('Choose at least one operation for the grant.', 'error')
  let context
  try {
    context = parsePairs($('grant-context').value)
  } catch (err) {
    return status(`Grant constraint: ${err.message}; write one key=value per line.`, 'error')
  }
  const constraint = $('grant-constraint').value
  if (constraint && Object.keys(context).length === 0) return status('A constraint needs at least one key=value pair.', 'error')
  const payload = {
    granteePrincipal: $('grant-grantee').value.trim(), operations,
    ...($('grant-retiring').value.trim() ? { retiringPrincipal: $('grant-retiring').value.trim() } : {}),
    ...($('grant-name').value.trim() ? { name: $('grant-name').value.trim() } : {}),
    ...(constraint ? { constraints: constraint === 'equals' ? { encryptionContextEquals: context } : { encryptionContextSubset: context } } : {}),
  }
  await createGrant(payload)
})

// ---- audit: the verdicts of the objects under this key (audit:read)
let auditCursor = null
async function loadAudit(more) {
  if (!more) auditCursor = null
  const res = await call('GET', `${keyPath('/objects')}?limit=50${more && auditCursor ? `&cursor=${auditCursor}` : ''}`)
  if (res.status !== 200) {
    $('audit-summary').textContent = problemText(res.body, 'read the audit verdicts')
    $('audit').replaceChildren()
    $('audit-more').hidden = true
    return
  }
  auditCursor = res.body.nextCursor
  const rows = res.body.items.map((o) => el('tr', {},
    el('td', {}, el('a', { href: `/audit/objects/${o.key.split('/').map(enc).join('/')}` }, o.key)),
    el('td', { class: 'num' }, formatBytes(o.size)),
    el('td', { class: o.verdict === 'VERIFIED' ? 'ok' : 'error', title: o.reasons.join('; ') }, o.verdict),
    el('td', {}, dateCell(o.verdictAt))))
  if (more) $('audit').append(...rows)
  else $('audit').replaceChildren(...rows)
  $('audit-more').hidden = !auditCursor
  $('audit-summary').textContent = rows.length === 0 && !more ? 'No audited object is under this key.' : 'Objects under this key in the bucket, newest verdict first.'
}
$('audit-more').addEventListener('click', () => loadAudit(true))

loadKeys().then(() => {
  onHash()
  return resumePending()
})
