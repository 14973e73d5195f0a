/// <reference lib="dom" />
// More of the key lifecycle from the keyadmin page in headless Chromium, each change checked through
// the API: deletion scheduled after the impact report and cancelled, imported key material (import
// with an expiry, delete, AWS's refusal of other material, import again), grants (create from the
// form, retire, revoke). Three sensitive changes: one MFA window's codes.
import t from 'tap'
import { existsSync } from 'node:fs'
import { CreateGrantCommand } from '@aws-sdk/client-kms'
import { ACCOUNT, enc, kmsAs, startTestLab } from './helpers.js'
import { CHROMIUM, confirm, fillMfa, openConsole, openKey, succeeded } from './browser-helpers.js'

const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`
const MATERIAL = Buffer.alloc(32, 7).toString('base64')

t.test('deletion, key material and grants from the page', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  const lab = await startTestLab(t)
  const { page, svc, api, pageErrors, cspViolations } = await openConsole(t, lab)
  const get = async (path: string) => (await fetch(svc.url + path, { headers: api })).json()
  const created = await svc.call('POST', '/keys', { alias: 'alias/console-test' }, api)
  t.equal(created.status, 201)
  const path = `/keys/${created.body.keyId}`
  await page.reload()
  await openKey(page, 'alias/console-test')

  // ---- deletion: 7–30 days, after the impact report; cancelled
  await page.fill('#deletion-days', '3')
  await page.click('#schedule-deletion')
  await page.locator('#status .kms-error, #status [role=alert]', { hasText: '7 to 30 days' }).waitFor()
  await page.fill('#deletion-days', '7')
  await fillMfa(page, lab)
  await page.click('#schedule-deletion')
  const said = await confirm(page, /Deleting this key makes .* unreadable, for good/)
  t.match(said, /deleted in 7 days/)
  await succeeded(page, 'Deletion scheduled for')
  t.equal((await get(path)).state, 'PendingDeletion')
  await page.locator('#key-state-badge', { hasText: 'PendingDeletion' }).waitFor()
  await page.click('#cancel-deletion')
  await succeeded(page, 'Deletion cancelled')
  t.equal((await get(path)).state, 'Disabled', 'cancelled: Disabled, as KMS leaves it')
  await page.click('#enable-key')
  await succeeded(page, 'The key is enabled.')

  // ---- imported key material: an EXTERNAL key from the page, material with an expiry, deleted, AWS refusing other material
  await page.click('#new-key')
  await page.fill('#create-alias', 'alias/console-external')
  await page.selectOption('#create-origin', 'EXTERNAL')
  await page.click('#create-key-form button[type=submit]')
  await succeeded(page, 'Created alias/console-external (PendingImport).')
  await page.locator('#key-title', { hasText: 'alias/console-external' }).waitFor()
  await page.click('#tab-material')
  await page.locator('#material-status', { hasText: 'No key material' }).waitFor()
  await page.fill('#import-material', MATERIAL)
  // AWS takes an expiry at most 365 days ahead.
  const expires = new Date(Date.now() + 200 * 86_400_000)
  const day = expires.toISOString().slice(0, 10)
  await page.fill('#import-expires', `${day}T12:00`)
  await page.click('#import-form button[type=submit]')
  await succeeded(page, 'Imported: the key is Enabled.')
  await page.locator('#material-status', { hasText: new RegExp(`expires ${day} \\d\\d:\\d\\d UTC`) }).waitFor()
  t.match(await get(`/keys/${enc('alias/console-external')}`), { state: 'Enabled', expirationModel: 'KEY_MATERIAL_EXPIRES' }, 'material with its expiry')
  await fillMfa(page, lab)
  await page.click('#delete-material')
  await confirm(page, 'Only the same material brings the key back')
  await succeeded(page, 'Key material deleted')
  await page.click('#import-form button[type=submit]')
  const incorrect = page.locator('#status .kms-error')
  await incorrect.waitFor()
  t.match(await incorrect.innerText(), /IncorrectKeyMaterialException/, "other material: AWS's refusal, with AWS's code")
  await page.fill('#import-material', MATERIAL)
  await page.click('#import-form button[type=submit]')
  await succeeded(page, 'Imported: the key is Enabled.')

  // ---- grants: create from the form, retire one, revoke another
  await openKey(page, 'alias/console-test', 'grants')
  await page.locator('#grants-empty:not([hidden])').waitFor()
  const createGrant = async (name: string) => {
    await page.fill('#grant-grantee', role('kms-share-auditor'))
    await page.fill('#grant-retiring', role('kms-share-keyadmin'))
    await page.fill('#grant-name', name)
    await page.selectOption('#grant-constraint', 'equals')
    await page.fill('#grant-context', 'purpose=audit')
    await fillMfa(page, lab)
    await page.click('#grant-form button[type=submit]')
    await succeeded(page, 'Created grant')
    await page.locator('#grants tr', { hasText: name }).waitFor()
  }
  await createGrant('console-retire')
  t.match(await page.locator('#grants tr', { hasText: 'console-retire' }).innerText(), /kms-share-auditor[\s\S]*Decrypt[\s\S]*when the encryption context equals \{"purpose":"audit"\}/)
  await page.locator('#grants tr', { hasText: 'console-retire' }).getByRole('button', { name: 'Retire…' }).click()
  await confirm(page, 'kms-share-auditor loses Decrypt through this grant.')
  await succeeded(page, 'Retired the grant console-retire.')
  // One grant made outside the page (as the account's admin), revoked from it.
  const admin = kmsAs(lab, 'admin')
  t.teardown(() => admin.destroy())
  await admin.send(new CreateGrantCommand({ KeyId: created.body.arn, GranteePrincipal: role('kms-share-auditor'), Operations: ['Decrypt'], Name: 'console-revoke' }))
  await page.click('#tab-general')
  await page.click('#tab-grants')
  await page.locator('#grants tr', { hasText: 'console-revoke' }).getByRole('button', { name: 'Revoke…' }).click()
  await confirm(page, 'Revoke the grant console-revoke?')
  await succeeded(page, 'Revoked the grant console-revoke.')
  t.same((await get(`${path}/grants`)).grants, [], 'grants retired and revoked')

  t.same(pageErrors, [], 'no script errors')
  t.same(cspViolations, [], 'no CSP violations')
})
