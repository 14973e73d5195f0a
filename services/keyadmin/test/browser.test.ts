/// <reference lib="dom" />
// The key policy tab in headless Chromium: the workshop's MFA policy as written — the JSON syntax error
// listed first and marked at line 18, Apply refused with every finding — then fixed (the refusal goes),
// applied; separation-of-duties from the template list, where Apply first shows who loses what
// ("KMSWorkshop-InstaceInitRole loses kms:Decrypt") and applies nothing until confirmed; Simulate with an
// encryption context and kms:ViaService.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { ACCOUNT, BUCKET, enc, startTestLab } from './helpers.js'
import { CHROMIUM, confirm, fillMfa, openConsole, openKey, screenshot, succeeded } from './browser-helpers.js'

const workshopMfaPolicy = readFileSync(new URL('../../../packages/policy/test/fixtures/seed-policies/mfa-sensitive-operations.json', import.meta.url), 'utf8')

t.test('the policy editor: findings, a refused Apply, the access diff confirmed before Apply', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  // The workshop's walk-through starts from AWS's default key policy.
  const lab = await startTestLab(t, { defaultKeyPolicy: true })
  const { page, svc, api, pageErrors, cspViolations } = await openConsole(t, lab)
  const stored = async () => (await fetch(`${svc.url}/keys/${enc('alias/ImportedCMK')}/policy`, { headers: api }).then((r) => r.json() as Promise<{ policy: string }>)).policy
  const setPolicy = (text: string) => page.evaluate((value) => {
    const editor = (window as any).policyEditor
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } })
  }, text)

  await openKey(page, 'alias/ImportedCMK', 'policy')
  await page.waitForFunction(() => (window as any).policyEditor.state.doc.toString().includes('kms:*'))
  await page.locator('#policy-summary li', { hasText: 'kms-share-keyadmin' }).first().waitFor()
  t.match(await page.locator('#policy-summary').innerText(), /Key administrators[\s\S]*kms-share-keyadmin[\s\S]*Key users[\s\S]*kms-share-downloader — Decrypt/, 'key administrators and key users, from the matrix')

  // The workshop's document as written: the syntax error first, then the rest.
  await setPolicy(workshopMfaPolicy)
  await page.click('#validate')
  await page.locator('#findings li.error', { hasText: 'JSON_TRAILING_COMMA' }).waitFor()
  const listed = await page.locator('#findings li').allTextContents()
  t.match(listed[0], /^18:58 ERROR JSON_TRAILING_COMMA/, 'the JSON syntax error is listed before its knock-on findings')
  t.ok(listed.some((l) => l.startsWith('28:28 ERROR MALFORMED_CONDITION_KEY')), 'and the mistyped key')
  await page.locator('.cm-gutter-lint .cm-lint-marker-error').first().waitFor()
  const markerLines = await page.evaluate(() => {
    const lines = Array.from(document.querySelectorAll('.cm-content .cm-line')).map((l) => l.getBoundingClientRect())
    return Array.from(document.querySelectorAll('.cm-gutter-lint .cm-gutterElement'))
      .filter((g) => g.querySelector('.cm-lint-marker-error'))
      .map((g) => lines.findIndex((l) => Math.abs(l.top - g.getBoundingClientRect().top) < 3) + 1)
  })
  t.ok(markerLines.includes(18) && markerLines.includes(28), `error markers on lines 18 and 28 (${markerLines.join(', ')})`)

  // Apply is refused before any dialog: the policy has errors.
  await page.click('#apply')
  const refusal = page.locator('#status .kms-error')
  await refusal.waitFor()
  t.match(await refusal.innerText(), /Could not check the policy: The policy has errors\.[\s\S]*4 error finding/)
  t.equal(await page.locator('dialog.kms-dialog').count(), 0, 'no confirmation for a policy that cannot be applied')
  await screenshot(page, 'policy-refused')

  // Fixed: the account id, the comma, the condition key. The refusal goes once the policy is valid.
  const fixed = workshopMfaPolicy
    .replaceAll('your-acount-id', ACCOUNT)
    .replace('"arn:aws:iam::111122223333:user/userA",]', '"arn:aws:iam::111122223333:user/userA"]')
    .replace('aws: MultiFactorAuthAge', 'aws:MultiFactorAuthAge')
  await setPolicy(fixed)
  await page.click('#validate')
  await page.locator('#findings li.ok').waitFor()
  await refusal.waitFor({ state: 'detached' })
  t.pass('the failed Apply\'s error is cleared when the policy is fixed')
  await page.click('#dry-run')
  await succeeded(page, 'Dry run: valid')
  t.match(await page.textContent('#diff'), /\+\s+"NumericLessThan":\{"aws:MultiFactorAuthAge":"300"\}/)
  await fillMfa(page, lab)
  await page.click('#apply')
  await confirm(page, 'Apply this key policy to alias/ImportedCMK?')
  await succeeded(page, 'Applied.')
  t.equal(await stored(), fixed, 'the fixed policy is the key policy now')

  // Separation-of-duties: Apply shows who loses what first; cancelled, nothing changes.
  await page.selectOption('#template', 'separation-of-duties')
  await page.waitForFunction(() => (window as any).policyEditor.state.doc.toString().includes('DownloaderDecryptThroughS3'))
  await page.click('#apply')
  const dialog = page.locator('dialog.kms-dialog[open]')
  await dialog.waitFor()
  const losses = await dialog.locator('li.loses').allInnerTexts()
  t.ok(losses.includes('KMSWorkshop-InstaceInitRole loses kms:Encrypt, kms:Decrypt, kms:GenerateDataKey, kms:GenerateDataKeyWithoutPlaintext, kms:ReEncryptFrom, kms:ReEncryptTo'), 'the dialog names who loses what, one line per principal')
  t.ok(losses.some((l) => /^admin loses kms:Encrypt, kms:Decrypt/.test(l)), 'admin loses use too')
  t.match(await dialog.innerText(), /kms-share-downloader keeps kms:Decrypt only through S3, for kmsworkshop-111122223333's objects \(before: always\)/)
  await screenshot(page, 'policy-confirm')
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await succeeded(page, 'Not applied.')
  t.equal(await stored(), fixed, 'cancelled: the key policy is unchanged')
  t.match(await page.locator('#access-changes').innerText(), /KMSWorkshop-InstaceInitRole loses kms:Encrypt, kms:Decrypt/, 'the dry run beside the text diff')

  await fillMfa(page, lab)
  await page.click('#apply')
  await confirm(page, /KMSWorkshop-InstaceInitRole loses kms:Encrypt, kms:Decrypt/)
  await succeeded(page, 'Applied.')
  t.match(await stored(), /DownloaderDecryptThroughS3/)

  // Who can do what now, and Simulate with the encryption context S3 sends.
  await page.click('#tab-access')
  const downloaderDecrypt = page.locator('#access tr', { hasText: 'kms-share-downloader' }).locator('button[data-detail*="kms:Decrypt:"]')
  await downloaderDecrypt.click()
  t.match(await page.textContent('#cell-detail'), `kms-share-downloader — kms:Decrypt: only through S3, for ${BUCKET}'s objects`)
  await page.fill('#sim-principal', `arn:aws:iam::${ACCOUNT}:role/kms-share-downloader`)
  await page.fill('#sim-action', 'kms:Decrypt')
  await page.selectOption('#sim-via', 's3')
  await page.fill('#sim-context', `aws:s3:arn=arn:aws:s3:::${BUCKET}/report.csv`)
  await page.click('#simulate-form button[type=submit]')
  await page.locator('#sim-result', { hasText: /^Allowed/ }).waitFor()
  await page.fill('#sim-context', 'aws:s3:arn=arn:aws:s3:::another-bucket/report.csv')
  await page.click('#simulate-form button[type=submit]')
  await page.locator('#sim-result', { hasText: /^ImplicitlyDenied/ }).waitFor()
  t.pass("another bucket's object: denied")
  t.same(pageErrors, [], 'no script errors')
  t.same(cspViolations, [], 'no CSP violations')
})
