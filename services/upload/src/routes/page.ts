// GET /: the uploader page (picker, drag-and-drop, progress, the key ARN that encrypted the
// file, the bucket's objects linking to the download service). No framework; every object
// name reaches the DOM through textContent or encodeURIComponent, never as HTML.
import type { FastifyPluginAsync } from 'fastify'
import { Type } from 'typebox'
import type { UploadConfig } from '../config.js'
import { escapeHtml } from '@kms-share/shared'
import { PAGE_SCRIPT } from './page-script.js'

/** Escapes text for an HTML attribute or text node. */
export { escapeHtml }

/** The page's content (inside the frame). */
export function renderPage(config: Pick<UploadConfig, 'BUCKET' | 'DOWNLOAD_PUBLIC_URL'>): string {
  return `<h1>Upload a file</h1>
<p class="kms-lead">Files go to <code>${escapeHtml(config.BUCKET)}</code>, encrypted by S3 under the service's KMS key (SSE-KMS). This service can write, never read: files are read through the <a href="${escapeHtml(config.DOWNLOAD_PUBLIC_URL)}">download service</a>.</p>
<form id="form">
  <div id="drop" class="kms-drop">
    <p><label for="file">Drop a file here, or pick one</label></p>
    <input type="file" id="file" name="file">
    <p><label for="key">Name in the bucket (optional; a / makes folders)</label><br><input type="text" id="key" name="key" size="40" placeholder="the file name"></p>
    <p><label><input type="checkbox" id="overwrite"> Replace an existing object of that name</label></p>
    <button type="submit" id="upload">Upload</button>
  </div>
</form>
<progress id="progress" class="kms-progress" value="0" max="100" hidden aria-label="Upload progress"></progress>
<div id="status" role="status" aria-live="polite"></div>
<section id="result" hidden aria-labelledby="result-title">
  <h2 id="result-title">Stored</h2>
  <dl class="kms-facts">
    <dt>Name</dt><dd id="result-key"></dd>
    <dt>Size</dt><dd id="result-size"></dd>
    <dt>ETag</dt><dd id="result-etag"></dd>
    <dt>Encryption</dt><dd id="result-sse"></dd>
    <dt>KMS key ARN</dt><dd id="result-key-arn"></dd>
    <dt>Bucket key</dt><dd id="result-bucket-key"></dd>
  </dl>
</section>
<h2>Objects in the bucket</h2>
<table id="objects" class="kms-table"><colgroup><col><col class="kms-col-size"><col class="kms-col-date"></colgroup><thead><tr><th scope="col">Name</th><th scope="col" class="kms-num">Size</th><th scope="col" class="kms-wide">Last modified</th></tr></thead><tbody></tbody></table>
<p><button type="button" id="more" class="kms-secondary" hidden>More</button></p>`
}

export const pageRoutes: FastifyPluginAsync<{ config: UploadConfig }> = async (app, { config }) => {
  app.get('/', {
    schema: { summary: 'The uploader page.', tags: ['page'], produces: ['text/html'], response: { 200: Type.String() } },
  }, async (request, reply) => {
    return app.frame.send(request, reply, { title: 'Upload', main: renderPage(config), scripts: ['/app.js'], data: { 'download-url': config.DOWNLOAD_PUBLIC_URL } })
  })
  app.get('/app.js', {
    schema: { summary: "The page's script.", tags: ['page'], produces: ['text/javascript'], response: { 200: Type.String() } },
  }, async (_request, reply) => {
    return reply.type('text/javascript; charset=utf-8').header('x-content-type-options', 'nosniff').send(PAGE_SCRIPT)
  })
}
