// A small HTTP "browser" for tests that sign in through the lab's OpenID Provider without Chromium:
// a cookie jar (host + path, Secure over https only), redirects followed as a browser does (303 and
// 302 become GET), the lab's CA trusted, and the provider's sign-in forms filled in for a person.
import { readFileSync } from 'node:fs'
import { Agent, fetch as undiciFetch } from 'undici'
import type { Lab } from './app.js'
import { totpFor } from './sts/model.js'

export interface BrowserPage {
  status: number
  url: string
  headers: Headers
  text: string
  /** Every URL visited to get here (redirects included). */
  trail: string[]
}

interface StoredCookie {
  name: string
  value: string
  host: string
  path: string
  secure: boolean
  expires?: number
}

export interface LabPerson {
  username: string
  password: string
  groups: string[]
  totpSecret?: string
}

/** The people of a lab started with `oidc`, with their passwords and TOTP seeds (from its people file). */
export function labPeople(lab: Lab): Record<string, LabPerson> {
  if (!lab.oidc) throw new Error('the lab was started without oidc')
  const file = JSON.parse(readFileSync(lab.oidc.peopleFile, 'utf8')) as { people: LabPerson[] }
  return Object.fromEntries(file.people.map((p) => [p.username, p]))
}

/** The TOTP code a person's authenticator shows now (or `stepsAhead` periods later: still accepted, one step either way). */
export function totpCode(person: LabPerson, stepsAhead = 0): string {
  if (!person.totpSecret) throw new Error(`${person.username} has no TOTP device`)
  return totpFor(person.totpSecret).generate({ timestamp: Date.now() + stepsAhead * 30_000 })
}

export class TestBrowser {
  private readonly agent: Agent
  readonly cookies: StoredCookie[] = []

  constructor(caFile?: string) {
    this.agent = new Agent({ connect: caFile ? { ca: readFileSync(caFile) } : {}, headersTimeout: 30_000, bodyTimeout: 30_000 })
  }

  close(): Promise<void> {
    return this.agent.close()
  }

  private cookieHeader(url: URL): string {
    const now = Date.now()
    return this.cookies
      .filter((c) => c.host === url.hostname && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)) && (!c.secure || url.protocol === 'https:') && (c.expires === undefined || c.expires > now))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ')
  }

  private store(url: URL, headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim())
      const eq = pair.indexOf('=')
      const cookie: StoredCookie = { name: pair.slice(0, eq), value: pair.slice(eq + 1), host: url.hostname, path: '/', secure: false }
      for (const attribute of attributes) {
        const [key, value = ''] = attribute.split('=')
        const k = key.toLowerCase()
        if (k === 'path') cookie.path = value || '/'
        else if (k === 'secure') cookie.secure = true
        else if (k === 'expires') cookie.expires = Date.parse(value)
        else if (k === 'max-age') cookie.expires = Date.now() + Number(value) * 1000
      }
      const at = this.cookies.findIndex((c) => c.name === cookie.name && c.host === cookie.host && c.path === cookie.path)
      if (at >= 0) this.cookies.splice(at, 1)
      if (cookie.expires === undefined || cookie.expires > Date.now()) this.cookies.push(cookie)
    }
  }

  /** One request with the jar's cookies; Set-Cookie goes into the jar; redirects are not followed. */
  async request(url: string, init: { method?: string; body?: URLSearchParams | string; headers?: Record<string, string> } = {}): Promise<BrowserPage> {
    const target = new URL(url)
    const headers: Record<string, string> = { accept: 'text/html', ...init.headers }
    const cookie = this.cookieHeader(target)
    if (cookie) headers.cookie = cookie
    if (init.body instanceof URLSearchParams) headers['content-type'] = 'application/x-www-form-urlencoded'
    const response = await undiciFetch(target, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : String(init.body),
      redirect: 'manual',
      dispatcher: this.agent,
      signal: AbortSignal.timeout(30_000),
    })
    this.store(target, response.headers)
    return { status: response.status, url: target.href, headers: response.headers, text: await response.text(), trail: [target.href] }
  }

  /** A navigation: the request, then every redirect, as a browser follows them. */
  async go(url: string, init: { method?: string; body?: URLSearchParams | string; headers?: Record<string, string> } = {}): Promise<BrowserPage> {
    const trail: string[] = []
    let page = await this.request(url, init)
    trail.push(page.url)
    for (let hops = 0; hops < 20 && page.status >= 300 && page.status < 400 && page.headers.get('location'); hops++) {
      const next = new URL(page.headers.get('location')!, page.url).href
      const keep = page.status === 307 || page.status === 308
      page = await this.request(next, keep ? init : {})
      trail.push(page.url)
    }
    return { ...page, trail }
  }

  /** Submits the page's form whose action contains `actionPart`, with `fields` (hidden inputs kept). */
  async submit(page: BrowserPage, actionPart: string, fields: Record<string, string> = {}): Promise<BrowserPage> {
    const forms = [...page.text.matchAll(/<form\b[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)]
    const form = forms.find((f) => decodeEntities(f[1]).includes(actionPart))
    if (!form) throw new Error(`no form posting to ${actionPart} on ${page.url}: ${page.text.slice(0, 400)}`)
    const body = new URLSearchParams()
    for (const input of form[2].matchAll(/<input\b[^>]*type="hidden"[^>]*>/g)) {
      const name = /name="([^"]*)"/.exec(input[0])?.[1]
      const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? ''
      if (name) body.set(name, decodeEntities(value))
    }
    for (const [k, v] of Object.entries(fields)) body.set(k, v)
    return this.go(new URL(decodeEntities(form[1]), page.url).href, { method: 'POST', body, headers: { origin: new URL(page.url).origin } })
  }

  /**
   * Opens `url` (a service page) and signs in at the lab's provider as `person` when it asks
   * (password, then the TOTP code where the person has a device); answers the page it lands on.
   */
  async signIn(url: string, person: LabPerson): Promise<BrowserPage> {
    let page = await this.go(url)
    if (/name="password"/.test(page.text)) {
      page = await this.submit(page, '/login', { username: person.username, password: person.password })
      if (/name="code"/.test(page.text)) {
        const form = page
        page = await this.submit(form, '/totp', { code: totpCode(person) })
        // The provider takes each code once: a second sign-in in the same 30 s uses the next one (accepted a step early).
        if (/used already/.test(page.text)) page = await this.submit(form, '/totp', { code: totpCode(person, 1) })
      }
    }
    return page
  }
}

function decodeEntities(text: string): string {
  return text.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>')
}
