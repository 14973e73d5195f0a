/// <reference lib="dom" />
// The attack in headless Chromium: the user is signed in on the upload page; a page on
// another origin (here another port of 127.0.0.1 — the same *site*, so SameSite=Strict alone
// would still send the cookie) posts a CORS-simple multipart form to /files?overwrite=true.
// The browser sends the cookie; the service refuses it, and the object keeps its content.
import t from 'tap'
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { chromium } from 'playwright-core'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { generateToken, hashToken } from '@kms-share/shared'
import { buildApp as buildUploadApp, loadUploadConfig } from '@kms-share/upload'
import { awsEnv, BUCKET, eventually, freePort, labDeployment, s3As, startTestLab } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

t.test('a page on another origin cannot overwrite an object with the signed-in user\'s cookie', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  const lab = await startTestLab(t)
  const token = generateToken()
  const uploadPort = await freePort()
  const uploadUrl = `http://127.0.0.1:${uploadPort}`
  const upload = await buildUploadApp(loadUploadConfig({
    ...awsEnv(lab, 'uploader'), BUCKET, KMS_KEY_ID: labDeployment(lab).keyArn, LOG_LEVEL: 'silent',
    AUTH_TOKENS: `victim:upload:${hashToken(token)}`,
  }))
  t.teardown(() => upload.close())
  await upload.listen({ port: uploadPort, host: '127.0.0.1' })
  // What reaches the service, as the socket delivers it.
  const received: Array<{ method: string; headers: Record<string, string | string[] | undefined>; status?: number }> = []
  upload.server.on('request', (req, res) => {
    const entry: (typeof received)[number] = { method: req.method ?? '', headers: req.headers }
    received.push(entry)
    res.once('finish', () => { entry.status = res.statusCode })
  })
  const put = await fetch(`${uploadUrl}/files/invoice.pdf`, { method: 'PUT', body: 'the real invoice', headers: { authorization: `Bearer ${token}` } })
  t.equal(put.status, 201)

  // The attacker's page, on another port: fetch with no-cors and credentials is a CORS-simple request the browser sends with cookies.
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>cute cats</title><script>
      const form = new FormData()
      form.append('key', 'invoice.pdf')
      form.append('file', new Blob(['a forged invoice'], { type: 'application/pdf' }), 'invoice.pdf')
      fetch('${uploadUrl}/files?overwrite=true', { method: 'POST', body: form, mode: 'no-cors', credentials: 'include' })
        .then(() => { document.title = 'sent' }, () => { document.title = 'failed' })
    </script>`)
  })
  evil.listen(0, '127.0.0.1')
  await once(evil, 'listening')
  t.teardown(() => new Promise<void>((r) => { evil.closeAllConnections(); evil.close(() => r()) }))
  const evilUrl = `http://127.0.0.1:${(evil.address() as { port: number }).port}`

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true })
  t.teardown(() => browser.close())
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${uploadUrl}/auth/login#token=${token}`)
  await page.waitForURL(uploadUrl + '/', { timeout: 10_000 })

  const attack = await context.newPage()
  await attack.goto(evilUrl + '/')
  // What the service answered, seen at the service: the page itself may not read it (Cross-Origin-Resource-Policy: same-origin).
  const isForm = (r: (typeof received)[number]) => r.method === 'POST' && String(r.headers['content-type']).startsWith('multipart/form-data')
  await eventually(() => received.some((r) => isForm(r) && r.status !== undefined), 'the forged form answered at the service', 10_000)
  const form = received.find(isForm)
  t.equal(form?.status, 403, 'refused')
  const sent = form!.headers
  t.match(sent.cookie, /kms_upload_session=/, 'the browser did send the session cookie (same site, other origin)')
  t.equal(sent.origin, evilUrl)
  t.equal(sent['sec-fetch-site'], 'same-site', 'another port of the same host is the same site: SameSite=Strict alone would not stop it')

  // Read back as the downloader: on the stack's key only the services use it.
  const stored = await s3As(lab, 'downloader').send(new GetObjectCommand({ Bucket: BUCKET, Key: 'invoice.pdf' }))
  t.equal(await stored.Body!.transformToString(), 'the real invoice', 'the object was not overwritten')
})

// Issue 22 row 10: after signing in, the page went to `next` checked only as text; "/\t/evil.example"
// passed (it starts with "/" and no second "/") and the browser, which drops tabs from URLs, went to
// //evil.example. `next` is now resolved against the page's own origin.
t.test('the sign-in page returns only to its own origin, whatever next says', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  const lab = await startTestLab(t)
  const token = generateToken()
  const upload = await buildUploadApp(loadUploadConfig({
    ...awsEnv(lab, 'uploader'), BUCKET, KMS_KEY_ID: labDeployment(lab).keyArn, LOG_LEVEL: 'silent',
    AUTH_TOKENS: `person:upload:${hashToken(token)}`,
  }))
  t.teardown(() => upload.close())
  await upload.listen({ port: 0, host: '127.0.0.1' })
  const uploadUrl = `http://127.0.0.1:${(upload.server.address() as { port: number }).port}`

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true })
  t.teardown(() => browser.close())
  const context = await browser.newContext()
  // Nothing leaves this machine: any request to another host is answered here and recorded.
  const elsewhere: string[] = []
  await context.route((url) => url.hostname !== '127.0.0.1', (route) => {
    elsewhere.push(route.request().url())
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<title>evil</title>' })
  })
  for (const next of ['%2F%09%2Fevil.example', '%2F%0A%2Fevil.example', '%2F%0D%2Fevil.example', '%2F%5Cevil.example', 'https%3A%2F%2Fevil.example%2F', '%2F%2Fevil.example']) {
    const page = await context.newPage()
    await page.goto(`${uploadUrl}/auth/login?next=${next}#token=${token}`)
    await page.waitForFunction(() => !location.pathname.startsWith('/auth/login'), undefined, { timeout: 10_000 })
    t.equal(new URL(page.url()).origin, uploadUrl, `next=${next}: still on the service (${page.url()})`)
    await page.close()
  }
  t.same(elsewhere, [], 'no request left for another host')
})
