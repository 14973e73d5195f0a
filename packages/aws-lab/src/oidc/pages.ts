// The provider's own pages: sign-in (user name and password, then the authenticator code where the
// person has one), sign-out, and errors said plainly. No script but the sign-out page's one line,
// allowed by its hash; every value reaches the HTML escaped.
import { hash } from 'node:crypto'

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:3rem auto;max-width:24rem;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input{font:inherit;width:100%;box-sizing:border-box;padding:.45rem;border:1px solid #8a8a8e;border-radius:4px}
button{font:inherit;padding:.45rem 1rem;margin:1rem .5rem 0 0;border-radius:4px;border:1px solid #0060df;background:#0060df;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0060df}.error{color:#b00020;border-left:3px solid #b00020;padding-left:.6rem}
.hint{color:#555;font-size:.9rem}`

/** No script, no framing, nothing fetched from elsewhere; forms may post back here and redirect on to the clients. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)} · kms-share</title><style>${STYLE}</style></head>
<body><main>
${body}
</main></body></html>
`
}

function errorBlock(error: string | undefined): string {
  return error ? `<p class="error" id="error" role="alert">${escapeHtml(error)}</p>` : ''
}

export interface LoginPageInput {
  action: string
  abortAction: string
  clientName: string
  username?: string
  /** Re-authentication (step-up or max_age): the person is known, only the password and code are asked. */
  reauth?: boolean
  error?: string
}

export function loginPage(input: LoginPageInput): string {
  const described = input.error ? ' aria-describedby="error" aria-invalid="true"' : ''
  const heading = input.reauth ? 'Confirm it is you' : 'Sign in to kms-share'
  const lead = input.reauth
    ? `<p>${escapeHtml(input.clientName)} asks you to sign in again before a sensitive change.</p>`
    : `<p>to continue to ${escapeHtml(input.clientName)}.</p>`
  return layout(heading, `<h1>${heading}</h1>
${lead}
${errorBlock(input.error)}
<form method="post" action="${escapeHtml(input.action)}" novalidate>
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${escapeHtml(input.username ?? '')}"${input.username ? ' readonly' : ' autofocus'}${described}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${input.username ? ' autofocus' : ''}${described}>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${escapeHtml(input.abortAction)}"><button type="submit" class="secondary">Cancel</button></form>`)
}

export interface TotpPageInput {
  action: string
  abortAction: string
  username: string
  error?: string
}

export function totpPage(input: TotpPageInput): string {
  const described = input.error ? ' aria-describedby="error hint" aria-invalid="true"' : ' aria-describedby="hint"'
  return layout('Authenticator code', `<h1>Enter your authenticator code</h1>
<p>Signed in as <strong>${escapeHtml(input.username)}</strong>. Open your authenticator app and enter the code it shows for kms-share.</p>
${errorBlock(input.error)}
<form method="post" action="${escapeHtml(input.action)}" novalidate>
<label for="code">6-digit code</label>
<input id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required autofocus${described}>
<p class="hint" id="hint">The code changes every 30 seconds.</p>
<button type="submit">Verify</button>
</form>
<form method="post" action="${escapeHtml(input.abortAction)}"><button type="submit" class="secondary">Cancel</button></form>`)
}

export function errorPage(message: string): string {
  return layout('Sign-in problem', `<h1>Sign-in could not continue</h1>
<p>${escapeHtml(message)}</p>
<p>Go back to the page you came from and sign in again.</p>`)
}

export function signedOutPage(clientName: string | undefined): string {
  return layout('Signed out', `<h1>You are signed out</h1>
<p>You are signed out of kms-share${clientName ? ` and ${escapeHtml(clientName)}` : ''}. Close this tab, or go back to a service to sign in again.</p>`)
}

const SUBMIT_SCRIPT = 'document.forms[0].submit()'
/** The sign-out page's one script, allowed by its hash. */
export const SIGN_OUT_SCRIPT_CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${hash('sha256', SUBMIT_SCRIPT, 'base64')}'; base-uri 'none'; frame-ancestors 'none'`

/**
 * The provider's sign-out page. `form` is oidc-provider's hidden form (its CSRF token); asked by a
 * client that proved who it is (a valid id_token_hint), it goes on by itself — the person already
 * chose to sign out on that client's page.
 */
export function signOutPage(form: string, clientName: string | undefined, automatic: boolean): string {
  const withLogout = form.replace('</form>', '<input type="hidden" name="logout" value="yes"></form>')
  if (automatic) {
    return layout('Signing out', `<h1>Signing you out…</h1>
${withLogout}
<noscript><p>Press the button to finish signing out.</p></noscript>
<button type="submit" form="op.logoutForm">Sign out of kms-share</button>
<script>${SUBMIT_SCRIPT}</script>`)
  }
  return layout('Sign out', `<h1>Sign out of kms-share?</h1>
<p>${clientName ? `${escapeHtml(clientName)} asks to sign you out.` : 'A page asks to sign you out.'} This signs you out of every kms-share service.</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Sign out</button>
<button type="submit" form="op.logoutForm" class="secondary">Stay signed in</button>`)
}
