// Issue 22, row 11: download refuses `.` and `..` key segments, as upload refuses to write them —
// `GET /files/.` served the bucket listing (the lab resolved the path) and `x%2F..%2Fsecret.txt`
// became a second cache entry for `secret.txt`. Each is a 400 problem naming the segment; nothing
// reaches S3 or the cache. Raw paths (fetch would resolve the dots before sending).
import t from 'tap'
import { readdirSync } from 'node:fs'
import { request } from 'node:http'
import { AUTH, putObject, s3As, scratchDir, startDownload, startTestLab } from './helpers.js'

const lab = await startTestLab(t)
await putObject(s3As(lab, 'admin'), 'secret.txt', 'the secret', undefined, false)
const cacheDir = scratchDir(t)
const service = await startDownload(t, lab, 'downloader', { CACHE_DIR: cacheDir, CACHE_SWEEP_INTERVAL: '0', LOG_LEVEL: 'silent' })
const { port } = new URL(service.url)

function raw(method: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, method, path, headers: AUTH }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }))
    }).on('error', reject).end()
  })
}

t.test('. and .. segments are refused with a problem, plain or percent-encoded', async (t) => {
  for (const path of ['/files/.', '/files/..', '/files/%2E', '/files/x%2F..%2Fsecret.txt', '/files/x/../secret.txt', '/files/a/./secret.txt', '/files/a/%2e%2e/secret.txt', '/files/secret.txt/..']) {
    const res = await raw('GET', path)
    t.equal(res.status, 400, `GET ${path}: 400`)
    t.match(res.type, /application\/problem\+json/)
    const problem = JSON.parse(res.body) as { code: string; detail: string }
    t.equal(problem.code, 'DWN_INVALID_KEY')
    t.match(problem.detail, /"\.{1,2}" path segments are not allowed/)
    t.equal((await raw('HEAD', path)).status, 400, `HEAD ${path}: 400`)
  }
  t.same(readdirSync(cacheDir).filter((f) => f.startsWith('localfile-')), [], 'nothing was cached')
  const plain = await raw('GET', '/files/secret.txt')
  t.equal(plain.status, 200)
  t.equal(plain.body, 'the secret', 'the object itself is served')
  t.same(readdirSync(cacheDir).filter((f) => f.startsWith('localfile-')), ['localfile-secret.txt'], 'under its one cache entry')
})
