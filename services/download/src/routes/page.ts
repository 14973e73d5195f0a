// GET /: the workshop's page — the bucket's objects (download links) and the local files.
import type { FastifyInstance } from 'fastify'
import { ProblemError, showInvisible } from '@kms-share/shared'
import { Type } from 'typebox'
import { escapeHtml } from '../http-headers.js'
import { listFiles, type FileItem } from '../listing.js'

export interface PageRouteOptions {
  bucket: string
  uploadPublicUrl: string
}

/** How an object is encrypted, as the workshop's console showed it: algorithm and KMS key. */
function encryptionCell(item: FileItem): string {
  if (!item.encryption) return `<span class="warn">${escapeHtml(item.encryptionError ?? 'unknown')}</span>`
  const { algorithm, kmsKeyArn, bucketKeyEnabled } = item.encryption
  const key = kmsKeyArn ? ` <code title="${escapeHtml(kmsKeyArn)}">${escapeHtml(kmsKeyArn.replace(/^arn:[^:]+:kms:[^:]*:[^:]*:/, ''))}</code>` : ''
  return `${escapeHtml(algorithm ?? 'none')}${key}${bucketKeyEnabled ? ' <span class="muted">(bucket key)</span>' : ''}`
}

/** A path for /files/<key> that keeps `/` as separators and encodes everything else. */
export function fileHref(key: string): string {
  return '/files/' + key.split('/').map(encodeURIComponent).join('/')
}

function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = size / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd;font-size:.92rem}
th{background:#f4f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.85rem}
.muted{color:#666}.warn{color:#a15c00}nav a{margin-right:1rem}`

export async function pageRoutes(app: FastifyInstance, options: PageRouteOptions) {
  const { cache } = app.downloader

  app.get('/', {
    schema: {
      summary: "The download page: the bucket's objects and the local files.",
      tags: ['page'],
      response: { 200: Type.String({ description: 'text/html' }) },
    },
  }, async (request, reply) => {
    let objects: FileItem[] = []
    let listError: string | undefined
    try {
      objects = (await listFiles(app.s3, options.bucket, cache, { limit: 1000 }, app.encryptionLookup)).items
    } catch (err) {
      if (!(err instanceof ProblemError)) throw err
      listError = `${err.problem.awsErrorCode ?? err.problem.code}: ${err.problem.detail ?? err.problem.title}`
      request.log.warn({ awsErrorCode: err.problem.awsErrorCode }, 'listing the bucket failed')
    }
    const objectRows = objects.map((o) => `<tr><td><a href="${escapeHtml(fileHref(o.key))}" data-key="${escapeHtml(o.key)}">${escapeHtml(showInvisible(o.key))}</a></td><td class="num">${escapeHtml(formatBytes(o.size))}</td><td>${escapeHtml(o.lastModified ?? '')}</td><td class="enc">${encryptionCell(o)}</td></tr>`)
    const localRows = cache.list().map((e) => `<tr><td><code class="localfile">${escapeHtml(e.name)}</code></td><td>${escapeHtml(showInvisible(e.key))}</td><td class="num">${escapeHtml(formatBytes(e.size))}</td><td>${escapeHtml(e.cachedAt)}</td></tr>`)
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>kms-share · download</title><style>${STYLE}</style></head>
<body>
<h1>kms-share · download</h1>
${app.auth.signOutHtml(request, reply)}
<nav><a href="${escapeHtml(options.uploadPublicUrl)}">Upload a file</a><a href="/files">Objects as JSON</a><a href="/cache">Local files as JSON</a></nav>
<h2>Objects in <code>${escapeHtml(options.bucket)}</code></h2>
${listError ? `<p class="warn" id="list-error">${escapeHtml(listError)}</p>` : ''}
${objectRows.length ? `<table id="objects"><thead><tr><th>Key</th><th>Size</th><th>Last modified</th><th>Encryption</th></tr></thead><tbody>${objectRows.join('')}</tbody></table>` : '<p class="muted" id="objects-empty">No objects.</p>'}
<h2>Local files</h2>
${cache.enabled ? '' : '<p class="warn">The cache folder is not writable: files are streamed without a local copy.</p>'}
${localRows.length ? `<table id="local-files"><thead><tr><th>File</th><th>Object key</th><th>Size</th><th>Cached at</th></tr></thead><tbody>${localRows.join('')}</tbody></table>` : '<p class="muted" id="local-empty">No local files yet.</p>'}
</body></html>`
    return reply
      .type('text/html; charset=utf-8')
      // No script: sign-out is a plain form, which may go on to the provider's end-session page (so no form-action: it binds redirects too).
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
      .header('cache-control', 'no-store')
      .send(html)
  })
}
