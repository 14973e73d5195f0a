/// <reference lib="dom" />
// The network page in headless Chromium, keyadmin running as its lab instance: sign in with a token,
// see the instance's network, create a KMS endpoint (waiting for available), read the DNS verdict,
// render the endpoint-only key policy, create an EXTERNAL key and import material into it.
import t from 'tap'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { instance, startKeyadminInstance, startNetworkLab } from './network-helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

t.test('network, endpoints and import through the page', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async (t) => {
  const lab = await startNetworkLab(t, 800)
  const svc = await startKeyadminInstance(t, lab)
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  // Refused requests (the 404 below, the favicon) log 'Failed to load resource'; anything else is a script error.
  page.on('console', (msg) => { if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) errors.push(msg.text()) })

  await page.goto(`${svc.url}/pages/network`)
  t.equal(new URL(page.url()).pathname, '/auth/login', 'an anonymous visit lands on the sign-in page')
  await page.goto(`${svc.url}/auth/login#token=${svc.tokens.admin}`)
  await page.waitForURL(svc.url + '/', { timeout: 10_000 })
  const response = await page.goto(`${svc.url}/pages/network`)
  t.match(response?.headers()['content-security-policy'], "script-src 'self'")

  const instanceCell = page.locator('td[data-field="instance"]')
  await instanceCell.waitFor({ timeout: 15_000 })
  t.equal((await instanceCell.textContent())?.trim(), instance(lab, 'keyadmin').instanceId)
  t.match(await page.locator('td[data-field="subnet read from"]').textContent(), /\/latest\/meta-data\/network\/interfaces\/macs\/[0-9a-f:]+\/subnet-id/)
  await page.waitForFunction(() => /No available KMS endpoint/.test(document.getElementById('dns')!.textContent ?? ''), undefined, { timeout: 10_000 })

  await page.click('#create')
  const row = page.locator('#endpoints tr')
  await row.first().waitFor({ timeout: 30_000 })
  t.equal((await row.first().locator('td.state').textContent())?.trim(), 'available', 'waited for available')
  const id = await row.first().getAttribute('data-id')
  t.match(id, /^vpce-/)
  t.match(await page.locator('#status').textContent(), `aws kms list-keys --endpoint-url ${lab.endpoint}/vpce/${id}`)
  await page.waitForFunction((vpce) => (document.getElementById('dns')!.textContent ?? '').includes(`resolves to ${vpce}`), id, { timeout: 10_000 })

  await row.first().locator('button', { hasText: 'Key policy' }).click()
  await page.waitForFunction((vpce) => (document.getElementById('key-policy')!.textContent ?? '').includes(vpce!), id, { timeout: 10_000 })
  const policy = await page.locator('#key-policy').textContent()
  t.match(policy, 'aws:ViaAWSService')
  t.match(policy, 'VPCE_DENY_BLOCKS_AWS_SERVICES', "the workshop version's finding is shown")

  await page.fill('#new-alias', 'alias/PageImportedCMK')
  await page.click('#create-key')
  await page.waitForFunction(() => /PendingImport/.test(document.getElementById('status')!.textContent ?? ''), undefined, { timeout: 10_000 })
  const keyId = await page.inputValue('#import-key')
  await page.click('#import')
  await page.waitForFunction(() => /: Enabled/.test(document.getElementById('status')!.textContent ?? ''), undefined, { timeout: 20_000 })
  t.equal((await svc.call('GET', `/keys/${keyId}`)).body.state, 'Enabled', 'the key really is Enabled')

  // A refusal reads as a sentence with the next step, not a blank page or raw JSON.
  await page.fill('#import-key', 'alias/does-not-exist')
  await page.click('#import')
  const refusal = page.locator('#status .kms-error[data-code="KADM_KEY_NOT_FOUND"]')
  await refusal.waitFor({ timeout: 10_000 })
  t.match(await refusal.innerText(), /Could not import the key material: There is no such key\.[\s\S]*No such key: alias\/does-not-exist[\s\S]*Pick a key from the list/)

  // Deleting an endpoint asks first; cancelled, it stays.
  await row.first().locator('button', { hasText: 'Delete' }).click()
  const dialog = page.locator('dialog.kms-dialog[open]')
  t.match(await dialog.innerText(), new RegExp(`Delete the VPC endpoint ${id}\\?[\\s\\S]*refuse every request`))
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  t.equal((await svc.call('GET', '/vpc-endpoints')).body.endpoints.length, 1, 'cancelled: the endpoint stays')
  await row.first().locator('button', { hasText: 'Delete' }).click()
  await dialog.locator('[data-confirm="yes"]').click()
  await page.waitForFunction(() => document.querySelectorAll('#endpoints tr').length === 0, undefined, { timeout: 10_000 })
  t.same((await svc.call('GET', '/vpc-endpoints')).body.endpoints, [], 'deleted through the page')
  t.same(errors, [], 'no script errors')
})
