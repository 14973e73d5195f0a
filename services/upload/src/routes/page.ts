// GET /: the uploader page (picker, drag-and-drop, progress, the key ARN that encrypted the
// file, the bucket's objects linking to the download service). No framework; every object
// name reaches the DOM through textContent or encodeURIComponent, never as HTML.
import type { FastifyPluginAsync } from 'fastify'
import { Type } from 'typebox'
import type { UploadConfig } from '../config.js'
import { escapeHtml, OBJECTS_SCRIPT_PATH, type FrameLinks } from '@kms-share/shared'
import { PAGE_SCRIPT } from './page-script.js'

/** Escapes text for an HTML attribute or text node. */
export { escapeHtml }

/** The page's content (inside the frame). */
export function renderPage(config: Pick<UploadConfig, 'BUCKET' | 'DOWNLOAD_PUBLIC_URL' | 'KMS_KEY_ID'>, links: Pick<FrameLinks, 'download' | 'keyadmin'>): string {
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
<section aria-labelledby="objects-title">
<h2 id="objects-title">Objects in the bucket</h2>
<div id="objects-browser" data-list="/files" data-link="${escapeHtml(links.download)}files/" data-bucket="${escapeHtml(config.BUCKET)}" data-audit="${escapeHtml(links.keyadmin)}" data-empty="No objects yet. Upload a file above: it appears here." data-encryption-note="Written as SSE-KMS under ${escapeHtml(config.KMS_KEY_ID)}. This service cannot read an object's headers (it writes, never reads): the download service shows each object's key ARN."><p class="kms-muted">Loading the list…</p></div>
</section>`
}

export const pageRoutes: FastifyPluginAsync<{ config: UploadConfig }> = async (app, { config }) => {
  app.get('/', {
    schema: { summary: 'The uploader page.', tags: ['page'], produces: ['text/html'], response: { 200: Type.String() } },
  }, async (request, reply) => {
    return app.frame.send(request, reply, { title: 'Upload', main: renderPage(config, app.frame.links), scripts: [OBJECTS_SCRIPT_PATH, '/app.js'] })
  })
  app.get('/app.js', {
    schema: { summary: "The page's script.", tags: ['page'], produces: ['text/javascript'], response: { 200: Type.String() } },
  }, async (_request, reply) => {
    return reply.type('text/javascript; charset=utf-8').header('x-content-type-options', 'nosniff').send(PAGE_SCRIPT)
  })
}
