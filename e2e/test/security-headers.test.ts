/// <reference lib="dom" />
// Issue 22, row 14: every page and answer of every service carries the security headers — a
// Content-Security-Policy with frame-ancestors 'none', X-Frame-Options: DENY, X-Content-Type-Options:
// nosniff and a Referrer-Policy — pages, scripts, JSON, problems and 404s alike; and the pages still
// work under them in headless Chromium (no CSP violation), the audit queue dashboard included.
// https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Content-Security-Policy/frame-ancestors
import t from 'tap'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp as buildUploadApp, loadUploadConfig } from '@kms-share/upload'
import { startRedis } from './audit-helpers.js'
import { awsEnv, BUCKET, labDeployment, startDownload, startKeyadminInstance, startTestLab } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const lab = await startTestLab(t)
const redis = await startRedis(t)
const token = generateToken()
const upload = await buildUploadApp(loadUploadConfig({ ...awsEnv(lab, 'uploader'), BUCKET, KMS_KEY_ID: labDeployment(lab).keyArn, PORT: '0', LOG_LEVEL: 'silent', AUTH_TOKENS: formatTokenEntry('t', ['upload'], hashToken(token)) }))
t.teardown(() => upload.close())
await upload.listen({ port: 0, host: '127.0.0.1' })
const uploadUrl = `http://127.0.0.1:${(upload.server.address() as { port: number }).port}`
const download = await startDownload(t, lab, 'downloader', { AUTH_TOKENS: formatTokenEntry('t', ['download', 'cache:admin'], hashToken(token)), LOG_LEVEL: 'warn' })
const keyadmin = await startKeyadminInstance(t, lab, { REDIS_URL: redis.urls.reader, AUDIT_VERIFY_KEY: redis.keys.verifyKey, AUTH_TOKENS: formatTokenEntry('t', ['keys:read', 'keys:admin', 'audit:read'], hashToken(token)) })

const PATHS: Record<string, string[]> = {
  [uploadUrl]: ['/', '/app.js', '/files', '/docs/json', '/auth/login', '/auth/login.js', '/healthz', '/no-such-page', '/files/x?overwrite=maybe'],
  [download.url]: ['/', '/files', '/cache', '/files/no-such-object', '/auth/login', '/healthz', '/no-such-page'],
  [keyadmin.url]: ['/', '/page/editor.js', '/pages/network', '/pages/network.js', '/keys', '/audit/queues', '/auth/login', '/readyz', '/no-such-page'],
}

t.test('every answer of every service carries the security headers', async (t) => {
  for (const [base, paths] of Object.entries(PATHS)) {
    for (const path of paths) {
      for (const auth of [true, false]) {
        const res = await fetch(base + path, { headers: auth ? { authorization: `Bearer ${token}` } : {}, redirect: 'manual' })
        await res.arrayBuffer()
        const where = `${base}${path}${auth ? '' : ' (no token)'} → ${res.status}`
        t.match(res.headers.get('content-security-policy'), /(^|;)\s*frame-ancestors 'none'/, `${where}: CSP frame-ancestors 'none'`)
        t.equal(res.headers.get('x-frame-options'), 'DENY', `${where}: X-Frame-Options`)
        t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${where}: nosniff`)
        // same-origin (no-referrer would make the pages' form posts carry Origin: null); the token sign-in page sends none at all.
        t.equal(res.headers.get('referrer-policy'), path === '/auth/login' && res.status === 200 ? 'no-referrer' : 'same-origin', `${where}: Referrer-Policy`)
      }
    }
  }
})

t.test('the pages work under their policies: no CSP violation, scripts run', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'], headless: true })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${token}` } })
  const pages: Array<{ url: string; ready: string }> = [
    { url: `${uploadUrl}/`, ready: 'input[type=file]' },
    { url: `${download.url}/`, ready: 'h1' },
    { url: `${keyadmin.url}/`, ready: '#keys tr[data-key]' },
    { url: `${keyadmin.url}/pages/network`, ready: 'h1' },
    { url: `${keyadmin.url}/audit/queues`, ready: '#root *' },
    { url: `${uploadUrl}/auth/login`, ready: 'form' },
  ]
  for (const { url, ready } of pages) {
    const page = await context.newPage()
    const violations: string[] = []
    // The queue dashboard asks Google for web fonts: refused on purpose (no third party sees the page); it uses local fonts.
    page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text()) && !m.text().includes('https://fonts.googleapis.com/')) violations.push(m.text()) })
    await page.goto(url)
    await page.waitForSelector(ready, { timeout: 15_000 })
    t.same(violations, [], `${url}: no CSP violation (${ready} rendered)`)
    await page.close()
  }
})
