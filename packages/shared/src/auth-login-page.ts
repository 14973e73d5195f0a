// The sign-in page served at GET /auth/login and its script at GET /auth/login.js. A sign-in
// link carries the token in the URL fragment (#token=…), which browsers never send to servers.
import { anonymousHeader, escapeHtml, FRAME_CSS_PATH } from './auth-pages.js'

/** The page's Content-Security-Policy: its own script only, no inline script. */
export const LOGIN_PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

export function renderLoginPage(service: string): string {
  const title = escapeHtml(service)
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Sign in · kms-share ${title}</title>
<link rel="stylesheet" href="${FRAME_CSS_PATH}">
<script src="/auth/assets/frame.js" defer></script>
<script src="/auth/login.js" defer></script>
</head><body>
${anonymousHeader(service)}
<main id="main">
<h1>Sign in to kms-share ${title}</h1>
<p>Paste an API token (<code>kms_…</code>) or an OIDC access token. The page keeps a session cookie; the token itself is not stored.</p>
<form id="signin">
<p><label for="token">Token</label><br><input type="password" id="token" name="token" autocomplete="off" required size="60"></p>
<p><button type="submit" id="submit">Sign in</button></p>
</form>
<div id="status" role="status" aria-live="polite"></div>
</main>
</body></html>
`
}

export const LOGIN_SCRIPT = String.raw`'use strict'
;(function () {
  var form = document.getElementById('signin')
  var input = document.getElementById('token')
  var status = document.getElementById('status')
  // next is resolved against this page's own origin, as the browser will: "/\t/evil.example" is "//evil.example" once
  // tabs are stripped, so a pattern on the raw text is not enough. Anything that leaves this origin becomes "/".
  var next = '/'
  try {
    var target = new URL(new URLSearchParams(location.search).get('next') || '/', location.origin + '/')
    if (target.origin === location.origin) next = target.pathname + target.search + target.hash
  } catch (e) { next = '/' }

  function signIn(token) {
    status.className = ''; status.textContent = 'Signing in…'
    fetch('/auth/session', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ token: token }) })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b } }) })
      .then(function (res) {
        if (res.ok) { status.textContent = 'Signed in as ' + res.body.name; location.replace(next); return }
        if (window.kms) { status.className = ''; window.kms.showError(status, res.body || { status: 0 }, 'Sign-in failed'); return }
        status.className = 'kms-message kms-error'; status.textContent = (res.body && (res.body.title + ': ' + res.body.detail)) || 'Sign-in failed'
      })
      .catch(function () { status.className = 'kms-message kms-error'; status.textContent = 'Sign-in failed: the service did not answer.' })
  }

  var hash = new URLSearchParams(location.hash.slice(1))
  var fromLink = hash.get('token')
  if (fromLink) {
    // Drop the token from the address bar and history before anything else.
    history.replaceState(null, '', location.pathname + location.search)
    signIn(fromLink)
  }
  form.addEventListener('submit', function (e) {
    e.preventDefault()
    if (input.value.trim()) signIn(input.value.trim())
  })
})()
`
