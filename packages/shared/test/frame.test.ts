// The frame every page shares, over real HTTP: the header's links from configuration and who is
// signed in, the assets under /auth/assets/ (public, so the sign-in page has them), Swagger UI at
// /docs from its own files with /docs/json kept, error pages for navigations that end in a problem,
// and one date format on the server and in the pages' script.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { runInNewContext } from 'node:vm'
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import { Type } from 'typebox'
import {
  authConfigProperties, authPlugin, basePlugin, explainProblem, formatBytes, formatDate, formatTokenEntry, frameConfigProperties, framePlugin,
  generateToken, hashToken, loadConfig, PROBLEM_GUIDE, SharedErrors, timeHtml,
} from '../src/index.js'

const TOKEN = generateToken()
const Schema = Type.Object({ HOST: Type.String({ default: '127.0.0.1' }), ...authConfigProperties, ...frameConfigProperties })

async function start(t: Tap): Promise<{ app: FastifyInstance; url: string }> {
  const config = loadConfig(Schema, { env: {
    AUTH_TOKENS: formatTokenEntry('ci-bot', ['upload'], hashToken(TOKEN)),
    SESSION_SECRET: 'a-test-session-secret-of-forty-characters!',
    UPLOAD_PUBLIC_URL: 'https://up.example/',
    DOWNLOAD_PUBLIC_URL: 'https://down.example',
    KEYADMIN_PUBLIC_URL: 'https://keys.example:8443',
  } })
  const app = Fastify({ logger: false })
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1' } } })
  await app.register(basePlugin)
  await app.register(authPlugin, { config, scopes: ['upload'], service: 'upload' })
  await app.register(framePlugin, { config, service: 'upload', guide: { TEST_CODE: { title: 'A test went {how}.', next: 'Do it again.' } } })
  app.get('/', async (request, reply) => app.frame.send(request, reply, { title: 'Objects', main: '<h1>Objects</h1>', scripts: ['/app.js'], data: { 'x-y': '"quoted"' } }))
  app.get('/gone', async () => { throw new SharedErrors.AWS_NO_SUCH_KEY('"report.pdf"') })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('no address')
  return { app, url: `http://127.0.0.1:${address.port}` }
}

type Tap = Pick<typeof t, 'teardown'>

async function signIn(url: string): Promise<string> {
  const res = await fetch(`${url}/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'origin': url }, body: JSON.stringify({ token: TOKEN }) })
  t.equal(res.status, 200)
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
}

t.test('the header links the three services, the queue, the metrics and the docs, and names who is signed in', async (t) => {
  const { url } = await start(t)
  const cookie = await signIn(url)
  const res = await fetch(`${url}/`, { headers: { cookie, accept: 'text/html' } })
  t.equal(res.status, 200)
  const csp = res.headers.get('content-security-policy') ?? ''
  t.match(csp, /script-src 'self'/)
  t.match(csp, /style-src 'self'(;|$)/, 'styles from files only')
  t.match(csp, /frame-ancestors 'none'/)
  const html = await res.text()
  t.match(html, '<title>Objects · kms-share upload</title>')
  t.match(html, '<a href="https://up.example/" aria-current="page" data-nav="upload">Upload</a>')
  t.match(html, '<a href="https://down.example/" data-nav="download">Download</a>')
  t.match(html, '<a href="https://keys.example:8443/" data-nav="keyadmin">Keys</a>')
  t.match(html, 'href="https://keys.example:8443/audit/queues"')
  t.match(html, 'href="https://keys.example:8443/metrics"')
  t.match(html, 'href="/docs" data-nav="docs">API docs</a>')
  t.match(html, /Signed in as <strong id="kms-who-name">ci-bot<\/strong> <span class="kms-groups">\(API token\)<\/span>/)
  t.match(html, /<form class="kms-signout" method="post" action="\/auth\/logout" data-signout><input type="hidden" name="csrf" value="[^"]+">/, 'sign-out posts with the CSRF token')
  t.match(html, 'data-x-y="&#34;quoted&#34;"', 'data attributes escaped')
  t.notMatch(html, /<style|<script>|style="/, 'no inline style or script')
  t.match(html, /<script src="\/auth\/session.js" defer><\/script>\n<script src="\/auth\/assets\/frame.js" defer><\/script>\n<script src="\/app.js" defer><\/script>/)
})

t.test('assets are served to anyone (the sign-in page needs them); the guide and invisible-character rules come with the script', async (t) => {
  const { url } = await start(t)
  const css = await fetch(`${url}/auth/assets/frame.css`)
  t.equal(css.status, 200)
  t.match(css.headers.get('content-type'), /^text\/css/)
  t.notMatch(await css.text(), /https?:\/\/|@import/, 'nothing from elsewhere')
  const js = await fetch(`${url}/auth/assets/frame.js`)
  t.equal(js.status, 200)
  const script = await js.text()
  t.match(script, /^window\.kmsGuide = \{/)
  t.match(script, '"TEST_CODE":{"title":"A test went {how}."')
  const login = await (await fetch(`${url}/auth/login`)).text()
  t.match(login, '<link rel="stylesheet" href="/auth/assets/frame.css">')
  t.notMatch(login, /<style/)
})

t.test('Swagger UI at /docs from its own files, behind sign-in; /docs/json stays', async (t) => {
  const { url } = await start(t)
  const anonymous = await fetch(`${url}/docs/json`)
  t.equal(anonymous.status, 401, 'the docs need a caller like every other route')
  await anonymous.arrayBuffer()
  const auth = { authorization: `Bearer ${TOKEN}` }
  const spec = await fetch(`${url}/docs/json`, { headers: auth })
  t.equal(spec.status, 200)
  t.equal(((await spec.json()) as { openapi: string }).openapi.slice(0, 2), '3.')
  const page = await fetch(`${url}/docs/`, { headers: auth })
  t.equal(page.status, 200)
  const html = await page.text()
  t.match(html, '<title>kms-share upload · API</title>')
  t.notMatch(html, /(src|href)="(https?:)?\/\//, 'every asset from this service')
  t.match(page.headers.get('content-security-policy'), /script-src 'self';/)
  const bundle = await fetch(`${url}/docs/static/swagger-ui-bundle.js`, { headers: auth })
  t.equal(bundle.status, 200)
  t.ok((await bundle.arrayBuffer()).byteLength > 100_000, 'the bundle itself')
  t.match(await (await fetch(`${url}/docs/static/swagger-initializer.js`, { headers: auth })).text(), /validatorUrl/)
})

t.test('a navigation that ends in a problem reads as a sentence with the next step; scripts still get problem+json', async (t) => {
  const { url } = await start(t)
  const cookie = await signIn(url)
  const page = await fetch(`${url}/gone`, { headers: { cookie, accept: 'text/html,application/xhtml+xml' } })
  t.equal(page.status, 404)
  t.match(page.headers.get('content-type'), /^text\/html/)
  const html = await page.text()
  t.match(html, '<h1>This object does not exist (any more).</h1>')
  t.match(html, 'It was deleted or renamed: go back to the list of objects.')
  t.match(html, 'No such object: &#34;report.pdf&#34;')
  t.match(html, 'class="kms-header"', 'in the frame')
  const api = await fetch(`${url}/gone`, { headers: { cookie, accept: 'application/json' } })
  t.match(api.headers.get('content-type'), /^application\/problem\+json/)
  t.match(await api.json(), { code: 'SHR_AWS_NO_SUCH_KEY', status: 404 })
})

t.test('one date format: the server and the pages write the same', async (t) => {
  const values = ['2026-12-05T14:03:59.999Z', '1999-01-01T00:00:00Z', '2026-06-30T23:59:00.000+02:00', 1_700_000_000_000]
  t.equal(formatDate('2026-12-05T14:03:59.999Z'), '2026-12-05 14:03 UTC')
  t.equal(formatDate(null), '')
  t.equal(formatDate('not a date'), '')
  t.equal(timeHtml('2026-12-05T14:03:09Z'), '<time datetime="2026-12-05T14:03:09.000Z" title="2026-12-05T14:03:09.000Z">2026-12-05 14:03 UTC</time>')
  const window: Record<string, unknown> = {}
  runInNewContext(readFileSync(new URL('../assets/frame.js', import.meta.url), 'utf8'), { window, Date, Number, Object, Array, Promise, RegExp, String })
  const kms = window.kms as { formatDate(v: unknown): string; explain(p: unknown): unknown; formatBytes(n: number): string }
  for (const value of values) t.equal(kms.formatDate(value), formatDate(value), `same for ${value}`)
  t.equal(kms.formatBytes(1536), '1.5 KiB')
  for (const n of [0, 1023, 1536, 3800, 5_000_000, 3e12, 9e18]) t.equal(kms.formatBytes(n), formatBytes(n), `one size format for ${n}`)
})

t.test('the problem guide: a sentence and a next step for every shared code, filled from the problem', async (t) => {
  for (const Ctor of Object.values(SharedErrors)) {
    const code = new Ctor().code
    if (['SHR_MALFORMED_REQUEST', 'SHR_BAD_URL', 'SHR_URL_TOO_LONG', 'SHR_HEADERS_TOO_LARGE', 'SHR_UNSUPPORTED_MEDIA_TYPE', 'SHR_AWS_PRECONDITION_FAILED', 'SHR_AWS_INVALID_RANGE'].includes(code)) continue
    t.ok(PROBLEM_GUIDE[code], `${code} has a guide entry`)
  }
  t.match(explainProblem({ code: 'SHR_AWS_ACCESS_DENIED', status: 403, action: 'kms:Decrypt', detail: 'User: … is not authorized' }), { title: 'AWS refused kms:Decrypt to this service.', detail: 'User: … is not authorized' })
  t.match(explainProblem({ code: 'SHR_AWS_ACCESS_DENIED', status: 403 }), { title: 'The request failed.' }, 'no action: falls back instead of printing a hole')
  t.match(explainProblem({ code: 'SHR_MISSING_SCOPE', status: 403, missingGroups: ['uploaders', 'admins'] }), { next: /add you to uploaders or admins/ })
  t.match(explainProblem({ status: 502 }), { code: 'HTTP_502', title: 'The request failed.' })
})

t.test('the pages explain a problem with the same code as the server (the served frame.js carries problem-explain.js)', async (t) => {
  const { url, app } = await start(t)
  const window: Record<string, unknown> = {}
  runInNewContext(await (await fetch(`${url}/auth/assets/frame.js`)).text(), { window, Date, Number, Object, Array, Promise, RegExp, String })
  const kms = window.kms as { explain(p: unknown): unknown }
  const problems = [
    { code: 'SHR_AWS_ACCESS_DENIED', status: 403, action: 'kms:Decrypt', detail: 'User: … is not authorized', requestId: 'req-1' },
    { code: 'SHR_AWS_ACCESS_DENIED', status: 403, title: 'Forbidden' },
    { code: 'SHR_MISSING_SCOPE', status: 403, missingGroups: ['uploaders', 'admins'] },
    { code: 'TEST_CODE', status: 400, how: 'well' },
    { code: 'toString', status: 500 },
    { status: 502, title: 'Bad Gateway' },
  ]
  for (const problem of problems) t.same(kms.explain(problem), explainProblem(problem, app.frame.guide), `same for ${problem.code ?? problem.status}`)
  t.match(kms.explain(problems[3]), { title: 'A test went well.', next: 'Do it again.' }, "the service's own guide entries")
  t.match(kms.explain(null), { code: 'HTTP_0', title: 'The request failed.' })
})
