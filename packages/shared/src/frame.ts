// The frame every page of every service shares: one header (the three services' pages, the queue
// dashboard, the metrics, this service's API docs; who is signed in and sign-out), the shared CSS and
// script served as files (pages run under a CSP without inline script or style), Swagger UI at /docs
// from the plugin's own assets, and readable error pages for navigations that end in a problem.
import { readFileSync } from 'node:fs'
import fp from 'fastify-plugin'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static, type TObject, type TProperties } from 'typebox'
import { escapeHtml, FRAME_CSS_PATH, SESSION_SCRIPT } from './auth-pages.js'
import type { Principal } from './auth-bearer.js'
import { INVISIBLE, JOINING_SCRIPT, PICTOGRAPH } from './invisible-chars.js'
import { explainProblem, PROBLEM_GUIDE, type GuideEntry, type ProblemLike } from './problem-guide.js'

export type ServiceName = 'upload' | 'download' | 'keyadmin'

/** Spread into each service's config schema: where browsers reach the three services. */
export const frameConfigProperties = {
  UPLOAD_PUBLIC_URL: Type.String({ default: 'http://127.0.0.1:3001', description: "The upload service's URL as browsers see it (the pages' header and links)." }),
  DOWNLOAD_PUBLIC_URL: Type.String({ default: 'http://127.0.0.1:3002', description: "The download service's URL as browsers see it (the pages' header and the upload page's links)." }),
  KEYADMIN_PUBLIC_URL: Type.String({ default: 'http://127.0.0.1:3003', description: "The keyadmin service's URL as browsers see it (the pages' header: keys, the queue dashboard, the metrics)." }),
} satisfies TProperties

export type FrameConfig = Static<TObject<typeof frameConfigProperties>>

/**
 * The pages' Content-Security-Policy: scripts and styles only from this service, as files; no
 * inline script or style, nothing from elsewhere, never framed. `extra` adds sources to directives
 * (e.g. keyadmin's editor: style-src 'unsafe-inline', which CodeMirror needs).
 */
export function pageCsp(extra: Partial<Record<string, string[]>> = {}): string {
  const directives: Record<string, string[]> = {
    'default-src': ["'none'"],
    'script-src': ["'self'"],
    'style-src': ["'self'"],
    'connect-src': ["'self'"],
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'"],
    'base-uri': ["'none'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
  }
  for (const [name, sources] of Object.entries(extra)) directives[name] = [...(directives[name] ?? []), ...(sources ?? [])]
  return Object.entries(directives).map(([name, sources]) => `${name} ${sources.join(' ')}`).join('; ')
}

export const PAGE_CSP = pageCsp()
/** Swagger UI sets inline style attributes (React): styles may be inline there, scripts may not. */
export const DOCS_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

export { escapeHtml, FRAME_CSS_PATH }
export const FRAME_SCRIPT_PATH = '/auth/assets/frame.js'
export const SESSION_SCRIPT_PATH = '/auth/session.js'
/** The share pages' object browser (assets/objects.js): folders, sort, search, paging, details. */
export const OBJECTS_SCRIPT_PATH = '/auth/assets/objects.js'
const HEADER_FRAGMENT_PATH = '/auth/assets/header'

const ASSETS = new URL('../assets/', import.meta.url)
const FRAME_CSS = readFileSync(new URL('frame.css', ASSETS), 'utf8')
const FRAME_SCRIPT_BODY = readFileSync(new URL('frame.js', ASSETS), 'utf8')
/** assets/problem-explain.js, the module the server imports, as a classic script's window.kmsExplain. */
const EXPLAIN_SCRIPT = `window.kmsExplain = (function () {\n${readFileSync(new URL('problem-explain.js', ASSETS), 'utf8').replace(/^export /gm, '')}\nreturn explainProblem\n})();\n`
const OBJECTS_SCRIPT = readFileSync(new URL('objects.js', ASSETS), 'utf8')

/** Where the header's links go. */
export interface FrameLinks {
  upload: string
  download: string
  keyadmin: string
  queue: string
  metrics: string
  docs: string
}

const trimSlash = (url: string) => url.replace(/\/+$/, '')

export function frameLinks(config: FrameConfig): FrameLinks {
  const keyadmin = trimSlash(config.KEYADMIN_PUBLIC_URL)
  return {
    upload: `${trimSlash(config.UPLOAD_PUBLIC_URL)}/`,
    download: `${trimSlash(config.DOWNLOAD_PUBLIC_URL)}/`,
    keyadmin: `${keyadmin}/`,
    queue: `${keyadmin}/audit/queues`,
    metrics: `${keyadmin}/metrics`,
    docs: '/docs',
  }
}

/** Which header link is the page shown: a service's own page, or its API docs. */
export type FrameCurrent = ServiceName | 'docs' | 'none'

export interface HeaderInput {
  service: ServiceName
  links: FrameLinks
  current: FrameCurrent
  /** Who is signed in; undefined on pages before sign-in. */
  principal?: Principal | undefined
  /** The CSRF token for the sign-out form (page sessions only). */
  csrfToken?: string | undefined
}

const SERVICE_TITLES: Record<ServiceName, string> = { upload: 'Upload', download: 'Download', keyadmin: 'Keys' }

function whoHtml(principal: Principal | undefined, csrfToken: string | undefined): string {
  if (!principal) return '<div class="kms-who"><span>Not signed in</span></div>'
  if (principal.via === 'disabled') return '<div class="kms-who"><span id="kms-who-name">Authentication is off (local only)</span></div>'
  const person = principal.person
  const groups = person ? (person.groups.length ? person.groups.join(', ') : 'no groups') : undefined
  const kind = person ? '' : principal.via === 'session' ? ' <span class="kms-groups">(API token)</span>' : ` <span class="kms-groups">(${escapeHtml(principal.via)} token)</span>`
  const signOut = principal.via === 'session' && csrfToken
    ? `<form class="kms-signout" method="post" action="/auth/logout" data-signout><input type="hidden" name="csrf" value="${escapeHtml(csrfToken)}"><button type="submit" id="signout">Sign out</button></form>`
    : ''
  return `<div class="kms-who kms-auth"><span>Signed in as <strong id="kms-who-name">${escapeHtml(principal.name)}</strong>${kind}</span>${groups !== undefined ? `<span class="kms-groups" id="kms-who-groups">groups: ${escapeHtml(groups)}</span>` : ''}${signOut}</div>`
}

/** The header every page starts with (a skip link first, for keyboard users). */
export function renderHeader(input: HeaderInput): string {
  const { links, current } = input
  const item = (key: FrameCurrent, href: string, text: string) =>
    `<li><a href="${escapeHtml(href)}"${key === current ? ' aria-current="page"' : ''} data-nav="${key}">${escapeHtml(text)}</a></li>`
  const external = (href: string, text: string, nav: string) => `<li><a href="${escapeHtml(href)}" data-nav="${nav}">${escapeHtml(text)}</a></li>`
  return `<a class="kms-skip" href="#main">Skip to content</a>
<header class="kms-header"><div class="kms-header-inner">
<a class="kms-brand" href="/">kms-share <span>${escapeHtml(SERVICE_TITLES[input.service].toLowerCase())}</span></a>
<nav class="kms-nav" aria-label="kms-share"><ul>
${item('upload', links.upload, SERVICE_TITLES.upload)}${item('download', links.download, SERVICE_TITLES.download)}${item('keyadmin', links.keyadmin, SERVICE_TITLES.keyadmin)}${external(links.queue, 'Audit queue', 'queue')}${external(links.metrics, 'Metrics', 'metrics')}${item('docs', links.docs, 'API docs')}
</ul></nav>
${whoHtml(input.principal, input.csrfToken)}
</div></header>`
}

export interface PageContent {
  /** The document title's first part ("Objects", "Key policy"…): " · kms-share <service>" follows. */
  title: string
  /** The page's content, HTML (escaped by the caller). */
  main: string
  /** The page's own scripts (files from this service), loaded after session.js and frame.js. */
  scripts?: string[]
  /** The page's own style sheets, after the frame's. */
  styles?: string[]
  /** data-* attributes on <body> (values escaped here). */
  data?: Record<string, string>
  /** Which header link is current (default: the service's own page). */
  current?: FrameCurrent
  /** Extra CSP sources (see pageCsp). */
  csp?: Partial<Record<string, string[]>>
  status?: number
}

export interface DocumentInput extends PageContent {
  service: ServiceName
  header: string
}

export function renderDocument(input: DocumentInput): string {
  const data = Object.entries(input.data ?? {}).map(([k, v]) => ` data-${k.replace(/[^a-z0-9-]/g, '')}="${escapeHtml(v)}"`).join('')
  const styles = [FRAME_CSS_PATH, ...(input.styles ?? [])].map((href) => `<link rel="stylesheet" href="${escapeHtml(href)}">`).join('\n')
  const scripts = [SESSION_SCRIPT_PATH, FRAME_SCRIPT_PATH, ...(input.scripts ?? [])].map((src) => `<script src="${escapeHtml(src)}" defer></script>`).join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${escapeHtml(input.title)} · kms-share ${escapeHtml(input.service)}</title>
${styles}
${scripts}
</head>
<body${data}>
${input.header}
<main id="main" tabindex="-1">
${input.main}
</main>
</body></html>
`
}

/** An error page's content for a problem: what happened, the service's sentence, the next step, the technical line. */
export function problemMain(problem: ProblemLike, guide: Record<string, GuideEntry> = PROBLEM_GUIDE): string {
  const e = explainProblem(problem, guide)
  const detail = e.detail && e.detail !== e.title ? `<p class="kms-detail">${escapeHtml(e.detail)}</p>` : ''
  const signIn = e.code === 'SHR_UNAUTHENTICATED' ? ' <a href="/auth/login">Sign in</a>' : ''
  return `<h1>${escapeHtml(e.title)}</h1>
<div class="kms-message kms-error" role="alert" data-code="${escapeHtml(e.code)}">${detail}<p class="kms-next">${escapeHtml(e.next)}${signIn}</p>
<details><summary>Technical details</summary>${escapeHtml(e.code)} · HTTP ${e.status}${e.requestId ? ` · request id ${escapeHtml(e.requestId)}` : ''}</details></div>
<p><a href="/">Back to the start page</a></p>`
}

export interface FrameHandle {
  service: ServiceName
  links: FrameLinks
  /** The problem guide this service's pages use (shared codes plus its own). */
  guide: Record<string, GuideEntry>
  /** The header for this request (who is signed in, a sign-out form bound to the session). */
  header(request: FastifyRequest, reply: FastifyReply, current?: FrameCurrent): string
  /** A whole page in the frame. */
  render(request: FastifyRequest, reply: FastifyReply, page: PageContent): string
  /** Sends a page in the frame with its CSP, nosniff and no-store. */
  send(request: FastifyRequest, reply: FastifyReply, page: PageContent): FastifyReply
}

declare module 'fastify' {
  interface FastifyInstance {
    frame: FrameHandle
  }
}

export interface FramePluginOptions {
  config: FrameConfig
  service: ServiceName
  /** The service's own problem codes for the pages ({ KADM_MFA_INVALID: { title, next } }). */
  guide?: Record<string, GuideEntry>
  /** Swagger UI at /docs (needs @fastify/swagger registered first); default true. */
  docs?: boolean
}

function wantsHtml(request: FastifyRequest): boolean {
  return (request.method === 'GET' || request.method === 'HEAD') && (request.headers.accept ?? '').includes('text/html')
}

/** Swagger UI's badges and links in colours with 4.5:1 contrast (its defaults are white on light grey and green). */
const DOCS_CSS = `.kms-header{position:relative;z-index:2}.swagger-ui .topbar{display:none}
body .swagger-ui .info .title small{background:#4a5060}body .swagger-ui .info .title small.version-stamp{background:#2b6100}
body .swagger-ui .info .title small pre{color:#fff;background:transparent}body .swagger-ui .info a,body .swagger-ui .info .url,body .swagger-ui .info .link{color:#0050b8}
body .swagger-ui .opblock .opblock-summary-method{color:#fff}
body .swagger-ui .opblock.opblock-get .opblock-summary-method{background:#0b5cad}body .swagger-ui .opblock.opblock-post .opblock-summary-method{background:#1d6b42}
body .swagger-ui .opblock.opblock-put .opblock-summary-method{background:#8a4b00}body .swagger-ui .opblock.opblock-delete .opblock-summary-method{background:#b3261e}
body .swagger-ui .opblock.opblock-patch .opblock-summary-method{background:#17695c}body .swagger-ui .opblock.opblock-head .opblock-summary-method{background:#6b3fa0}
body .swagger-ui .opblock.opblock-options .opblock-summary-method{background:#0d5c73}`

/** The docs page's own script: the frame's header (fetched, so it names who is signed in) above Swagger UI. */
const DOCS_HEADER_SCRIPT = String.raw`'use strict'
;(function () {
  fetch('${HEADER_FRAGMENT_PATH}?current=docs', { headers: { accept: 'text/html' }, credentials: 'same-origin' })
    .then(function (r) { return r.ok ? r.text() : '' })
    .then(function (html) {
      if (!html) return
      var holder = document.createElement('div')
      holder.innerHTML = html
      document.body.prepend.apply(document.body, Array.from(holder.childNodes))
      var skip = document.querySelector('.kms-skip')
      if (skip && !document.getElementById('main')) skip.setAttribute('href', '#swagger-ui')
    })
})()
`

/**
 * Registers the frame: the assets (public, under /auth/assets/, so the sign-in page has them too),
 * Swagger UI at /docs (its own assets; /docs/json stays), `app.frame`, and HTML error pages for
 * navigations answered with problem+json (a deleted object's link reads as a sentence, not JSON).
 */
export const framePlugin = fp(async function framePlugin(app: FastifyInstance, options: FramePluginOptions) {
  const links = frameLinks(options.config)
  const guide = { ...PROBLEM_GUIDE, ...(options.guide ?? {}) }
  const frameScript = `window.kmsGuide = ${JSON.stringify(guide)};\nwindow.kmsInvisible = ${JSON.stringify({ invisible: INVISIBLE.source, joiningScript: JOINING_SCRIPT.source, pictograph: PICTOGRAPH.source })};\n${EXPLAIN_SCRIPT}${FRAME_SCRIPT_BODY}`

  const csrfFor = (request: FastifyRequest, reply: FastifyReply): string | undefined => {
    const principal = request.principal
    if (principal?.via !== 'session' || typeof reply.generateCsrf !== 'function') return undefined
    return reply.generateCsrf({ userInfo: principal.name })
  }

  const handle: FrameHandle = {
    service: options.service,
    links,
    guide,
    header(request, reply, current = options.service) {
      return renderHeader({ service: options.service, links, current, principal: request.principal, csrfToken: csrfFor(request, reply) })
    },
    render(request, reply, page) {
      return renderDocument({ ...page, service: options.service, header: handle.header(request, reply, page.current ?? options.service) })
    },
    send(request, reply, page) {
      return reply.code(page.status ?? 200)
        .type('text/html; charset=utf-8')
        .header('content-security-policy', pageCsp(page.csp))
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'same-origin')
        .header('cache-control', 'no-store')
        .send(handle.render(request, reply, page))
    },
  }
  app.decorate('frame', handle)

  const asset = (path: string, type: string, body: string) => app.get(path, { schema: { hide: true, response: { 200: Type.String() } } }, async (_request, reply) => reply
    .type(type)
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-cache')
    .send(body))
  asset(FRAME_CSS_PATH, 'text/css; charset=utf-8', FRAME_CSS)
  asset(FRAME_SCRIPT_PATH, 'text/javascript; charset=utf-8', frameScript)
  asset(OBJECTS_SCRIPT_PATH, 'text/javascript; charset=utf-8', OBJECTS_SCRIPT)

  app.get(HEADER_FRAGMENT_PATH, {
    schema: { hide: true, querystring: Type.Object({ current: Type.Optional(Type.String({ maxLength: 16 })) }) },
  }, async (request, reply) => {
    const asked = (request.query as { current?: string }).current
    const current: FrameCurrent = asked === 'docs' || asked === 'upload' || asked === 'download' || asked === 'keyadmin' ? asked : 'none'
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('x-content-type-options', 'nosniff')
      .send(handle.header(request, reply, current))
  })

  if (options.docs !== false) {
    if (!app.hasDecorator('swagger')) throw new Error('the frame serves Swagger UI at /docs: register @fastify/swagger before it (or pass docs: false)')
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: DOCS_CSP,
      // No deep links: Swagger UI then draws a link inside each operation's button (nested interactive controls).
      uiConfig: { validatorUrl: null, deepLinking: false, docExpansion: 'list' },
      theme: {
        title: `kms-share ${options.service} · API`,
        css: [{ filename: 'frame.css', content: FRAME_CSS }, { filename: 'docs.css', content: DOCS_CSS }],
        js: [{ filename: 'session.js', content: SESSION_SCRIPT }, { filename: 'header.js', content: DOCS_HEADER_SCRIPT }],
      },
    })
  }

  // A person following a link that ends in a problem reads what happened and what to do, in the frame.
  app.addHook('onSend', async (request, reply, payload) => {
    if (!wantsHtml(request) || reply.statusCode < 400) return payload
    const type = String(reply.getHeader('content-type') ?? '')
    if (!type.startsWith('application/problem+json') || typeof payload !== 'string') return payload
    let problem: ProblemLike
    try {
      problem = JSON.parse(payload) as ProblemLike
    } catch {
      return payload
    }
    reply.type('text/html; charset=utf-8')
      .header('content-security-policy', PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-store')
    reply.removeHeader('content-length')
    return handle.render(request, reply, { title: explainProblem(problem, guide).title, main: problemMain(problem, guide), current: 'none' })
  })
}, { name: 'kms-share-frame', fastify: '5.x' })
