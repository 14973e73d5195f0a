// GET /: the workshop's page — the bucket's objects (the shared object browser over GET /files) and the local files.
import type { FastifyInstance } from 'fastify'
import { formatBytes, OBJECTS_SCRIPT_PATH, showInvisible, timeHtml } from '@kms-share/shared'
import { Type } from 'typebox'
import { escapeHtml } from '../http-headers.js'

export interface PageRouteOptions {
  bucket: string
}

export async function pageRoutes(app: FastifyInstance, options: PageRouteOptions) {
  const { cache } = app.downloader

  app.get('/', {
    schema: {
      summary: "The download page: the bucket's objects (folders, sort, search, pages, details: all through GET /files and GET /details/*) and the local files.",
      tags: ['page'],
      response: { 200: Type.String({ description: 'text/html' }) },
    },
  }, async (request, reply) => {
    const localRows = cache.list().map((e) => `<tr><td><code class="localfile kms-cut" title="${escapeHtml(e.name)}">${escapeHtml(e.name)}</code></td><td><span class="kms-cut" title="${escapeHtml(e.key)}">${escapeHtml(showInvisible(e.key))}</span></td><td class="kms-num">${escapeHtml(formatBytes(e.size))}</td><td class="kms-wide">${timeHtml(e.cachedAt)}</td></tr>`)
    const main = `<h1>Download</h1>
<p class="kms-lead">Objects in <code>${escapeHtml(options.bucket)}</code>, read as the downloader role (S3 asks KMS to decrypt each one) through a local cache of <code>localfile-</code> copies.</p>
<section aria-labelledby="objects-title">
<h2 id="objects-title">Objects</h2>
<div id="objects-browser" data-list="/files" data-details="/details/" data-link="/files/" data-encryption="1" data-bucket="${escapeHtml(options.bucket)}" data-audit="${escapeHtml(app.frame.links.keyadmin)}" data-empty="No objects yet. Files uploaded on the upload page appear here."><p class="kms-muted">Loading the list…</p></div>
</section>
<section aria-labelledby="local-title">
<h2 id="local-title">Local files</h2>
${cache.enabled ? '' : '<div class="kms-message kms-warn"><p>The cache folder is not writable: files are streamed without a local copy.</p></div>'}
${localRows.length ? `<table id="local-files" class="kms-table"><colgroup><col><col><col class="kms-col-size"><col class="kms-col-date"></colgroup><thead><tr><th scope="col">File</th><th scope="col">Object</th><th scope="col" class="kms-num">Size</th><th scope="col" class="kms-wide">Cached at</th></tr></thead><tbody>${localRows.join('')}</tbody></table>` : '<p class="kms-empty" id="local-empty">No local files yet: download an object and its <code>localfile-</code> copy appears here.</p>'}
</section>`
    return app.frame.send(request, reply, { title: 'Download', main, scripts: [OBJECTS_SCRIPT_PATH] })
  })
}
