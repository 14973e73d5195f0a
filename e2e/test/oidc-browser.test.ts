/// <reference lib="dom" />
// Issue 24's walk-through in headless Chromium, against the lab's OpenID Provider over its TLS and the
// three services as its clients: the uploader signs in once on the upload page (password, then TOTP);
// the download and keyadmin pages open without a second sign-in (and refuse, naming the group the
// uploader lacks); one sign-out signs out of all three; an expired session on each page goes back
// through sign-in to where the person was; a key administrator applying a key policy is sent through
// step-up (RFC 9470) and the policy is applied after it.
import t from 'tap'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { GetKeyPolicyCommand, KMSClient } from '@aws-sdk/client-kms'
import { fromIni } from '@aws-sdk/credential-providers'
import type { FastifyInstance } from 'fastify'
import { chromiumTrustArgs, labPeople, mfaCode as mfaCodeNow, totpCode, type LabPerson } from '@kms-share/aws-lab/testing'
import { buildApp as buildUploadApp, loadUploadConfig } from '@kms-share/upload'
import { buildApp as buildDownloadApp, loadConfig as loadDownloadConfig } from '@kms-share/download'
import { buildApp as buildKeyadminApp, loadConfig as loadKeyadminConfig } from '@kms-share/keyadmin'
import { awsEnv, BUCKET, freePort, labDeployment, scratchDir, startTestLab } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
// Long enough for the page to go from a fresh sign-in, through the access diff, to the change on a loaded 2-core machine.
const STEP_UP_MAX_AGE_SECONDS = 10

t.test('sign in once, three services; one sign-out; expired sessions; step-up before a key policy change', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  const ports = { upload: await freePort(), download: await freePort(), keyadmin: await freePort() }
  const urls = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, `http://127.0.0.1:${port}`])) as Record<keyof typeof ports, string>
  const clients = Object.entries(urls).map(([name, url]) => ({
    client_id: name, client_name: `kms-share ${name}`,
    redirect_uris: [`${url}/auth/callback`], post_logout_redirect_uris: [`${url}/auth/signed-out`], backchannel_logout_uri: `${url}/auth/backchannel-logout`,
  }))
  const lab = await startTestLab(t, { oidc: { clients } })
  const people = labPeople(lab)
  const secrets = scratchDir(t, 'oidc-secrets-')
  // Each service: its own client, its secret in a file, the lab's CA for the provider (OIDC_CA_FILE); AWS over the lab's https (startTestLab made this process trust it).
  const oidcEnv = (name: keyof typeof ports) => {
    const file = join(secrets, name)
    writeFileSync(file, lab.oidc!.clientSecret(name)!, { mode: 0o600 })
    return { OIDC_ISSUER: lab.oidc!.issuer, OIDC_CLIENT_ID: name, OIDC_CLIENT_SECRET_FILE: file, OIDC_CA_FILE: lab.caFile!, LOG_LEVEL: 'warn' }
  }
  const apps: Record<keyof typeof ports, FastifyInstance> = {
    upload: await buildUploadApp(loadUploadConfig({ ...awsEnv(lab, 'uploader'), BUCKET, KMS_KEY_ID: labDeployment(lab).keyArn, DOWNLOAD_PUBLIC_URL: urls.download, ...oidcEnv('upload') })),
    download: await buildDownloadApp(loadDownloadConfig({ ...awsEnv(lab, 'downloader'), BUCKET, CACHE_DIR: scratchDir(t), UPLOAD_PUBLIC_URL: urls.upload, ...oidcEnv('download') })),
    // keyadmin's sensitive operations go through the MFA user's session (its role holds none of them), as pnpm start runs it.
    keyadmin: await buildKeyadminApp(loadKeyadminConfig({
      ...awsEnv(lab, 'keyadmin'), BUCKET, OIDC_STEP_UP_MAX_AGE_SECONDS: String(STEP_UP_MAX_AGE_SECONDS), ...oidcEnv('keyadmin'),
      KEYADMIN_MFA_PROFILE: 'userA', KEYADMIN_MFA_SERIAL: `arn:aws:iam::${lab.accountId}:mfa/userA`,
    })),
  }
  for (const [name, app] of Object.entries(apps)) {
    t.teardown(() => app.close())
    await app.listen({ port: ports[name as keyof typeof ports], host: '127.0.0.1' })
  }

  // The lab's CA is its own: this browser accepts the lab's certificate and no other bad one (a person imports ca.pem or accepts it once).
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...LAUNCH_ARGS, ...chromiumTrustArgs(lab)], headless: true })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  const page = await context.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  const visited: string[] = []
  page.on('request', (r) => { if (r.isNavigationRequest()) visited.push(r.url()) })
  const passwordAsked = () => visited.filter((u) => /\/oidc\/interaction\/[^/]+$/.test(new URL(u).pathname)).length
  const signedOutEverywhere = () => Object.values(apps).every((app) => app.auth.sessions.size === 0)

  /** At the provider's sign-in page: password, then the authenticator code where the person has one. */
  async function signInAtProvider(person: LabPerson) {
    await page.waitForSelector('#password', { timeout: 15_000 })
    t.equal(await page.locator('label[for=password]').innerText(), 'Password', 'the sign-in page labels its fields')
    if (await page.locator('#username').getAttribute('readonly') === null) await page.fill('#username', person.username)
    await page.fill('#password', person.password)
    await Promise.all([page.waitForLoadState('domcontentloaded'), page.click('button[type=submit]')])
    if (!person.totpSecret) return
    await page.waitForSelector('#code', { timeout: 15_000 })
    await page.fill('#code', totpCode(person))
    await Promise.all([page.waitForLoadState('domcontentloaded'), page.click('button[type=submit]')])
    // The provider takes each code once: a second sign-in within the same 30 s uses the next (accepted one step early).
    if (await page.locator('#error').count() && /used already/.test(await page.locator('#error').innerText())) {
      await page.fill('#code', totpCode(person, 1))
      await Promise.all([page.waitForLoadState('domcontentloaded'), page.click('button[type=submit]')])
    }
  }
  const landed = async (url: string) => page.waitForURL(url, { timeout: 20_000 })

  // 1. The uploader signs in on the upload page: password and TOTP.
  await page.goto(`${urls.upload}/`)
  t.match(page.url(), `${lab.oidc!.issuer}/interaction/`, 'the upload page sends a stranger to the provider')
  t.match(await page.locator('main').innerText(), /to continue to kms-share upload/)
  await signInAtProvider(people.uploader)
  await landed(`${urls.upload}/`)
  t.match(await page.locator('.kms-auth').innerText(), /Signed in as uploader/)
  t.equal(passwordAsked(), 1)

  // 2. The download and keyadmin pages open without a second sign-in, and say which group the uploader lacks.
  await page.goto(`${urls.download}/`)
  await landed(`${urls.download}/`)
  t.match(await page.locator('h1').innerText(), /not allowed on kms-share download/)
  t.equal(await page.locator('#missing strong.group').innerText(), 'downloaders', 'the page names the missing group')
  await page.goto(`${urls.keyadmin}/`)
  await landed(`${urls.keyadmin}/`)
  t.same(await page.locator('#missing strong.group').allInnerTexts(), ['keyadmins', 'auditors', 'admins'], 'any group that gives keys:read')
  t.equal(passwordAsked(), 1, 'no second sign-in on the other services')

  // 3. An expired session on the upload page: its next request goes through sign-in and back to where the person was.
  await page.goto(`${urls.upload}/#objects`)
  await page.waitForSelector('#objects tbody', { state: 'attached' })
  t.equal(apps.upload.auth.sessions.expireWhere(), 1)
  const beforeExpiry = visited.length
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${urls.upload}/auth/callback`), { timeout: 20_000 }),
    page.evaluate(() => { void fetch('/files?limit=5') }),
  ])
  await landed(`${urls.upload}/#objects`)
  t.ok(visited.slice(beforeExpiry).some((u) => u.startsWith(`${urls.upload}/auth/login?next=%2F%23objects`)), 'through the sign-in route')
  t.ok(visited.slice(beforeExpiry).some((u) => u.startsWith(`${lab.oidc!.issuer}/auth`)), 'and the provider')
  t.match(await page.locator('.kms-auth').innerText(), /Signed in as uploader/)
  t.equal(passwordAsked(), 1, 'the provider\'s session spared the password')

  // 4. Sign out once, on the upload page: signed out of all three (back-channel logout) and of the provider.
  await Promise.all([landed(`${urls.upload}/auth/signed-out`), page.click('#signout')])
  t.match(await page.locator('h1').innerText(), /You are signed out/)
  t.ok(signedOutEverywhere(), 'every service ended its sessions')
  for (const url of [urls.download, urls.keyadmin]) {
    await page.goto(`${url}/`)
    await page.waitForSelector('#password', { timeout: 15_000 })
    t.pass(`${url}: the password is asked again`)
  }

  // 5. The downloader: an expired session on the download page (no script: a navigation) returns through sign-in.
  await page.goto(`${urls.download}/`)
  await signInAtProvider(people.downloader)
  await landed(`${urls.download}/`)
  t.match(await page.title(), /kms-share download/)
  t.equal(apps.download.auth.sessions.expireWhere(), 1)
  const beforeDownloadExpiry = visited.length
  await page.goto(`${urls.download}/?sort=name`)
  await landed(`${urls.download}/?sort=name`)
  t.ok(visited.slice(beforeDownloadExpiry).some((u) => u.startsWith(`${urls.download}/auth/login?next=%2F%3Fsort%3Dname`)), 'the download page went through sign-in')
  t.match(await page.locator('.kms-auth').innerText(), /Signed in as downloader/)
  await Promise.all([landed(`${urls.download}/auth/signed-out`), page.click('#signout')])
  t.ok(signedOutEverywhere())

  // 6. The key administrator: password and TOTP; an expired session on the keyadmin page; then step-up before Apply.
  await page.goto(`${urls.keyadmin}/`)
  await signInAtProvider(people.keyadmin)
  await landed(`${urls.keyadmin}/`)
  t.equal(await page.locator('#mfa').count(), 1, 'the MFA box: keyadmin makes sensitive changes as the MFA user')
  await page.waitForSelector('#keys a.key-link')
  t.equal(apps.keyadmin.auth.sessions.expireWhere(), 1)
  const keyRow = page.locator('#keys tr[data-key]').first()
  const keyId = await keyRow.getAttribute('data-key')
  const beforeKeyadminExpiry = visited.length
  const onKeyadmin = (u: URL) => u.href === `${urls.keyadmin}/` || u.href.startsWith(`${urls.keyadmin}/#`)
  await Promise.all([page.waitForURL((u) => u.href.startsWith(`${urls.keyadmin}/auth/callback`), { timeout: 20_000 }), keyRow.locator('a.key-link').click()])
  await page.waitForURL(onKeyadmin, { timeout: 20_000 })
  t.ok(visited.slice(beforeKeyadminExpiry).some((u) => u.startsWith(`${urls.keyadmin}/auth/login?next=%2F`)), 'the keyadmin page went through sign-in')
  await page.waitForSelector('#keys a.key-link')
  t.match(await page.locator('.kms-auth').innerText(), /Signed in as keyadmin/, 'back on the keyadmin page, signed in')

  if (await page.locator('#key-detail').isHidden()) await page.locator(`#keys tr[data-key="${keyId}"] a.key-link`).click()
  await page.click('#tab-policy')
  await page.waitForFunction(() => (window as unknown as { policyEditor: { state: { doc: { length: number } } } }).policyEditor.state.doc.length > 10)
  // The sign-in must be older than the step-up age for the change to need it.
  await page.waitForTimeout(STEP_UP_MAX_AGE_SECONDS * 1000 + 500)
  const changed = await page.evaluate(() => {
    const editor = (window as unknown as { policyEditor: { state: { doc: { toString(): string; length: number } }; dispatch(tr: unknown): void } }).policyEditor
    const policy = JSON.parse(editor.state.doc.toString()) as { Statement: Array<{ Sid?: string }> }
    policy.Statement[0].Sid = 'ChangedAfterStepUp'
    const text = JSON.stringify(policy, null, 2)
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } })
    return text
  })
  const asked = passwordAsked()
  // Apply shows who gains and who loses first (nobody, for a new Sid), then goes to the provider.
  await page.click('#apply')
  const dialog = page.locator('dialog.kms-dialog[open]')
  await dialog.waitFor({ timeout: 20_000 })
  t.match(await dialog.innerText(), /Nobody gains or loses any action on this key\./)
  await dialog.locator('[data-confirm="yes"]').click()
  await page.waitForURL((u) => u.href.startsWith(`${lab.oidc!.issuer}/interaction/`), { timeout: 20_000 })
  t.ok(visited.some((u) => u.startsWith(`${urls.keyadmin}/auth/login?step_up=1`)), 'the page went to step-up')
  t.ok(visited.some((u) => u.startsWith(`${lab.oidc!.issuer}/auth?`) && new URL(u).searchParams.get('max_age') === '0'), 'with max_age at the provider')
  t.equal(await page.locator('#username').inputValue(), 'keyadmin', 'the provider asks the same person to confirm')
  // The MFA code first, from a TOTP step that begins now: STS refuses a code no newer than one already used for the
  // device, and the services' own calls may have used the current step (the page said "older than one already
  // used", twice in CI). Taken before the fresh sign-in, whose max age starts at the provider.
  await new Promise((resolve) => setTimeout(resolve, 30_000 - (Date.now() % 30_000) + 200))
  const mfaCode = mfaCodeNow(lab)
  await signInAtProvider(people.keyadmin)
  t.equal(passwordAsked(), asked + 1)
  await page.waitForURL(onKeyadmin, { timeout: 20_000 })
  // Back with a fresh sign-in: the change is on the page again; AWS still wants the MFA user's code.
  await page.locator('#status [role=status]', { hasText: 'Signed in again. Enter the MFA code, then repeat the change.' }).waitFor({ timeout: 20_000 })
  t.equal(await page.evaluate(() => (window as unknown as { policyEditor: { state: { doc: { toString(): string } } } }).policyEditor.state.doc.toString()), changed, 'the change kept across the step-up')
  await page.fill('#mfa', mfaCode)
  await page.click('#apply')
  await dialog.waitFor({ timeout: 20_000 })
  await dialog.locator('[data-confirm="yes"]').click()
  const applied = page.locator('#status [role=status]', { hasText: 'Applied' })
  const confirmedAt = Date.now()
  await applied.waitFor({ timeout: 20_000 }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${Date.now() - confirmedAt} ms after the Apply; the page is at ${page.url()}, its status: ${await page.locator('#status').innerText().catch(() => '(none)')}`)
  })
  t.equal(await applied.innerText(), 'Applied.')

  const kms = new KMSClient({ region: lab.region, endpoint: lab.endpoint, credentials: fromIni({ profile: 'admin', filepath: lab.credentialsFile, configFilepath: lab.configFile }) })
  t.teardown(() => kms.destroy())
  const stored = await kms.send(new GetKeyPolicyCommand({ KeyId: keyId!, PolicyName: 'default' }))
  t.same(JSON.parse(stored.Policy!), JSON.parse(changed), 'the policy was applied after the step-up')
  t.same(pageErrors, [], 'no script errors')
})
