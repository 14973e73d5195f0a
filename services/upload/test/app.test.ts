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
  const { url, api } = await startUpload(t, lab, 'uploader', { DOWNLOAD_PUBLIC_URL: 'http://downloads.example:3002' })
  for (const name of ['a.txt', 'b/c.txt', 'd.txt']) {
    t.equal((await api(`/files/${name}`, { method: 'PUT', body: name })).status, 201)
  }
  const first: any = await (await api('/files?limit=2')).json()
  t.equal(first.items.length, 2)
  t.match(first.items[0], { key: 'a.txt', size: 5, lastModified: /^\d{4}-\d\d-\d\dT/ })
  t.type(first.nextCursor, 'string')
  const second: any = await (await api(`/files?limit=2&cursor=${encodeURIComponent(first.nextCursor)}`)).json()
  t.same(second.items.map((i: { key: string }) => i.key), ['d.txt'])
  t.equal(second.nextCursor, null)
  const bad = await api('/files?limit=0')
  t.equal(bad.status, 400)
  t.match(await bad.json(), { code: 'SHR_VALIDATION' })

  t.same(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' })
  t.same(await (await fetch(`${url}/readyz`)).json(), { status: 'ready', checks: { s3: 'ok' } })

  // Folders, sorting, search by prefix and cursors: the API the page uses (ListObjectsV2 with a delimiter).
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html (CommonPrefixes, ContinuationToken)
  for (const [name, body] of [['b/big.bin', 'x'.repeat(300)], ['b/d/e.txt', 'e'], ['b/a.txt', 'aa']]) {
    t.equal((await api(`/files/${name}`, { method: 'PUT', body })).status, 201)
  }
  const top: any = await (await api('/files?delimiter=/')).json()
  t.same(top.folders, [{ prefix: 'b/' }], 'one folder at the top')
  t.same(top.items.map((i: any) => i.key), ['a.txt', 'd.txt'])
  t.match(top.items[0], { etag: /^"[0-9a-f]{32}"$/ })
  const inB: any = await (await api('/files?delimiter=/&prefix=b/')).json()
  t.same(inB.folders, [{ prefix: 'b/d/' }])
  t.same(inB.items.map((i: any) => i.key), ['b/a.txt', 'b/big.bin', 'b/c.txt'])
  const bySize: any = await (await api('/files?delimiter=/&prefix=b/&sort=size&order=desc&limit=2')).json()
  t.same([bySize.folders, bySize.items.map((i: any) => i.key)], [[{ prefix: 'b/d/' }], ['b/big.bin']], 'folders first, then the largest')
  t.match(bySize, { sort: 'size', order: 'desc', scanned: { objects: 3, complete: true }, nextCursor: /^s\./ })
  const bySize2: any = await (await api(`/files?delimiter=/&prefix=b/&sort=size&order=desc&limit=2&cursor=${encodeURIComponent(bySize.nextCursor)}`)).json()
  t.same(bySize2.items.map((i: any) => i.key), ['b/c.txt', 'b/a.txt'])
  t.equal(bySize2.nextCursor, null)
  const byNameDesc: any = await (await api('/files?prefix=b/&sort=name&order=desc')).json()
  t.same(byNameDesc.items.map((i: any) => i.key), ['b/d/e.txt', 'b/c.txt', 'b/big.bin', 'b/a.txt'], 'without a delimiter every name under the prefix')
  const search: any = await (await api('/files?delimiter=/&prefix=b/b')).json()
  t.same(search.items.map((i: any) => i.key), ['b/big.bin'], 'search: names starting with')
  const wrongCursor = await api(`/files?sort=size&cursor=${encodeURIComponent(first.nextCursor)}`)
  t.equal(wrongCursor.status, 400)
  t.match(await wrongCursor.json(), { code: 'SHR_BAD_CURSOR' })

  const docs: any = await (await api('/docs/json')).json()
  t.match(docs.openapi, /^3\./)
  t.ok(docs.paths['/files/{*}'] ?? docs.paths['/files/*'], 'PUT route documented')
  t.ok(docs.paths['/files'].post && docs.paths['/files'].get)
  t.ok(docs.paths['/files'].post.responses['409'], 'error statuses documented')

  const page = await api('/')
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /^text\/html/)
  t.match(page.headers.get('content-security-policy'), /script-src 'self'/)
  const html = await page.text()
  t.match(html, /data-link="http:\/\/downloads\.example:3002\/files\/"/, 'names link to the download service')
  t.match(html, /<script src="\/auth\/assets\/objects\.js" defer><\/script>\n<script src="\/app\.js" defer><\/script>/)
  const js = await api('/app.js')
  t.match(js.headers.get('content-type'), /^text\/javascript/)
  const script = await js.text()
  t.match(script, /xhr\.upload\.onprogress/)
  t.notMatch(script, /innerHTML/, 'names reach the DOM as text only')
})

t.test('the upload service against a lab that is gone: readyz 503, uploads 502', async (t) => {
  const lab = await startTestLab(t)
  const { url, api } = await startUpload(t, lab, 'uploader')
  await lab.close()
  const ready = await fetch(`${url}/readyz`)
  t.equal(ready.status, 503)
  t.match(await ready.json(), { code: 'SHR_UNAVAILABLE' })
  const put = await api('/files/x.txt', { method: 'PUT', body: 'x' })
  t.equal(put.status, 502)
  const problem: any = await put.json()
  t.match(problem, { code: 'SHR_AWS_UNAVAILABLE' })
  t.notMatch(JSON.stringify(problem), /ECONNREFUSED|127\.0\.0\.1:\d+/, 'no internals')
})

t.test('page escapes what it prints', async (t) => {
  const html = renderPage({ BUCKET: 'b<script>', DOWNLOAD_PUBLIC_URL: 'http://x/"><script>alert(1)</script>', KMS_KEY_ID: 'alias/<b>' }, { download: 'http://x/"><script>alert(2)</script>/', keyadmin: 'http://k/' })
  t.notMatch(html, /<script>alert/)
  t.notMatch(html, /b<script>/)
  t.notMatch(html, /alias\/<b>/)
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
  const { api } = await startUpload(t, lab, 'uploader', { BUCKET_KEY: 'true' })
  const r: any = await (await api('/files/bk.txt', { method: 'PUT', body: 'bucket key' })).json()
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
