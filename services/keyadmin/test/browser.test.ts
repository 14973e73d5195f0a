/// <reference lib="dom" />
// The page in headless Chromium: sign in with a token (session cookie, CSRF on changes), pick the
// seed key, paste the workshop's MFA policy as written — the lint gutter marks the trailing comma
// at line 18 and Apply is refused with every finding — then fix it, see the diff and apply it.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { generateToken, hashToken } from '@kms-share/shared'
import { bundlePage } from '../src/page/bundle.js'
import { ACCOUNT, enc, nextMfaCode, startKeyadmin, startTestLab } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
const workshopMfaPolicy = readFileSync(new URL('../../../packages/policy/test/fixtures/seed-policies/mfa-sensitive-operations.json', import.meta.url), 'utf8')

t.test('validate shows the trailing comma at its line; apply succeeds after the fix', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  await bundlePage()
  // The workshop's walk-through starts from AWS's default key policy.
  const lab = await startTestLab(t, { defaultKeyPolicy: true })
  const token = generateToken()
  const svc = await startKeyadmin(t, lab, { AUTH_DISABLED: 'false', AUTH_TOKENS: `browser:keys:read+keys:admin:${hashToken(token)}` })
  const api = { authorization: `Bearer ${token}` }

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))

  await page.goto(svc.url + '/')
  t.equal(new URL(page.url()).pathname, '/auth/login', 'an anonymous visit lands on the sign-in page')
  await page.goto(`${svc.url}/auth/login#token=${token}`)
  await page.waitForURL(svc.url + '/', { timeout: 10_000 })

  const row = page.locator('#keys tr', { hasText: 'alias/ImportedCMK' })
  await row.waitFor({ timeout: 15_000 })
  await row.locator('button').click()
  await page.waitForFunction(() => (window as any).policyEditor.state.doc.toString().includes('kms:*'), undefined, { timeout: 15_000 })
  await page.locator('#access td').first().waitFor({ timeout: 15_000 })
  t.ok(await page.locator('#access th', { hasText: 'role/kms-share-keyadmin' }).count(), 'the access matrix has keyadmin')

  // The workshop's document as written.
  await page.evaluate((text) => {
    const editor = (window as any).policyEditor
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } })
  }, workshopMfaPolicy)
  await page.click('#validate')
  await page.locator('#findings li.error', { hasText: 'JSON_TRAILING_COMMA' }).waitFor({ timeout: 15_000 })
  const listed = await page.locator('#findings li').allTextContents()
  t.ok(listed.some((l) => l.startsWith('18:58 ERROR JSON_TRAILING_COMMA')), 'the comma at line 18, column 58')
  t.ok(listed.some((l) => l.startsWith('28:28 ERROR MALFORMED_CONDITION_KEY')), 'and the mistyped key')
  // The lint gutter's error marker sits on line 18 of the editor.
  await page.locator('.cm-gutter-lint .cm-lint-marker-error').first().waitFor({ timeout: 15_000 })
  const markerLines = await page.evaluate(() => {
    const lines = Array.from(document.querySelectorAll('.cm-content .cm-line')).map((l) => l.getBoundingClientRect())
    return Array.from(document.querySelectorAll('.cm-gutter-lint .cm-gutterElement'))
      .filter((g) => g.querySelector('.cm-lint-marker-error'))
      .map((g) => {
        const top = g.getBoundingClientRect().top
        return lines.findIndex((l) => Math.abs(l.top - top) < 3) + 1
      })
  })
  t.ok(markerLines.includes(18), `an error marker on line 18 (markers on ${markerLines.join(', ')})`)
  t.ok(markerLines.includes(28), 'and on line 28')

  await page.click('#apply')
  await page.locator('#status', { hasText: 'KADM_POLICY_INVALID' }).waitFor({ timeout: 15_000 })
  t.match(await page.textContent('#status'), /422 KADM_POLICY_INVALID/)

  // Fixed: the account id, the comma, the condition key.
  const fixed = workshopMfaPolicy
    .replaceAll('your-acount-id', ACCOUNT)
    .replace('"arn:aws:iam::111122223333:user/userA",]', '"arn:aws:iam::111122223333:user/userA"]')
    .replace('aws: MultiFactorAuthAge', 'aws:MultiFactorAuthAge')
  await page.evaluate((text) => {
    const editor = (window as any).policyEditor
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } })
  }, fixed)
  await page.click('#validate')
  await page.locator('#findings li.ok').waitFor({ timeout: 15_000 })
  await page.click('#dry-run')
  await page.locator('#status.ok').waitFor({ timeout: 15_000 })
  t.match(await page.textContent('#diff'), /\+\s+"NumericLessThan":\{"aws:MultiFactorAuthAge":"300"\}/)
  // PutKeyPolicy is sensitive: the page sends the code typed beside Apply.
  await page.fill('#mfa', await nextMfaCode(lab))
  await page.click('#apply')
  await page.locator('#status', { hasText: 'Applied.' }).waitFor({ timeout: 15_000 })
  const stored = await fetch(`${svc.url}/keys/${enc('alias/ImportedCMK')}/policy`, { headers: api }).then((r) => r.json() as Promise<{ policy: string }>)
  t.equal(stored.policy, fixed, 'the fixed policy is the key policy now')

  await page.fill('#sim-principal', `arn:aws:iam::${ACCOUNT}:user/userA`)
  await page.fill('#sim-action', 'kms:PutKeyPolicy')
  await page.click('#simulate')
  // Without an MFA session userA may not: its own policy allows the sensitive operations only with MFA.
  await page.locator('#sim-result', { hasText: 'ImplicitlyDenied' }).waitFor({ timeout: 15_000 })
  t.match(await page.textContent('#sim-result'), /SensitiveKeyOperationsWithMfa.*aws:MultiFactorAuthPresent/)

  // The walk-through: separation-of-duties from the template list, applied from the page.
  await page.selectOption('#template', 'separation-of-duties')
  await page.waitForFunction(() => (window as any).policyEditor.state.doc.toString().includes('DownloaderDecryptThroughS3'), undefined, { timeout: 15_000 })
  await page.fill('#mfa', await nextMfaCode(lab))
  await page.click('#apply')
  await page.locator('#status', { hasText: 'Applied.' }).waitFor({ timeout: 15_000 })
  // The matrix reloads after the change: the downloader decrypts only through S3 now.
  await page.locator('#access tr', { hasText: /role\/kms-share-downloader.*through S3, for kmsworkshop-111122223333's objects/ }).waitFor({ timeout: 15_000 })
  t.match(await page.locator('#access tr', { hasText: 'role/kms-share-keyadmin' }).textContent(), /^role\/kms-share-keyadmin·{6}·{7}✔/, 'keyadmin: none of the six use actions, none of the seven sensitive ones, and CancelKeyDeletion')
  t.same(errors, [], 'no script errors')
})
