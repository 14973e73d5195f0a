// GET /: the uploader page (picker, drag-and-drop, progress, the key ARN that encrypted the
// file, the bucket's objects linking to the download service). No framework; every object
// name reaches the DOM through textContent or encodeURIComponent, never as HTML.
import type { FastifyPluginAsync } from 'fastify'
import { Type } from 'typebox'
import type { UploadConfig } from '../config.js'
import { PAGE_SCRIPT } from './page-script.js'

const CSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** Escapes text for an HTML attribute or text node. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The page; `signOut` is the sign-in line and sign-out form of the session (HTML from the auth plugin), or ''. */
export function renderPage(config: Pick<UploadConfig, 'BUCKET' | 'DOWNLOAD_PUBLIC_URL'>, signOut = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kms-share · upload</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 56rem; padding: 0 1rem; color: #1d1d1f; }
  #drop { border: 2px dashed #8a8a8e; border-radius: 8px; padding: 2rem; text-align: center; }
  #drop.over { border-color: #0060df; background: #eef4ff; }
  progress { width: 100%; height: 1.2rem; }
  table { border-collapse: collapse; width: 100%; margin-top: .5rem; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; word-break: break-all; }
  .error { color: #b00020; white-space: pre-wrap; }
  code { font-size: .9em; }
</style>
</head>
<body data-download-url="${escapeHtml(config.DOWNLOAD_PUBLIC_URL)}">
<h1>Upload a file</h1>
${signOut}
<p>Files go to <code>${escapeHtml(config.BUCKET)}</code>, encrypted by S3 under the service's KMS key (SSE-KMS). This service can write, never read.</p>
<form id="form">
  <div id="drop">
    <p>Drop a file here, or pick one:</p>
    <input type="file" id="file" name="file">
    <p><label>Name in the bucket (optional): <input type="text" id="key" name="key" size="40" placeholder="the file name"></label>
    <label><input type="checkbox" id="overwrite"> replace an existing object</label></p>
    <button type="submit" id="upload">Upload</button>
  </div>
</form>
<progress id="progress" value="0" max="100" hidden></progress>
<div id="status" role="status" aria-live="polite"></div>
<section id="result" hidden>
  <h2>Stored</h2>
  <table><tbody>
    <tr><th>Key</th><td id="result-key"></td></tr>
    <tr><th>Size</th><td id="result-size"></td></tr>
    <tr><th>ETag</th><td id="result-etag"></td></tr>
    <tr><th>Encryption</th><td id="result-sse"></td></tr>
    <tr><th>KMS key ARN</th><td id="result-key-arn"></td></tr>
    <tr><th>Bucket key</th><td id="result-bucket-key"></td></tr>
  </tbody></table>
</section>
<h2>Objects in the bucket</h2>
<table id="objects"><thead><tr><th>Name</th><th>Size</th><th>Last modified</th></tr></thead><tbody></tbody></table>
<p><button type="button" id="more" hidden>More</button></p>
<script src="/auth/session.js" defer></script>
<script src="/app.js" defer></script>
</body>
</html>
`
}

export const pageRoutes: FastifyPluginAsync<{ config: UploadConfig }> = async (app, { config }) => {
  app.get('/', {
    schema: { summary: 'The uploader page.', tags: ['page'], produces: ['text/html'], response: { 200: Type.String() } },
  }, async (request, reply) => {
    const html = renderPage(config, app.auth.signOutHtml(request, reply))
    return reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-store').send(html)
  })
  app.get('/app.js', {
    schema: { summary: "The page's script.", tags: ['page'], produces: ['text/javascript'], response: { 200: Type.String() } },
  }, async (_request, reply) => {
    return reply.type('text/javascript; charset=utf-8').header('x-content-type-options', 'nosniff').send(PAGE_SCRIPT)
  })
}
