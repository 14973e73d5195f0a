// Listing, health, OpenAPI, the page, configuration and the error catalogue.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { catalogueCodes } from '@kms-share/shared'
import { UploadErrors } from '../src/errors.js'
import { loadUploadConfig } from '../src/config.js'
import { escapeHtml, renderPage } from '../src/routes/page.js'
import { startTestLab, startUpload } from './helpers.js'

t.test('listing, health, readiness, OpenAPI and the page against a lab', async (t) => {
  const lab = await startTestLab(t)
  const { url } = await startUpload(t, lab, 'uploader', { DOWNLOAD_PUBLIC_URL: 'http://downloads.example:3002' })
  for (const name of ['a.txt', 'b/c.txt', 'd.txt']) {
    t.equal((await fetch(`${url}/files/${name}`, { method: 'PUT', body: name })).status, 201)
  }
  const first: any = await (await fetch(`${url}/files?limit=2`)).json()
  t.equal(first.items.length, 2)
  t.match(first.items[0], { key: 'a.txt', size: 5, lastModified: /^\d{4}-\d\d-\d\dT/ })
  t.type(first.nextCursor, 'string')
  const second: any = await (await fetch(`${url}/files?limit=2&cursor=${encodeURIComponent(first.nextCursor)}`)).json()
  t.same(second.items.map((i: { key: string }) => i.key), ['d.txt'])
  t.equal(second.nextCursor, null)
  const bad = await fetch(`${url}/files?limit=0`)
  t.equal(bad.status, 400)
  t.match(await bad.json(), { code: 'SHR_VALIDATION' })

  t.same(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' })
  t.same(await (await fetch(`${url}/readyz`)).json(), { status: 'ready', checks: { s3: 'ok' } })

  const docs: any = await (await fetch(`${url}/docs/json`)).json()
  t.match(docs.openapi, /^3\./)
  t.ok(docs.paths['/files/{*}'] ?? docs.paths['/files/*'], 'PUT route documented')
  t.ok(docs.paths['/files'].post && docs.paths['/files'].get)
  t.ok(docs.paths['/files'].post.responses['409'], 'error statuses documented')

  const page = await fetch(`${url}/`)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /^text\/html/)
  t.match(page.headers.get('content-security-policy'), /script-src 'self'/)
  const html = await page.text()
  t.match(html, /data-download-url="http:\/\/downloads\.example:3002"/)
  t.match(html, /<script src="\/app\.js" defer><\/script>/)
  const js = await fetch(`${url}/app.js`)
  t.match(js.headers.get('content-type'), /^text\/javascript/)
  const script = await js.text()
  t.match(script, /xhr\.upload\.onprogress/)
  t.notMatch(script, /innerHTML/, 'names reach the DOM as text only')
})

t.test('the upload service against a lab that is gone: readyz 503, uploads 502', async (t) => {
  const lab = await startTestLab(t)
  const { url } = await startUpload(t, lab, 'uploader')
  await lab.close()
  const ready = await fetch(`${url}/readyz`)
  t.equal(ready.status, 503)
  t.match(await ready.json(), { code: 'SHR_UNAVAILABLE' })
  const put = await fetch(`${url}/files/x.txt`, { method: 'PUT', body: 'x' })
  t.equal(put.status, 502)
  const problem: any = await put.json()
  t.match(problem, { code: 'SHR_AWS_UNAVAILABLE' })
  t.notMatch(JSON.stringify(problem), /ECONNREFUSED|127\.0\.0\.1:\d+/, 'no internals')
})

t.test('page escapes what it prints', async (t) => {
  const html = renderPage({ BUCKET: 'b<script>', DOWNLOAD_PUBLIC_URL: 'http://x/"><script>alert(1)</script>' })
  t.notMatch(html, /<script>alert/)
  t.notMatch(html, /b<script>/)
  t.equal(escapeHtml(`<a href="x" onclick='y'>&</a>`), '&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#60;/a&#62;')
})

t.test('configuration', async (t) => {
  const c = loadUploadConfig({ BUCKET: 'kmsworkshop-111122223333', KMS_KEY_ID: 'alias/ImportedCMK' })
  t.match(c, { HOST: '127.0.0.1', PORT: 3001, BUCKET_KEY: false, DOWNLOAD_PUBLIC_URL: 'http://127.0.0.1:3002' })
  t.equal(loadUploadConfig({ BUCKET: 'bkt', KMS_KEY_ID: 'k', BUCKET_KEY: 'true' }).BUCKET_KEY, true)
  t.throws(() => loadUploadConfig({ BUCKET: 'bkt' }), /KMS_KEY_ID/)
  t.throws(() => loadUploadConfig({ BUCKET: 'bkt', KMS_KEY_ID: 'k', MAX_UPLOAD_BYTES: '-1' }), /MAX_UPLOAD_BYTES/)
})

t.test('bucket keys: BUCKET_KEY=true is what S3 reports back', async (t) => {
  const lab = await startTestLab(t)
  const { url } = await startUpload(t, lab, 'uploader', { BUCKET_KEY: 'true' })
  const r: any = await (await fetch(`${url}/files/bk.txt`, { method: 'PUT', body: 'bucket key' })).json()
  t.match(r, { bucketKeyEnabled: true, sseAlgorithm: 'aws:kms' })
})

t.test('UPL_ codes are unique, prefixed and documented in the README', async (t) => {
  const codes = catalogueCodes(UploadErrors)
  t.equal(new Set(codes).size, codes.length)
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const code of codes) {
    t.match(code, /^UPL_[A-Z0-9_]+$/)
    t.ok(readme.includes(`| \`${code}\` |`), `${code} documented`)
  }
})
