/// <reference lib="dom" />
// The key lifecycle done from the keyadmin page in headless Chromium, each change checked through the
// API: create a key, edit its description, tags (AWS's limits refused in words), aliases (create, move,
// delete), rotation (period, rotate now, history), disable and enable, the AWS managed list and search
// (deletion, key material and grants: browser-lifecycle.test.ts; each file at most three sensitive
// changes, so the MFA codes of one 30-second window suffice). Then the layout with 20 action columns: no
// sideways scrolling at 1280×900 or 390×844, and axe-core finds no serious or critical violation on any
// tab, in a confirmation dialog, or on the network page.
import t from 'tap'
import { existsSync } from 'node:fs'
import { CreateGrantCommand, DescribeKeyCommand } from '@aws-sdk/client-kms'
import { ACCOUNT, enc, kmsAs, startTestLab } from './helpers.js'
import { axeViolations, CHROMIUM, confirm, fillMfa, openConsole, openKey, overflow, screenshot, succeeded } from './browser-helpers.js'

const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`

t.test('keys, description, tags, aliases, rotation, state from the page; the layout at two sizes; axe-core', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  // AWS's default key policy on the seed key, as a new key gets it.
  const lab = await startTestLab(t, { defaultKeyPolicy: true })
  const { page, svc, api, pageErrors, cspViolations } = await openConsole(t, lab)
  const get = async (path: string) => (await fetch(svc.url + path, { headers: api })).json()

  // ---- create a key and edit its description
  await page.click('#new-key')
  await page.fill('#create-alias', 'alias/console-test')
  await page.fill('#create-description', 'made from the page')
  await page.click('#create-key-form button[type=submit]')
  await succeeded(page, 'Created alias/console-test (Enabled).')
  await page.locator('#key-title', { hasText: 'alias/console-test' }).waitFor()
  const key = await get(`/keys/${enc('alias/console-test')}`)
  const path = `/keys/${key.keyId}`
  await page.fill('#description', 'the console test key')
  await page.click('#description-form button')
  await succeeded(page, 'Description saved.')
  t.equal((await get(path)).description, 'the console test key', 'description')

  // ---- tags: add, edit, refuse an aws: key, remove
  await page.click('#tab-tags')
  await page.fill('#tag-key', 'Project')
  await page.fill('#tag-value', 'kms-share')
  await page.click('#tag-form button')
  await succeeded(page, 'Tagged Project.')
  await page.locator('#tags tr', { hasText: 'Project' }).getByRole('button', { name: 'Edit' }).click()
  await page.fill('#tag-value', 'console')
  await page.click('#tag-form button')
  await succeeded(page, 'Tagged Project.')
  t.same((await get(`${path}/tags`)).tags, { Project: 'console' }, 'tag added then edited')
  await page.fill('#tag-key', 'aws:owner')
  await page.click('#tag-form button')
  const refused = page.locator('#status .kms-error')
  await refused.waitFor()
  t.match(await refused.innerText(), /Could not tag the key: The tags are outside AWS's limits\.[\s\S]*the aws: prefix is reserved for AWS/, "AWS's limit in words, with the next step")
  await page.locator('#tags tr', { hasText: 'Project' }).getByRole('button', { name: 'Remove…' }).click()
  await confirm(page, 'Remove the tag Project?')
  await succeeded(page, 'Removed the tag Project.')
  t.same((await get(`${path}/tags`)).tags, {}, 'tag removed')

  // ---- aliases: create, move to another key, delete
  await page.click('#tab-aliases')
  await page.fill('#alias-name', 'alias/console-second')
  await page.click('#alias-form button')
  await succeeded(page, 'Created alias/console-second.')
  const imported = await get(`/keys/${enc('alias/ImportedCMK')}`)
  const row = page.locator('#aliases tr', { hasText: 'alias/console-second' })
  await row.locator('select').selectOption(imported.keyId)
  await fillMfa(page, lab)
  await row.getByRole('button', { name: 'Move…' }).click()
  await confirm(page, 'Move alias/console-second to another key?')
  await succeeded(page, `alias/console-second now names key ${imported.keyId}.`)
  t.same((await get(`/keys/${enc('alias/console-second')}`)).keyId, imported.keyId, 'alias moved')
  await fillMfa(page, lab)
  await page.locator('#aliases tr', { hasText: 'alias/console-test' }).getByRole('button', { name: 'Delete…' }).click()
  await confirm(page, 'Delete alias/console-test?')
  await succeeded(page, 'Deleted alias/console-test.')
  t.same((await get(path)).aliases, [], 'alias deleted')
  await page.fill('#alias-name', 'alias/console-test')
  await page.click('#alias-form button')
  await succeeded(page, 'Created alias/console-test.')

  // ---- rotation: on every 180 days, rotate now, history
  await page.click('#tab-rotation')
  await page.locator('#rotation-status', { hasText: 'Automatic rotation is off.' }).waitFor()
  await page.check('#rotation-enabled')
  await page.fill('#rotation-period', '180')
  await page.click('#rotation-form button[type=submit]')
  await succeeded(page, 'Automatic rotation on, every 180 days.')
  await page.click('#rotate-now')
  await succeeded(page, 'Rotated')
  await page.locator('#rotations tr', { hasText: 'on demand' }).waitFor()
  t.match(await get(`${path}/rotation`), { enabled: true, periodInDays: 180, rotations: [{ type: 'ON_DEMAND' }] }, 'rotation')

  // ---- disable (after the impact report) and enable
  await page.click('#tab-general')
  await fillMfa(page, lab)
  await page.click('#disable-key')
  await confirm(page, /Disabling this key makes .* unreadable until it is enabled again .*; CloudTrail shows no use of this key\./)
  await succeeded(page, 'The key is disabled')
  t.equal((await get(path)).state, 'Disabled')
  await page.click('#enable-key')
  await succeeded(page, 'The key is enabled.')
  t.equal((await get(path)).state, 'Enabled')

  // ---- the key lists: AWS managed keys apart, search
  const admin = kmsAs(lab, 'admin')
  t.teardown(() => admin.destroy())
  await admin.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))
  await page.click('#tab-aws')
  await page.locator('#keys tr', { hasText: 'alias/aws/s3' }).waitFor()
  t.equal(await page.locator('#keys tr', { hasText: 'alias/ImportedCMK' }).count(), 0, 'AWS managed keys only')
  await page.click('#tab-customer')
  await page.fill('#key-search', 'CONSOLE TEST')
  await page.locator('#keys tr').first().waitFor()
  await page.waitForFunction(() => document.querySelectorAll('#keys tr').length === 1)
  t.match(await page.locator('#keys').innerText(), /alias\/console-test/, 'search by description')
  await page.fill('#key-search', '')
  await page.waitForFunction(() => document.querySelectorAll('#keys tr').length >= 2)

  // ---- layout: 20 action columns (a grant adds operations outside the usual ones); no sideways scrolling
  const { arn } = await get(`/keys/${enc('alias/ImportedCMK')}`)
  await admin.send(new CreateGrantCommand({ KeyId: arn, GranteePrincipal: role('kms-share-auditor'), Operations: ['RetireGrant', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext'] }))
  await openKey(page, 'alias/ImportedCMK', 'access')
  await page.locator('#access th.action').first().waitFor()
  const columns = await page.locator('#access th.action').count()
  t.ok(columns >= 20, `${columns} action columns`)
  const tabs = ['general', 'policy', 'access', 'tags', 'aliases', 'rotation', 'material', 'grants', 'audit']
  for (const size of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size)
    for (const tab of tabs) {
      await page.click(`#tab-${tab}`)
      await page.locator(`#panel-${tab}:not([hidden])`).waitFor()
      if (tab === 'access') await page.locator('#access th.action').first().waitFor()
      if (tab === 'access' && size.width === 1280) {
        t.ok(await page.evaluate(() => { const w = document.querySelector('.matrix-wrap')!; return w.scrollWidth <= w.clientWidth }), 'at 1280 the whole matrix shows, without scrolling its box')
      }
      if (tab === 'policy') await page.locator('#policy-summary li').first().waitFor()
      if (tab === 'audit') await page.locator('#audit-summary:not(:empty)').waitFor()
      t.equal(await overflow(page), 0, `${tab} at ${size.width}×${size.height}: no sideways scrolling`)
      if (size.width === 1280 || tab === 'access' || tab === 'general') t.same(await axeViolations(page), [], `axe: ${tab} at ${size.width}`)
      await screenshot(page, `keyadmin-${tab}`)
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 })

  // A confirmation dialog and the network page, checked too.
  await page.click('#tab-general')
  await page.click('#disable-key')
  await page.locator('dialog.kms-dialog[open]').waitFor()
  t.same(await axeViolations(page), [], 'axe: the confirmation dialog')
  await page.locator('dialog.kms-dialog[open]').getByRole('button', { name: 'Cancel' }).click()
  await page.goto(`${svc.url}/pages/network`)
  await page.locator('#status, #network tr').first().waitFor()
  for (const size of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size)
    t.equal(await overflow(page), 0, `network page at ${size.width}: no sideways scrolling`)
    t.same(await axeViolations(page), [], `axe: the network page at ${size.width}`)
    await screenshot(page, 'keyadmin-network')
  }
  // An alias not URL-encoded in a path, followed in the browser: a sentence with the encoded path, not JSON.
  await page.goto(`${svc.url}/keys/alias/ImportedCMK/policy`)
  const message = page.locator('main .kms-error[data-code="KADM_NOT_URL_ENCODED"]')
  t.match(await message.innerText(), /Use \/keys\/alias%2FImportedCMK\/policy\./, 'the encoded path, in words')
  t.equal(await page.locator('h1').innerText(), 'A key or alias in a path must be URL-encoded.')
  t.same(pageErrors, [], 'no script errors')
  t.same(cspViolations, [], 'no CSP violations')
})
