// GET /: the keyadmin console — customer and AWS managed keys, and for one key its general settings,
// key policy (CodeMirror with its lint gutter, the access diff before Apply), who can do what, tags,
// aliases, rotation, imported key material, grants, deletion with an impact report, and the audit's
// verdicts. The script and the styles are files bundled at build time into dist/page/ (CSP: nothing inline);
// the page calls only the documented JSON routes.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { POLICY_TEMPLATES } from '@kms-share/policy'
import { PAGE_BUNDLE, PAGE_STYLES } from '../page/bundle.js'

/** keyadmin's own style sheet and scripts, after the frame's. */
export const KEYADMIN_STYLES = '/page/keyadmin.css'

/** The sub-navigation between keyadmin's two pages. */
export function keyadminNav(current: 'keys' | 'network'): string {
  const link = (page: 'keys' | 'network', href: string, text: string) => `<a href="${href}"${page === current ? ' aria-current="page"' : ''}>${text}</a>`
  return `<nav class="ka-subnav" aria-label="Key administration">${link('keys', '/', 'Keys')} ${link('network', '/pages/network', 'Network and VPC endpoints')}</nav>`
}

const OPERATIONS = ['Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'DescribeKey', 'CreateGrant', 'RetireGrant']

const tab = (id: string, label: string, selected = false, panel = `panel-${id}`) =>
  `<button type="button" role="tab" id="tab-${id}" aria-controls="${panel}" aria-selected="${selected}" tabindex="${selected ? 0 : -1}">${label}</button>`

/** The page; `mfa`: keyadmin acts through the MFA user (X-MFA-Code), so the MFA box is shown. */
function page(mfa: boolean): string {
  const templates = POLICY_TEMPLATES.map((t) => `<option value="${t.name}">${t.name}</option>`).join('')
  const operations = OPERATIONS.map((o) => `<label class="check"><input type="checkbox" name="grant-op" value="${o}"${o === 'Decrypt' ? ' checked' : ''}> ${o}</label>`).join('')
  return `${keyadminNav('keys')}
<h1>Key administration</h1>
<p class="kms-lead">Runs as the key administrator role: it manages keys and never uses them.</p>
${mfa ? '<p class="ka-mfa"><label for="mfa">MFA code for sensitive changes</label> <input type="text" id="mfa" size="7" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" aria-describedby="mfa-help"> <span id="mfa-help" class="hint">each code works once</span></p>' : ''}
<div id="status"></div>

<section id="key-list" aria-labelledby="keys-heading">
<h2 id="keys-heading">Keys</h2>
<div class="tabs" role="tablist" aria-label="Key lists">${tab('customer', 'Customer managed keys', true, 'keys-panel')}${tab('aws', 'AWS managed keys', false, 'keys-panel')}</div>
<div class="row"><label for="key-search">Search</label> <input type="search" id="key-search" placeholder="alias, id, description or tag">
<button type="button" id="new-key" aria-expanded="false" aria-controls="create-key-form">Create key</button></div>
<form id="create-key-form" class="card" hidden>
<h3>Create a symmetric key</h3>
<div class="row"><label for="create-alias">Alias</label> <input type="text" id="create-alias" placeholder="alias/my-key" autocomplete="off">
<label for="create-description">Description</label> <input type="text" id="create-description" size="30">
<label for="create-origin">Key material</label> <select id="create-origin"><option value="AWS_KMS">KMS generates it</option><option value="EXTERNAL">I import it (EXTERNAL)</option></select></div>
<div class="row"><button type="submit">Create</button> <button class="kms-secondary" type="button" id="create-cancel">Cancel</button></div>
</form>
<div class="table-wrap" id="keys-panel" role="tabpanel" aria-labelledby="tab-customer" tabindex="0"><table class="list"><caption id="keys-caption" class="sr-only">Customer managed keys</caption>
<thead><tr><th scope="col">Aliases</th><th scope="col" class="wide-only">Key id</th><th scope="col">State</th><th scope="col" class="wide-only">Origin</th><th scope="col" class="wide-only">Rotation</th><th scope="col">Created</th></tr></thead>
<tbody id="keys"></tbody></table></div>
<p id="keys-empty" class="empty" hidden></p>
</section>

<section id="key-detail" aria-labelledby="key-title" hidden>
<h2 id="key-title">Key</h2>
<p class="key-state"><span id="key-state-badge" class="badge"></span> <code id="key-arn" class="arn"></code></p>
<div class="tabs" role="tablist" aria-label="Key details">
${tab('general', 'General', true)}${tab('policy', 'Key policy')}${tab('access', 'Who can do what')}${tab('tags', 'Tags')}${tab('aliases', 'Aliases')}${tab('rotation', 'Rotation')}${tab('material', 'Key material')}${tab('grants', 'Grants')}${tab('audit', 'Audit')}
</div>

<div class="panel" role="tabpanel" id="panel-general" aria-labelledby="tab-general" tabindex="0">
<dl class="kms-facts" id="general-facts"></dl>
<form id="description-form" class="row" data-change><label for="description">Description</label> <input type="text" id="description" size="40" maxlength="8192"> <button class="kms-secondary" type="submit">Save description</button></form>
<h3>State</h3>
<div class="row" id="state-actions"><button class="kms-secondary" type="button" id="enable-key">Enable</button> <button type="button" id="disable-key" class="kms-danger">Disable…</button></div>
<h3>Deletion</h3>
<p id="impact" class="impact">The impact report appears here before any deletion.</p>
<div class="row" id="deletion-schedule"><label for="deletion-days">Waiting period (days, 7–30)</label> <input id="deletion-days" type="number" min="7" max="30" value="30" required>
<button type="button" id="schedule-deletion" class="kms-danger">Schedule deletion…</button></div>
<div class="row" id="deletion-cancel" hidden><button class="kms-secondary" type="button" id="cancel-deletion">Cancel deletion</button></div>
</div>

<div class="panel" role="tabpanel" id="panel-policy" aria-labelledby="tab-policy" tabindex="0" hidden>
<div class="summary" id="policy-summary" aria-live="polite"></div>
<div class="row"><span class="row" data-change><label for="template">Start from a template</label> <select id="template"><option value="">—</option>${templates}</select></span>
<button class="kms-secondary" type="button" id="validate">Validate</button><button class="kms-secondary" type="button" id="dry-run">Dry run (diff and access)</button><button type="button" id="apply" data-change>Apply…</button></div>
<div id="editor" aria-label="Key policy editor"></div>
<h3 class="sr-only">Findings</h3>
<ul id="findings" class="findings" aria-live="polite"></ul>
<div class="dry-run" id="dry-run-result" hidden>
<h3>Who gains and who loses</h3><ul id="access-changes" class="changes"></ul>
<h3>Text diff</h3><pre id="diff" tabindex="0"></pre>
</div>
</div>

<div class="panel" role="tabpanel" id="panel-access" aria-labelledby="tab-access" tabindex="0" hidden>
<div class="row"><label for="filter-principal">Principal</label> <input type="search" id="filter-principal" placeholder="e.g. downloader">
<label for="filter-action">Action</label> <input type="search" id="filter-action" placeholder="e.g. Decrypt"></div>
<p class="legend"><span class="cell always" aria-hidden="true">✔</span> always <span class="cell conditional" aria-hidden="true">◐</span> under conditions (select the cell) <span class="cell never" aria-hidden="true">·</span> never</p>
<div class="table-wrap matrix-wrap" tabindex="0" role="region" aria-label="Who can do what"><table id="access" class="matrix"></table></div>
<p id="cell-detail" class="cell-detail" aria-live="polite"></p>
<ul id="sod" class="findings"></ul>
<h3>Simulate</h3>
<form id="simulate-form" class="grid">
<label for="sim-principal">Principal (role, user or session ARN)</label><input type="text" id="sim-principal" value="arn:aws:iam::111122223333:role/kms-share-uploader" autocomplete="off">
<label for="sim-action">Action</label><input type="text" id="sim-action" value="kms:Decrypt" autocomplete="off">
<label for="sim-context">Encryption context (key=value per line)</label><textarea id="sim-context" rows="2" placeholder="aws:s3:arn=arn:aws:s3:::bucket/object"></textarea>
<label for="sim-via">kms:ViaService</label><select id="sim-via"><option value="">— (called directly)</option><option value="s3">S3 (SSE-KMS)</option></select>
<label for="sim-vpce">aws:SourceVpce</label><input type="text" id="sim-vpce" placeholder="vpce-0123456789abcdef0" autocomplete="off">
<span></span><button class="kms-secondary" type="submit">Simulate</button>
</form>
<pre id="sim-result" tabindex="0" aria-live="polite"></pre>
</div>

<div class="panel" role="tabpanel" id="panel-tags" aria-labelledby="tab-tags" tabindex="0" hidden>
<p class="hint">Up to 50 tags; keys 1–128 characters, values up to 256; letters, digits, spaces and _ . : / = + - @; no <code>aws:</code> prefix.</p>
<div class="table-wrap" tabindex="0" role="region" aria-label="Tags"><table class="list"><thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody id="tags"></tbody></table></div>
<p id="tags-empty" class="empty" hidden>No tags yet. Tags help find and bill keys: add one below.</p>
<form data-change id="tag-form" class="row"><label for="tag-key">Tag key</label> <input type="text" id="tag-key" maxlength="128" required> <label for="tag-value">Value</label> <input type="text" id="tag-value" maxlength="256"> <button class="kms-secondary" type="submit">Add or update tag</button></form>
</div>

<div class="panel" role="tabpanel" id="panel-aliases" aria-labelledby="tab-aliases" tabindex="0" hidden>
<div class="table-wrap" tabindex="0" role="region" aria-label="Aliases"><table class="list"><thead><tr><th scope="col">Alias</th><th scope="col">Move to key</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody id="aliases"></tbody></table></div>
<p id="aliases-empty" class="empty" hidden>This key has no alias. Give it one below: scripts and services name keys by alias.</p>
<form data-change id="alias-form" class="row"><label for="alias-name">New alias</label> <input type="text" id="alias-name" placeholder="alias/my-key" required autocomplete="off"> <button class="kms-secondary" type="submit">Create alias</button></form>
</div>

<div class="panel" role="tabpanel" id="panel-rotation" aria-labelledby="tab-rotation" tabindex="0" hidden>
<p id="rotation-status"></p>
<form id="rotation-form" class="row"><label class="check"><input type="checkbox" id="rotation-enabled"> Rotate automatically</label>
<label for="rotation-period">every (days, 90–2560)</label> <input id="rotation-period" type="number" min="90" max="2560" value="365">
<button class="kms-secondary" type="submit">Save rotation</button> <button class="kms-secondary" type="button" id="rotate-now">Rotate now</button></form>
<h3>Rotations</h3>
<div class="table-wrap" tabindex="0" role="region" aria-label="Rotations"><table class="list"><thead><tr><th scope="col">Date</th><th scope="col">Type</th></tr></thead><tbody id="rotations"></tbody></table></div>
<p id="rotations-empty" class="empty" hidden>No rotations yet.</p>
</div>

<div class="panel" role="tabpanel" id="panel-material" aria-labelledby="tab-material" tabindex="0" hidden>
<p id="material-status"></p>
<form data-change id="import-form" class="grid">
<label for="import-material">Key material (base64, 256 bits; empty: keyadmin generates it and keeps no copy)</label><input type="text" id="import-material" autocomplete="off" spellcheck="false">
<label for="import-expires">Expires (empty: never)</label><input id="import-expires" type="datetime-local">
<span></span><button class="kms-secondary" type="submit">Import key material</button>
</form>
<div class="row"><button type="button" id="delete-material" class="kms-danger">Delete key material…</button></div>
</div>

<div class="panel" role="tabpanel" id="panel-grants" aria-labelledby="tab-grants" tabindex="0" hidden>
<div class="table-wrap" tabindex="0" role="region" aria-label="Grants"><table class="list"><thead><tr><th scope="col">Grant</th><th scope="col">Grantee</th><th scope="col">Operations</th><th scope="col">Constraint</th><th scope="col">Retiring principal</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody id="grants"></tbody></table></div>
<p id="grants-empty" class="empty" hidden>No grants: only the key policy and IAM policies decide who uses this key.</p>
<form data-change id="grant-form" class="card">
<h3>Create a grant</h3>
<div class="grid"><label for="grant-grantee">Grantee principal (ARN)</label><input type="text" id="grant-grantee" required autocomplete="off" placeholder="arn:aws:iam::111122223333:role/…">
<label for="grant-retiring">Retiring principal (optional)</label><input type="text" id="grant-retiring" autocomplete="off">
<label for="grant-name">Name (optional)</label><input type="text" id="grant-name" autocomplete="off">
<label for="grant-constraint">Encryption context constraint</label><select id="grant-constraint"><option value="">none</option><option value="equals">equals</option><option value="subset">includes</option></select>
<label for="grant-context">Context (key=value per line)</label><textarea id="grant-context" rows="2"></textarea></div>
<fieldset class="ops"><legend>Operations</legend>${operations}</fieldset>
<button class="kms-secondary" type="submit">Create grant</button>
</form>
</div>

<div class="panel" role="tabpanel" id="panel-audit" aria-labelledby="tab-audit" tabindex="0" hidden>
<p id="audit-summary"></p>
<div class="table-wrap" tabindex="0" role="region" aria-label="Objects under this key"><table class="list"><thead><tr><th scope="col">Object</th><th scope="col">Size</th><th scope="col">Verdict</th><th scope="col">Verdict at</th></tr></thead><tbody id="audit"></tbody></table></div>
<p><button class="kms-secondary" type="button" id="audit-more" hidden>More objects</button></p>
</div>
</section>`
}

const security = (reply: FastifyReply) => reply.header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache')

async function serveFile(path: string, type: string, request: { log: { error(o: object, m: string): void } }, reply: FastifyReply) {
  let body: string
  try {
    body = await readFile(path, 'utf8')
  } catch {
    request.log.error({ file: path }, 'the page bundle is missing: run pnpm build')
    throw new Error('page bundle missing')
  }
  return security(reply).type(type).send(body)
}

export async function pageRoutes(app: FastifyInstance) {
  const main = page(app.mfa.enabled)
  app.get('/', {
    schema: { summary: 'The keyadmin page.', tags: ['page'], response: { 200: Type.String({ description: 'text/html' }) } },
  }, async (request, reply) => {
    // CodeMirror writes its styles into one <style> element: it carries this response's nonce (EditorView.cspNonce).
    const nonce = randomBytes(16).toString('base64')
    return app.frame.send(request, reply, {
      title: 'Keys', main, scripts: ['/page/editor.js'], styles: [KEYADMIN_STYLES],
      data: { 'style-nonce': nonce, 'mfa': String(app.mfa.enabled) }, csp: { 'style-src': [`'nonce-${nonce}'`] },
    })
  })

  app.get('/page/editor.js', { schema: { hide: true, response: { 200: Type.String() } } }, async (request, reply) => serveFile(PAGE_BUNDLE, 'text/javascript; charset=utf-8', request, reply))
  app.get('/page/keyadmin.css', { schema: { hide: true, response: { 200: Type.String() } } }, async (request, reply) => serveFile(PAGE_STYLES, 'text/css; charset=utf-8', request, reply))
}
