/// <reference lib="dom" />
// The keyadmin page in headless Chromium: a signed-in page (token session: cookie and CSRF as a person's),
// the frame's confirmation dialog, the MFA box where keyadmin acts as the MFA user, sideways overflow,
// axe-core run inside the page (injected through the DevTools protocol, which the page's CSP does not
// govern), CSP violations, and screenshots under .screenshots/ (gitignored, kept as CI output).
import { mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { Test } from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'
import { bundlePage } from '../src/page/bundle.js'
import { nextMfaCode, startKeyadmin, type Lab, type RunningService } from './helpers.js'

export const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
export const SCREENSHOTS = new URL('../.screenshots/', import.meta.url).pathname
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export interface ConsolePage {
  page: Page
  browser: Browser
  svc: RunningService
  /** Authorization header for API checks beside the page. */
  api: { authorization: string }
  pageErrors: string[]
  cspViolations: string[]
}

/** keyadmin with its test token (keys:read, keys:admin, audit:read), Chromium signed in with it at 1280×900, the page bundled first. */
export async function openConsole(t: Test, lab: Lab, env: Record<string, string> = {}): Promise<ConsolePage> {
  await bundlePage()
  const svc = await startKeyadmin(t, lab, env)
  const token = svc.token
  if (!token) throw new Error('openConsole signs in with the helper\'s token: leave AUTH_TOKENS to startKeyadmin')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.setDefaultTimeout(15_000)
  const pageErrors: string[] = []
  const cspViolations: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  page.on('console', (m) => { if (m.text().startsWith('CSP ')) cspViolations.push(m.text()) })
  await page.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => console.log(`CSP ${e.violatedDirective} ${e.blockedURI} ${e.sample}`)))
  await page.goto(`${svc.url}/auth/login#token=${token}`)
  await page.waitForURL(`${svc.url}/`, { timeout: 10_000 })
  return { page, browser, svc, api: { authorization: `Bearer ${token}` }, pageErrors, cspViolations }
}

/** Opens a key from the customer managed list by its alias, on a tab. */
export async function openKey(page: Page, alias: string, tab = 'general'): Promise<void> {
  await page.locator('#keys a.key-link', { hasText: alias }).first().click()
  await page.locator('#key-title', { hasText: alias }).waitFor()
  if (tab !== 'general') await page.click(`#tab-${tab}`)
  await page.locator(`#panel-${tab}:not([hidden])`).waitFor()
}

/** Waits for the frame's confirmation dialog, checks what it says, and confirms. Returns its text. */
export async function confirm(page: Page, says?: RegExp | string): Promise<string> {
  const dialog = page.locator('dialog.kms-dialog[open]')
  await dialog.waitFor()
  const text = await dialog.innerText()
  if (says && !(typeof says === 'string' ? text.includes(says) : says.test(text))) throw new Error(`the dialog says ${JSON.stringify(text)}, not ${says}`)
  await dialog.locator('[data-confirm="yes"]').click()
  await dialog.waitFor({ state: 'detached' })
  return text
}

/** The next MFA code in the page's MFA box, where keyadmin acts as the MFA user (else nothing to do). */
export async function fillMfa(page: Page, lab: Lab): Promise<void> {
  if (await page.locator('#mfa').count()) await page.fill('#mfa', await nextMfaCode(lab))
}

/** Waits for a success (or a note) in the status line and returns it; a problem there fails at once. */
export async function succeeded(page: Page, says: RegExp | string): Promise<string> {
  const line = page.locator('#status [role=status]', { hasText: says })
  const problem = page.locator('#status .kms-error')
  await Promise.race([line.waitFor(), problem.waitFor().then(async () => { throw new Error(`the page says: ${await problem.innerText()}`) })])
  return line.innerText()
}

/** The page's width beyond the window (0: no sideways scrolling). */
export async function overflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
}

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA rules, best practices). */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE)
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe
    const result = await axe.run(document, { resultTypes: ['violations'] })
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')})`)
  })
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const { width } = page.viewportSize()!
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-${width}.png`), fullPage: true })
}
