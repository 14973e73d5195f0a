// GET /: the keyadmin page — keys, the access matrix and a key policy editor (CodeMirror with its
// lint gutter, bundled at build time into dist/page/editor.js) with validate, simulate, diff, apply.
import { readFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { FRAME_CSS_PATH } from '@kms-share/shared'
import { POLICY_TEMPLATES } from '@kms-share/policy'
import { PAGE_BUNDLE } from '../page/bundle.js'

// CodeMirror injects its styles at run time, hence style-src 'unsafe-inline'; scripts only from here.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const STYLE = `
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;font-size:.85rem;vertical-align:top}
thead th{background:#f4f4f6}td.num{text-align:right}code{font-size:.8rem}
#editor{border:1px solid #ccc;min-height:12rem}#editor .cm-editor{max-height:32rem}
td.always{background:#e7f6e7}td.conditional{background:#fff6d6}td.never{color:#aaa}
li.error{color:#b00020}li.security_warning,li.warning{color:#a15c00}li.ok,.ok{color:#1b7a1b}.error{color:#b00020}
pre{background:#f7f7f9;padding:.6rem;overflow:auto;font-size:.8rem}button{margin-right:.4rem}
.row{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}`

/** The page; `mfa`: keyadmin acts through the MFA user (X-MFA-Code), so the MFA box is shown. */
function page(mfa: boolean): string {
  const templates = POLICY_TEMPLATES.map((t) => `<option value="${t.name}">${t.name}</option>`).join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kms-share keyadmin</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="${FRAME_CSS_PATH}"><style>${STYLE}</style></head>
<body>
<!--frame-header-->
<main id="main">
<h1>Key administration</h1>
<p>Runs as the key administrator role: it manages keys and never uses them. <a href="/pages/network">Network, VPC endpoints and imported key material</a></p>
<h2>Keys</h2>
<table><thead><tr><th>key</th><th>aliases</th><th>state</th><th>origin</th><th>rotation</th><th>tags</th><th></th></tr></thead><tbody id="keys"></tbody></table>
<h2>Key policy of <code id="selected">(select a key)</code> <small id="tags"></small></h2>
<div class="row"><label>Template <select id="template"><option value="">—</option>${templates}</select></label>
<button type="button" id="validate">Validate</button><button type="button" id="dry-run">Dry run (diff)</button>
${mfa ? '<label>MFA code <input id="mfa" size="7" inputmode="numeric" autocomplete="one-time-code"></label>' : ''}<button type="button" id="apply">Apply</button></div>
<div id="editor"></div>
<p id="status" role="status"></p>
<ul id="findings"></ul>
<pre id="diff"></pre>
<h2>Simulate</h2>
<div class="row"><input id="sim-principal" size="60" value="arn:aws:iam::111122223333:role/kms-share-uploader" aria-label="principal">
<input id="sim-action" size="24" value="kms:Decrypt" aria-label="action"><button type="button" id="simulate">Simulate</button></div>
<pre id="sim-result"></pre>
<h2>Who can do what</h2>
<table id="access"></table>
<h2>Audit</h2>
<p id="audit-summary"></p>
<table><thead><tr><th>object (its audit, with readers)</th><th>verdict</th><th>encryption context of its GenerateDataKey</th><th>verdict at</th></tr></thead><tbody id="audit"></tbody></table>
<ul id="sod"></ul>
<script src="/auth/session.js"></script>
<script src="/page/editor.js"></script>
</main>
</body></html>`
}

export async function pageRoutes(app: FastifyInstance) {
  const html = page(app.mfa.enabled)
  app.get('/', {
    schema: { summary: 'The keyadmin page.', tags: ['page'], response: { 200: Type.String({ description: 'text/html' }) } },
  }, async (request, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-store')
    .send(html.replace('<!--frame-header-->', app.frame.header(request, reply))))

  app.get('/page/editor.js', {
    schema: { hide: true, response: { 200: Type.String() } },
  }, async (request, reply) => {
    let script: string
    try {
      script = await readFile(PAGE_BUNDLE, 'utf8')
    } catch {
      request.log.error({ bundle: PAGE_BUNDLE }, 'the page bundle is missing: run pnpm build')
      throw new Error('page bundle missing')
    }
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(script)
  })
}
