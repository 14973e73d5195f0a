// The pages the sign-in routes answer (after the provider sends the person back, after sign-out, when
// a group is missing) and the script every service page loads first (/auth/session.js): a session
// that expired or was revoked sends the person to sign in and back; sign-out ends the session here and
// at the provider. Values reach the HTML escaped; no inline script.

/** Pages without script: a meta refresh and links only; styles from the frame's file. */
export const AUTH_PAGE_CSP = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** The frame's style sheet (served by the frame plugin under /auth/, so pages before sign-in have it too). */
export const FRAME_CSS_PATH = '/auth/assets/frame.css'

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The frame's header before anyone is signed in: the name of the service only. */
export function anonymousHeader(service: string): string {
  return `<header class="kms-header"><div class="kms-header-inner"><a class="kms-brand" href="/">kms-share <span>${escapeHtml(service)}</span></a></div></header>`
}

/** A page of the sign-in routes, in the frame (no inline style or script). */
export function authLayout(service: string, title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)} · kms-share ${escapeHtml(service)}</title>${head}<link rel="stylesheet" href="${FRAME_CSS_PATH}"></head>
<body>
${anonymousHeader(service)}
<main id="main">
${body}
</main></body></html>
`
}

/**
 * After the provider's redirect: the session cookie is SameSite=Strict, and a browser does not send it
 * on the rest of a redirect chain that began on another site; a navigation this page starts is same-site.
 */
export function continuePage(next: string): string {
  const href = escapeHtml(next)
  return authLayout('', 'Signed in', `<h1>Signed in</h1><p><a href="${href}" id="continue">Continue</a></p>`, `<meta http-equiv="refresh" content="0;url=${href}">`)
}

export function signInFailedPage(service: string, reason: string, retry: string): string {
  return authLayout(service, 'Sign-in did not complete', `<h1>Sign-in did not complete</h1>
<div class="kms-message kms-error" role="alert"><p>${escapeHtml(reason)}</p></div>
<p><a class="kms-button" href="${escapeHtml(retry)}">Sign in to ${escapeHtml(service)} again</a></p>`)
}

export function signedOutPage(service: string): string {
  return authLayout(service, 'Signed out', `<h1>You are signed out</h1>
<p>You are signed out of kms-share ${escapeHtml(service)} and of the other kms-share services.</p>
<p><a class="kms-button" href="/auth/login">Sign in again</a></p>`)
}

/** Sign-out as a form: with /auth/session.js it posts by fetch (pages whose CSP limits form targets), without it natively. */
export function signOutForm(name: string, csrfToken: string): string {
  return `<p class="kms-auth">Signed in as <strong>${escapeHtml(name)}</strong> · <form class="kms-signout" method="post" action="/auth/logout" data-signout><input type="hidden" name="csrf" value="${escapeHtml(csrfToken)}"><button type="submit" id="signout">Sign out</button></form></p>`
}

export interface MissingGroupInput {
  service: string
  name: string
  groups: readonly string[]
  /** Each missing scope and the groups that would give it. */
  missing: Array<{ scope: string; groups: string[] }>
  signOut: string
}

export function missingGroupPage(input: MissingGroupInput): string {
  const needs = input.missing.map(({ scope, groups }) => groups.length
    ? `<li>the group ${groups.map((g) => `<strong class="group">${escapeHtml(g)}</strong>`).join(' or ')} (for <code>${escapeHtml(scope)}</code>)</li>`
    : `<li>the scope <code>${escapeHtml(scope)}</code>, which no group gives here</li>`).join('')
  const held = input.groups.length ? input.groups.map((g) => `<strong>${escapeHtml(g)}</strong>`).join(', ') : 'no groups'
  return authLayout(input.service.replace(/^kms-share /, ''), `Not allowed on ${input.service}`, `<h1>You are not allowed on ${escapeHtml(input.service)}</h1>
${input.signOut}
<p>This page needs you to be a member of</p><ul id="missing">${needs}</ul>
<p>You are in ${held}. Ask whoever manages kms-share's groups to add you, then sign in again.</p>`)
}

/** /auth/session.js: loaded first by every page. */
export const SESSION_SCRIPT = String.raw`'use strict'
;(function () {
  var pageFetch = window.fetch.bind(window)
  function here() { return location.pathname + location.search + location.hash }
  // To the sign-in page and back to where the person was; with the provider's session alive, no password is asked.
  function signInAgain() { location.assign('/auth/login?next=' + encodeURIComponent(here())) }
  // RFC 9470 step-up: through the provider again (max_age, acr_values), then back here.
  function stepUp() { location.assign('/auth/login?step_up=1&next=' + encodeURIComponent(here())) }
  function isStepUp(response) { return response.status === 401 && /insufficient_user_authentication/.test(response.headers.get('www-authenticate') || '') }
  var csrf = null
  function csrfToken() {
    if (!csrf) csrf = pageFetch('/auth/csrf', { headers: { accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json().then(function (b) { return b.token }) : null })
      .catch(function () { return null })
    return csrf
  }
  // A 401 from this service (not a step-up) means the session expired or was ended elsewhere: sign in again.
  window.fetch = function (input, init) {
    return pageFetch(input, init).then(function (response) {
      var url = new URL(response.url || String(input && input.url || input), location.href)
      if (response.status === 401 && url.origin === location.origin && url.pathname.indexOf('/auth/') !== 0 && !isStepUp(response)) {
        signInAgain()
        return new Promise(function () {})
      }
      return response
    })
  }
  function signOut(form) {
    var field = form && form.querySelector('input[name=csrf]')
    var token = field ? Promise.resolve(field.value) : csrfToken()
    token.then(function (t) {
      return pageFetch('/auth/logout', { method: 'POST', headers: { accept: 'application/json', 'x-csrf-token': t || '' } })
    }).then(function (r) { return r.json() }).then(function (b) { location.assign(b.location || '/auth/signed-out') })
      .catch(function () { location.assign('/auth/signed-out') })
  }
  document.addEventListener('submit', function (e) {
    if (e.target && e.target.hasAttribute && e.target.hasAttribute('data-signout')) { e.preventDefault(); signOut(e.target) }
  })
  document.addEventListener('click', function (e) {
    var button = e.target && e.target.closest && e.target.closest('button[data-signout]')
    if (button) { e.preventDefault(); signOut(null) }
  })
  window.kmsAuth = { signInAgain: signInAgain, stepUp: stepUp, isStepUp: isStepUp, csrfToken: csrfToken, signOut: signOut }
})()
`
