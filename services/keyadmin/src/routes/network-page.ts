// GET /pages/network: a page for the workshop's parts 1, 4 and 5 — the instance's network, KMS VPC
// endpoints (create, state, DNS, the endpoint-only key policy) and importing key material.
// Plain script served from here (CSP script-src 'self'); it calls the JSON routes with the session cookie.
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { WRAPPING_ALGORITHMS } from '../network/wrap.js'
import { KEYADMIN_STYLES, keyadminNav } from './page.js'

function page(): string {
  const algorithms = WRAPPING_ALGORITHMS.map((a) => `<option>${a}</option>`).join('')
  return `${keyadminNav('network')}
<h1>Network, VPC endpoints and imported key material</h1>
<h2>This instance (instance metadata, IMDSv2)</h2>
<div class="table-wrap" tabindex="0" role="region" aria-label="This instance"><table class="list"><tbody id="network"></tbody></table></div>
<h2>DNS</h2>
<p id="dns"></p>
<h2>VPC endpoints</h2>
<div class="row"><label>Service <select id="service"><option>kms</option><option>s3</option></select></label>
<label><input type="checkbox" id="private-dns" checked> private DNS</label>
<label><input type="checkbox" id="wait" checked> wait until available</label>
<button type="button" id="create" class="kms-secondary">Create endpoint</button></div>
<div class="table-wrap" tabindex="0" role="region" aria-label="VPC endpoints"><table class="list"><thead><tr><th scope="col">id</th><th scope="col">service</th><th scope="col">state</th><th scope="col">private DNS</th><th scope="col">endpoint URL</th><th scope="col">DNS names</th><th scope="col"><span class="kms-visually-hidden">Actions</span></th></tr></thead><tbody id="endpoints"></tbody></table></div>
<p id="endpoints-empty" class="empty" hidden>No VPC endpoints in this VPC yet: create one above, and KMS calls from the VPC stay inside it.</p>
<pre id="key-policy"></pre>
<h2>Import key material</h2>
<div class="row"><label>Alias <input type="text" id="new-alias" size="28" value="alias/MyImportedCMK"></label><button type="button" id="create-key" class="kms-secondary">Create EXTERNAL key</button></div>
<div class="row"><label>Key <input type="text" id="import-key" size="40" aria-label="key"></label>
<label>Material (base64, optional) <input type="text" id="material" size="46" autocomplete="off" spellcheck="false"></label>
<label>Wrapping <select id="algorithm">${algorithms}</select></label>
<label>Expires <input id="valid-to" type="datetime-local"></label>
<button type="button" id="import" class="kms-secondary">Import</button></div>
<div id="status"></div>`
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
// Successes as a line, problems as the frame's message: what happened, AWS's sentence, the next step.
function status(message, kind) {
  const line = el('p', { class: 'kms-message ' + (kind === 'error' ? 'kms-error' : 'kms-ok'), role: kind === 'error' ? 'alert' : 'status' }, message)
  $('status').replaceChildren(message ? line : '')
}
function failed(problemBody, doing) { window.kms.showError($('status'), problemBody, 'Could not ' + doing) }
const problem = (p) => window.kms.explain(p).title + ' ' + (p && p.detail ? p.detail : '')
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
  if (r.status !== 200) { failed(r.body, 'list the VPC endpoints'); return }
  $('endpoints-empty').hidden = r.body.endpoints.length > 0
  $('endpoints').replaceChildren(...r.body.endpoints.map((e) => {
    const policy = el('button', { type: 'button', class: 'kms-secondary' }, 'Key policy')
    policy.addEventListener('click', async () => {
      const p = await call('POST', '/vpc-endpoints/' + e.id + '/key-policy')
      if (p.status !== 200) { failed(p.body, 'make the key policy'); return }
      const warn = p.body.workshopVersion.findings.map((f) => '// workshop version: ' + f.code + ' — ' + f.message).join('\n')
      $('key-policy').textContent = p.body.policy + '\n' + warn + '\n// Apply on the keys page (PUT /keys/:key/policy).'
    })
    const remove = el('button', { type: 'button', class: 'kms-danger' }, 'Delete…')
    remove.addEventListener('click', async () => {
      const ok = await window.kms.confirm({ title: 'Delete the VPC endpoint ' + e.id + '?', message: 'Clients that reach ' + e.service.toUpperCase() + ' through it (its DNS names, ' + e.endpointUrl + ', and private DNS inside the VPC) fail, and key policies that require aws:SourceVpce ' + e.id + ' then refuse every request.', confirmLabel: 'Delete endpoint' })
      if (!ok) return
      const d = await call('DELETE', '/vpc-endpoints/' + e.id)
      if (d.status !== 204) failed(d.body, 'delete ' + e.id); else status('Deleted ' + e.id + '.', 'ok')
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
  if (r.status !== 201) { failed(r.body, 'create the endpoint'); return }
  status('created ' + r.body.id + ' (' + r.body.state + ') — aws kms list-keys --endpoint-url ' + r.body.endpointUrl, 'ok')
  await refresh()
})
$('create-key').addEventListener('click', async () => {
  const r = await call('POST', '/keys', { origin: 'EXTERNAL', alias: $('new-alias').value })
  if (r.status !== 201) { failed(r.body, 'create the key'); return }
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
  if (r.status !== 200) { failed(r.body, 'import the key material'); return }
  status(r.body.keyId + ': ' + r.body.state + ' (' + r.body.expirationModel + ', ' + r.body.wrappingAlgorithm + ', material ' + r.body.material + '). ' + r.body.note, 'ok')
})
loadNetwork()
refresh()
`

export async function networkPageRoutes(app: FastifyInstance) {
  const main = page()
  app.get('/pages/network', {
    schema: { summary: 'The network, VPC endpoint and key material import page.', tags: ['page'], response: { 200: Type.String({ description: 'text/html' }) } },
  }, async (request, reply) => app.frame.send(request, reply, { title: 'Network and VPC endpoints', main, scripts: ['/pages/network.js'], styles: [KEYADMIN_STYLES] }))

  app.get('/pages/network.js', {
    schema: { hide: true, response: { 200: Type.String() } },
  }, async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(SCRIPT))
}
