// GET /pages/network: a page for the workshop's parts 1, 4 and 5 — the instance's network, KMS VPC
// endpoints (create, state, DNS, the endpoint-only key policy) and importing key material.
// Plain script served from here (CSP script-src 'self'); it calls the JSON routes with the session cookie.
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { WRAPPING_ALGORITHMS } from '../network/wrap.js'

import { PAGE_CSP } from './page.js'

function page(): string {
  const algorithms = WRAPPING_ALGORITHMS.map((a) => `<option>${a}</option>`).join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kms-share keyadmin — network and imported material</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="same-origin">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/page/keyadmin.css"></head>
<body>
<header class="top">
<p class="brand">kms-share · <strong>keyadmin</strong></p>
<nav aria-label="keyadmin pages"><a href="/">Keys</a> <a href="/pages/network" aria-current="page">Network and VPC endpoints</a></nav>
<!--signout-->
</header>
<main id="main">
<h1>Network, VPC endpoints and imported key material</h1>
<h2>This instance (instance metadata, IMDSv2)</h2>
<div class="table-wrap"><table><tbody id="network"></tbody></table></div>
<h2>DNS</h2>
<p id="dns"></p>
<h2>VPC endpoints</h2>
<div class="row"><label>Service <select id="service"><option>kms</option><option>s3</option></select></label>
<label><input type="checkbox" id="private-dns" checked> private DNS</label>
<label><input type="checkbox" id="wait" checked> wait until available</label>
<button type="button" id="create">Create endpoint</button></div>
<div class="table-wrap"><table><thead><tr><th scope="col">id</th><th scope="col">service</th><th scope="col">state</th><th scope="col">private DNS</th><th scope="col">endpoint URL</th><th scope="col">DNS names</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody id="endpoints"></tbody></table></div>
<pre id="key-policy"></pre>
<h2>Import key material</h2>
<div class="row"><label>Alias <input id="new-alias" size="28" value="alias/MyImportedCMK"></label><button type="button" id="create-key">Create EXTERNAL key</button></div>
<div class="row"><label>Key <input id="import-key" size="40" aria-label="key"></label>
<label>Material (base64, optional) <input id="material" size="46" autocomplete="off" spellcheck="false"></label>
<label>Wrapping <select id="algorithm">${algorithms}</select></label>
<label>Expires <input id="valid-to" type="datetime-local"></label>
<button type="button" id="import">Import</button></div>
<p id="status" role="status" aria-live="polite"></p>
</main>
<dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-body">
<h2 id="confirm-title">Are you sure?</h2>
<div id="confirm-body"></div>
<form method="dialog" class="row end"><button value="cancel" id="confirm-cancel">Cancel</button> <button value="ok" id="confirm-ok" class="danger">Confirm</button></form>
</dialog>
<script src="/auth/session.js"></script>
<script src="/pages/network.js"></script>
</body></html>`
}

// The page's script: small enough to need no bundler.
const SCRIPT = String.raw`'use strict'
const $ = (id) => document.getElementById(id)
const enc = encodeURIComponent
const csrf = fetch('/auth/csrf', { headers: { accept: 'application/json' } }).then((r) => (r.ok ? r.json().then((b) => b.token) : null)).catch(() => null)
async function call(method, path, body) {
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') { const token = await csrf; if (token) headers['x-csrf-token'] = token }
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v)
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return node
}
function status(message, kind) { const s = $('status'); s.className = kind || ''; s.textContent = message }
const problem = (p) => (p && p.detail ? p.detail.replace(/\.$/, '') + (p.awsErrorCode ? ' (AWS: ' + p.awsErrorCode + ')' : '') + '.' : 'keyadmin gave no details.')
// Asks before a destructive change; resolves true only for the confirming button (Escape cancels).
function confirmDialog(title, text, label) {
  const dialog = $('confirm')
  $('confirm-title').textContent = title
  $('confirm-body').replaceChildren(el('p', {}, text))
  $('confirm-ok').textContent = label
  dialog.returnValue = 'cancel'
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true })
    dialog.showModal()
    $('confirm-cancel').focus()
  })
}
async function loadNetwork() {
  const r = await call('GET', '/network')
  if (r.status !== 200) { $('network').replaceChildren(el('tr', {}, el('td', { class: 'error' }, problem(r.body)))); return }
  const n = r.body
  const rows = [['instance', n.instanceId], ['zone / region', n.availabilityZone + ' / ' + n.region], ['VPC', n.vpcId + ' (' + n.vpcCidr + ')'],
    ['subnet', n.subnetId + ' (' + n.subnetCidr + ')'], ['security groups', n.securityGroupIds.map((g, i) => g + ' (' + (n.securityGroupNames[i] || '') + ')').join(', ')],
    ['MAC', n.mac], ['subnet read from', n.metadataPaths.subnetId], ['groups read from', n.metadataPaths.securityGroupIds]]
  $('network').replaceChildren(...rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', { 'data-field': k }, el('code', {}, v)))))
}
async function loadDns() {
  const r = await call('GET', '/network/dns')
  $('dns').className = r.status === 200 ? '' : 'error'
  $('dns').textContent = r.status === 200 ? 'DNS support ' + (r.body.enableDnsSupport ? 'on' : 'off') + ', DNS hostnames ' + (r.body.enableDnsHostnames ? 'on' : 'off') + '. ' + r.body.explanation : problem(r.body)
}
async function loadEndpoints() {
  const r = await call('GET', '/vpc-endpoints')
  if (r.status !== 200) { status(problem(r.body), 'error'); return }
  $('endpoints').replaceChildren(...r.body.endpoints.map((e) => {
    const policy = el('button', { type: 'button' }, 'Key policy')
    policy.addEventListener('click', async () => {
      const p = await call('POST', '/vpc-endpoints/' + e.id + '/key-policy')
      if (p.status !== 200) { status(problem(p.body), 'error'); return }
      const warn = p.body.workshopVersion.findings.map((f) => '// workshop version: ' + f.code + ' — ' + f.message).join('\n')
      $('key-policy').textContent = p.body.policy + '\n' + warn + '\n// Apply on the keys page (PUT /keys/:key/policy).'
    })
    const remove = el('button', { type: 'button', class: 'danger' }, 'Delete…')
    remove.addEventListener('click', async () => {
      const ok = await confirmDialog('Delete the VPC endpoint ' + e.id + '?', 'Clients that reach ' + e.service.toUpperCase() + ' through it (its DNS names, ' + e.endpointUrl + ', and private DNS inside the VPC) fail, and key policies that require aws:SourceVpce ' + e.id + ' then refuse every request.', 'Delete endpoint')
      if (!ok) return
      const d = await call('DELETE', '/vpc-endpoints/' + e.id)
      if (d.status !== 204) status(problem(d.body), 'error'); else status('deleted ' + e.id, 'ok')
      await refresh()
    })
    return el('tr', { 'data-id': e.id }, el('td', {}, el('code', {}, e.id)), el('td', {}, e.service), el('td', { class: 'state' }, e.state), el('td', {}, e.privateDnsEnabled ? 'on' : 'off'),
      el('td', {}, el('code', {}, e.endpointUrl)), el('td', {}, el('code', {}, e.dnsNames.join('\n'))), el('td', {}, policy, remove))
  }))
}
async function refresh() { await Promise.all([loadDns(), loadEndpoints()]) }
$('create').addEventListener('click', async () => {
  status('creating…')
  const r = await call('POST', '/vpc-endpoints', { service: $('service').value, privateDns: $('private-dns').checked, wait: $('wait').checked })
  if (r.status !== 201) { status(problem(r.body), 'error'); return }
  status('created ' + r.body.id + ' (' + r.body.state + ') — aws kms list-keys --endpoint-url ' + r.body.endpointUrl, 'ok')
  await refresh()
})
$('create-key').addEventListener('click', async () => {
  const r = await call('POST', '/keys', { origin: 'EXTERNAL', alias: $('new-alias').value })
  if (r.status !== 201) { status(problem(r.body), 'error'); return }
  $('import-key').value = r.body.keyId
  status('created ' + r.body.keyId + ' (' + r.body.state + ')', 'ok')
})
$('import').addEventListener('click', async () => {
  const body = { wrappingAlgorithm: $('algorithm').value }
  if ($('material').value) body.material = $('material').value.trim()
  if ($('valid-to').value) body.validTo = new Date($('valid-to').value).toISOString()
  // The material leaves the form as soon as it is sent.
  $('material').value = ''
  const r = await call('POST', '/keys/' + enc($('import-key').value.trim()) + '/import', body)
  if (r.status !== 200) { status(problem(r.body), 'error'); return }
  status(r.body.keyId + ': ' + r.body.state + ' (' + r.body.expirationModel + ', ' + r.body.wrappingAlgorithm + ', material ' + r.body.material + '). ' + r.body.note, 'ok')
})
loadNetwork()
refresh()
`

export async function networkPageRoutes(app: FastifyInstance) {
  const html = page()
  app.get('/pages/network', {
    schema: { summary: 'The network, VPC endpoint and key material import page.', tags: ['page'], response: { 200: Type.String({ description: 'text/html' }) } },
  }, async (request, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-store')
    .send(html.replace('<!--signout-->', app.auth.signOutHtml(request, reply))))

  app.get('/pages/network.js', {
    schema: { hide: true, response: { 200: Type.String() } },
  }, async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(SCRIPT))
}
