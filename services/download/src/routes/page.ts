// GET /: the workshop's page — the bucket's objects (download links) and the local files.
import type { FastifyInstance } from 'fastify'
import { ProblemError, showInvisible, timeHtml } from '@kms-share/shared'
import { Type } from 'typebox'
import { escapeHtml } from '../http-headers.js'
import { listFiles, type FileItem } from '../listing.js'

export interface PageRouteOptions {
  bucket: string
}

/** How an object is encrypted, as the workshop's console showed it: algorithm and KMS key. */
function encryptionCell(item: FileItem): string {
  if (!item.encryption) return `<span class="kms-warn-text">${escapeHtml(item.encryptionError ?? 'unknown')}</span>`
  const { algorithm, kmsKeyArn, bucketKeyEnabled } = item.encryption
  const key = kmsKeyArn ? ` <code title="${escapeHtml(kmsKeyArn)}">${escapeHtml(kmsKeyArn.replace(/^arn:[^:]+:kms:[^:]*:[^:]*:/, ''))}</code>` : ''
  return `${escapeHtml(algorithm ?? 'none')}${key}${bucketKeyEnabled ? ' <span class="kms-muted">(bucket key)</span>' : ''}`
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
    const objectRows = objects.map((o) => `<tr><td><a class="kms-cut" href="${escapeHtml(fileHref(o.key))}" data-key="${escapeHtml(o.key)}" title="${escapeHtml(o.key)}">${escapeHtml(showInvisible(o.key))}</a></td><td class="kms-num">${escapeHtml(formatBytes(o.size))}</td><td class="kms-wide">${timeHtml(o.lastModified)}</td><td class="enc kms-wide">${encryptionCell(o)}</td></tr>`)
    const localRows = cache.list().map((e) => `<tr><td><code class="localfile kms-cut" title="${escapeHtml(e.name)}">${escapeHtml(e.name)}</code></td><td><span class="kms-cut" title="${escapeHtml(e.key)}">${escapeHtml(showInvisible(e.key))}</span></td><td class="kms-num">${escapeHtml(formatBytes(e.size))}</td><td class="kms-wide">${timeHtml(e.cachedAt)}</td></tr>`)
    const main = `<h1>Download</h1>
<p class="kms-lead">Objects in <code>${escapeHtml(options.bucket)}</code>, read as the downloader role through a local cache of <code>localfile-</code> copies.</p>
<h2>Objects</h2>
${listError ? `<div class="kms-message kms-error" role="alert" id="list-error"><p>${escapeHtml(listError)}</p></div>` : ''}
${objectRows.length ? `<table id="objects" class="kms-table"><colgroup><col><col class="kms-col-size"><col class="kms-col-date"><col class="kms-col-enc"></colgroup><thead><tr><th scope="col">Name</th><th scope="col" class="kms-num">Size</th><th scope="col" class="kms-wide">Last modified</th><th scope="col" class="kms-wide">Encryption</th></tr></thead><tbody>${objectRows.join('')}</tbody></table>` : '<p class="kms-empty" id="objects-empty">No objects yet. Upload files on the upload page; they appear here.</p>'}
<h2>Local files</h2>
${cache.enabled ? '' : '<div class="kms-message kms-warn"><p>The cache folder is not writable: files are streamed without a local copy.</p></div>'}
${localRows.length ? `<table id="local-files" class="kms-table"><colgroup><col><col><col class="kms-col-size"><col class="kms-col-date"></colgroup><thead><tr><th scope="col">File</th><th scope="col">Object</th><th scope="col" class="kms-num">Size</th><th scope="col" class="kms-wide">Cached at</th></tr></thead><tbody>${localRows.join('')}</tbody></table>` : '<p class="kms-empty" id="local-empty">No local files yet: download an object and its copy appears here.</p>'}`
    return app.frame.send(request, reply, { title: 'Download', main })
  })
}
