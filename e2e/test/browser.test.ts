/// <reference lib="dom" />
// The workshop's walk-through in headless Chromium: upload SampleFile-KMS.txt on the upload
// page (uploader role), see it encrypted under alias/ImportedCMK's key and listed, follow the
// link to the download service (downloader role), then find localfile-SampleFile-KMS.txt.
import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { fromIni } from '@aws-sdk/credential-providers'
import { generateToken, hashToken } from '@kms-share/shared'
import { buildApp as buildUploadApp, loadUploadConfig } from '@kms-share/upload'
import { awsEnv, BUCKET, freePort, KEY_ALIAS, labDeployment, scratchDir, startDownload, startTestLab } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

t.test('upload through the page, download through the link, see the local file', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  const lab = await startTestLab(t)
  const [uploadPort, downloadPort] = [await freePort(), await freePort()]
  const uploadUrl = `http://127.0.0.1:${uploadPort}`
  const downloadUrl = `http://127.0.0.1:${downloadPort}`

  // Each service knows only its own token's hash; the browser signs in to each once.
  const uploadToken = generateToken()
  const downloadToken = generateToken()
  const download = await startDownload(t, lab, 'downloader', {
    UPLOAD_PUBLIC_URL: uploadUrl,
    AUTH_TOKENS: `browser-download:download:${hashToken(downloadToken)}`,
  }, downloadPort)
  t.equal(download.url, downloadUrl)
  const upload = await buildUploadApp(loadUploadConfig({
    ...awsEnv(lab, 'uploader'),
    BUCKET,
    KMS_KEY_ID: labDeployment(lab).keyArn,
    DOWNLOAD_PUBLIC_URL: downloadUrl,
    LOG_LEVEL: 'warn',
    AUTH_TOKENS: `browser-upload:upload:${hashToken(uploadToken)}`,
  }))
  t.teardown(() => upload.close())
  await upload.listen({ port: uploadPort, host: '127.0.0.1' })

  const kms = new KMSClient({
    region: 'eu-west-1',
    endpoint: lab.endpoint,
    credentials: fromIni({ profile: 'admin', filepath: lab.credentialsFile, configFilepath: lab.configFile }),
  })
  const keyArn = (await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))).KeyMetadata!.Arn!
  kms.destroy()

  // Not t.testdir(): a second call empties the folder the lab keeps its data in.
  const dir = scratchDir(t)
  const sample = join(dir, 'SampleFile-KMS.txt')
  const content = 'This is a sample file for the KMS workshop.\n'.repeat(2000)
  writeFileSync(sample, content)

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } })
  const page = await context.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))

  // Not signed in: the page sends the browser to the sign-in page.
  await page.goto(uploadUrl + '/')
  t.equal(new URL(page.url()).pathname, '/auth/login', 'an anonymous visit lands on the sign-in page')
  // The printed sign-in links carry the token in the fragment, which never reaches the server.
  await page.goto(`${uploadUrl}/auth/login#token=${uploadToken}`)
  await page.waitForURL(uploadUrl + '/', { timeout: 10_000 })
  t.notMatch(page.url(), /token/, 'the token left the address bar')
  const signin = await context.newPage()
  await signin.goto(`${downloadUrl}/auth/login#token=${downloadToken}`)
  await signin.waitForURL(downloadUrl + '/', { timeout: 10_000 })
  await signin.close()
  const cookies = await context.cookies()
  for (const name of ['kms_upload_session', 'kms_download_session']) {
    const cookie = cookies.find((c) => c.name === name)
    t.match(cookie, { httpOnly: true, sameSite: 'Strict', secure: false }, `${name}: HttpOnly, SameSite=Strict, not Secure over http`)
  }
  // Record every value the progress bar shows during the upload.
  await page.evaluate(() => {
    const bar = document.getElementById('progress') as HTMLProgressElement
    const seen: number[] = []
    ;(window as unknown as { progressSeen: number[] }).progressSeen = seen
    new MutationObserver(() => seen.push(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] })
  })
  await page.setInputFiles('#file', sample)
  await page.click('#upload')
  await page.waitForSelector('#result:not([hidden])', { timeout: 30_000 })

  t.equal(await page.textContent('#result-key'), 'SampleFile-KMS.txt')
  t.equal(await page.textContent('#result-sse'), 'aws:kms')
  t.equal(await page.textContent('#result-key-arn'), keyArn, "the ARN of alias/ImportedCMK's key")
  t.equal(await page.$eval('#progress', (bar) => (bar as HTMLProgressElement).value), 100, 'the progress bar is full')
  const seen = await page.evaluate(() => (window as unknown as { progressSeen: number[] }).progressSeen)
  t.ok(seen.includes(100), `progress went to 100% (${seen.join(', ')})`)

  const link = page.locator('#objects a', { hasText: 'SampleFile-KMS.txt' })
  await link.waitFor({ timeout: 10_000 })
  t.equal(await link.getAttribute('href'), `${downloadUrl}/files/SampleFile-KMS.txt`)
  await page.screenshot({ path: join(dir, 'upload-page.png'), fullPage: true })

  const [file] = await Promise.all([page.waitForEvent('download'), link.click()])
  t.equal(file.suggestedFilename(), 'SampleFile-KMS.txt')
  t.equal(readFileSync(await file.path(), 'utf8'), content, 'the downloaded file is the uploaded one')

  await page.goto(downloadUrl + '/')
  const local = page.locator('#local-files code.localfile', { hasText: 'localfile-SampleFile-KMS.txt' })
  t.equal(await local.count(), 1, 'the local file is listed')
  t.equal(await page.locator('#objects a[data-key="SampleFile-KMS.txt"]').count(), 1, 'the object is listed')
  t.match(await page.locator('#objects tr', { hasText: 'SampleFile-KMS.txt' }).locator('td.enc').innerText(), /^aws:kms key\/[0-9a-f-]{36}/, 'with its SSE-KMS key')
  await page.screenshot({ path: join(dir, 'download-page.png'), fullPage: true })
  t.equal(readFileSync(join(download.cacheDir, 'localfile-SampleFile-KMS.txt'), 'utf8'), content)
  // Sign out on the upload page: the next visit asks to sign in again.
  await page.goto(uploadUrl + '/')
  await Promise.all([page.waitForURL(`${uploadUrl}/auth/signed-out`, { timeout: 10_000 }), page.click('#signout')])
  await page.goto(uploadUrl + '/')
  t.equal(new URL(page.url()).pathname, '/auth/login', 'signed out')
  t.notOk((await context.cookies(uploadUrl)).some((c) => c.name === 'kms_upload_session'), 'the session cookie is gone')
  t.same(pageErrors, [], 'no script errors')
})
