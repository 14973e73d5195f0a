// The pages' shared script (served as /auth/assets/frame.js after window.kmsGuide, the problem
// guide, window.kmsInvisible, the invisible-character rules, and window.kmsExplain, the server's own
// problem-explain.js): one date format, sizes, calls to the service's own API with the CSRF token,
// errors as sentences with the next step, confirmation dialogs. Every name and value reaches the
// DOM through textContent or attributes, never as HTML.
'use strict'
;(function () {
  const guide = window.kmsGuide || {}
  const explainProblem = window.kmsExplain
  const rules = window.kmsInvisible || {}
  const INVISIBLE = rules.invisible ? new RegExp(rules.invisible, 'u') : null
  const JOINING_SCRIPT = rules.joiningScript ? new RegExp(rules.joiningScript, 'u') : null
  const PICTOGRAPH = rules.pictograph ? new RegExp(rules.pictograph, 'u') : null

  /** "2026-12-05 14:03 UTC", as @kms-share/shared's formatDate writes it. */
  function formatDate(value) {
    if (value === null || value === undefined || value === '') return ''
    const date = value instanceof Date ? value : new Date(value)
    if (Number.isNaN(date.getTime())) return ''
    return date.toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
  }

  /** A <time> with the short form shown and the full timestamp in datetime and title. */
  function timeElement(value) {
    const shown = formatDate(value)
    const node = document.createElement('time')
    if (!shown) return node
    const iso = (value instanceof Date ? value : new Date(value)).toISOString()
    node.dateTime = iso
    node.title = iso
    node.textContent = shown
    return node
  }

  function formatBytes(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return ''
    if (n < 1024) return n + ' B'
    const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']
    let value = n / 1024
    let unit = 0
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
    return value.toFixed(1) + ' ' + units[unit]
  }

  /** A name with invisible characters written out (⟨U+202E⟩), as the services' showInvisible does. */
  function shownName(name) {
    if (!INVISIBLE) return name
    const chars = Array.from(name)
    return chars.map(function (ch, i) {
      if (!INVISIBLE.test(ch)) return ch
      const before = chars[i - 1] || ''
      const after = chars[i + 1] || ''
      if (ch === '\u200d' && PICTOGRAPH.test(before) && PICTOGRAPH.test(after)) return ch
      if ((ch === '\u200c' || ch === '\u200d') && JOINING_SCRIPT.test(before) && /[\p{L}\p{M}]/u.test(after)) return ch
      return '⟨U+' + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + '⟩'
    }).join('')
  }

  /** An object key as a path: "/" kept as separators, everything else encoded. */
  function encodeKey(key) { return key.split('/').map(encodeURIComponent).join('/') }

  /** What a person reads for a problem: { title, next, detail, code, status, requestId } (assets/problem-explain.js). */
  function explain(problem) { return explainProblem(problem, guide) }

  /** A message box for a problem (or an Error, or a status): what happened, AWS's or the service's sentence, the next step. */
  function errorBox(problem, context) {
    const e = problem instanceof Error
      ? { title: context ? context + ': the service did not answer.' : 'The service did not answer.', next: 'Check your connection and try again.', detail: '', code: 'NETWORK', status: 0 }
      : explain(problem)
    const box = document.createElement('div')
    box.className = 'kms-message kms-error'
    box.setAttribute('role', 'alert')
    box.dataset.code = e.code
    const title = document.createElement('p')
    const strong = document.createElement('strong')
    strong.textContent = (context && !(problem instanceof Error) ? context + ': ' : '') + e.title
    title.appendChild(strong)
    box.appendChild(title)
    if (e.detail && e.detail !== e.title) {
      const detail = document.createElement('p')
      detail.className = 'kms-detail'
      detail.textContent = e.detail
      box.appendChild(detail)
    }
    const next = document.createElement('p')
    next.className = 'kms-next'
    next.textContent = e.next
    if (e.code === 'SHR_UNAUTHENTICATED' || e.code === 'SHR_STEP_UP_REQUIRED') {
      const link = document.createElement('a')
      link.href = '/auth/login?next=' + encodeURIComponent(location.pathname + location.search)
      link.textContent = 'Sign in'
      next.append(' ', link)
    }
    box.appendChild(next)
    if (e.status) {
      const more = document.createElement('details')
      const summary = document.createElement('summary')
      summary.textContent = 'Technical details'
      more.appendChild(summary)
      more.appendChild(document.createTextNode(e.code + ' · HTTP ' + e.status + (e.requestId ? ' · request id ' + e.requestId : '')))
      box.appendChild(more)
    }
    return box
  }

  /** Puts an error (or clears it, with null) in a container. */
  function showError(container, problem, context) {
    if (!container) return
    container.replaceChildren(problem ? errorBox(problem, context) : '')
  }

  function csrfToken() {
    if (window.kmsAuth && window.kmsAuth.csrfToken) return window.kmsAuth.csrfToken()
    return Promise.resolve(null)
  }

  /**
   * A call to this service's own API: { ok, status, body }, the body parsed as JSON when it is JSON.
   * State-changing calls carry the CSRF token; a non-JSON answer becomes { status } for explain().
   */
  async function api(method, path, options) {
    const opts = options || {}
    const headers = Object.assign({ accept: 'application/json' }, opts.headers || {})
    let body = opts.body
    if (body !== undefined && !(body instanceof Blob) && typeof body !== 'string') {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(body)
    }
    if (method !== 'GET' && method !== 'HEAD') {
      const token = await csrfToken()
      if (token) headers['x-csrf-token'] = token
    }
    const response = await fetch(path, { method: method, headers: headers, body: body, signal: opts.signal })
    const type = response.headers.get('content-type') || ''
    let parsed = null
    if (/json/.test(type)) {
      try { parsed = await response.json() } catch (e) { parsed = null }
    }
    if (!response.ok && !(parsed && typeof parsed === 'object' && parsed.code)) parsed = { status: response.status, title: response.statusText || 'HTTP ' + response.status }
    return { ok: response.ok, status: response.status, body: parsed }
  }

  let dialogCount = 0
  /**
   * Asks before a destructive action: a modal dialog naming what will happen. Resolves true only when
   * the person presses the confirming button; Escape, Cancel and closing resolve false. Focus starts on Cancel.
   */
  function confirmAction(options) {
    const o = options || {}
    return new Promise(function (resolve) {
      const id = 'kms-confirm-' + (++dialogCount)
      const dialog = document.createElement('dialog')
      dialog.className = 'kms-dialog'
      dialog.setAttribute('aria-labelledby', id + '-title')
      dialog.setAttribute('aria-describedby', id + '-body')
      const heading = document.createElement('h2')
      heading.id = id + '-title'
      heading.textContent = o.title || 'Are you sure?'
      const body = document.createElement('div')
      body.id = id + '-body'
      if (o.body instanceof Node) body.appendChild(o.body)
      else { const p = document.createElement('p'); p.textContent = o.message || ''; body.appendChild(p) }
      const actions = document.createElement('div')
      actions.className = 'kms-dialog-actions'
      const cancel = document.createElement('button')
      cancel.type = 'button'
      cancel.className = 'kms-secondary'
      cancel.textContent = o.cancelLabel || 'Cancel'
      const ok = document.createElement('button')
      ok.type = 'button'
      ok.className = o.danger === false ? '' : 'kms-danger'
      ok.textContent = o.confirmLabel || 'Confirm'
      ok.dataset.confirm = 'yes'
      actions.append(cancel, ok)
      dialog.append(heading, body, actions)
      document.body.appendChild(dialog)
      const opener = document.activeElement
      let answer = false
      cancel.addEventListener('click', function () { dialog.close() })
      ok.addEventListener('click', function () { answer = true; dialog.close() })
      dialog.addEventListener('close', function () {
        dialog.remove()
        if (opener && opener.focus) opener.focus()
        resolve(answer)
      })
      dialog.showModal()
      cancel.focus()
    })
  }

  /** A modal with any content (object details): closes on Escape or its Close button. */
  function showDialog(title, content) {
    const id = 'kms-dialog-' + (++dialogCount)
    const dialog = document.createElement('dialog')
    dialog.className = 'kms-dialog'
    dialog.setAttribute('aria-labelledby', id + '-title')
    const heading = document.createElement('h2')
    heading.id = id + '-title'
    heading.textContent = title
    const actions = document.createElement('div')
    actions.className = 'kms-dialog-actions'
    const close = document.createElement('button')
    close.type = 'button'
    close.className = 'kms-secondary'
    close.textContent = 'Close'
    close.addEventListener('click', function () { dialog.close() })
    actions.appendChild(close)
    dialog.append(heading, content, actions)
    document.body.appendChild(dialog)
    const opener = document.activeElement
    dialog.addEventListener('close', function () { dialog.remove(); if (opener && opener.focus) opener.focus() })
    dialog.showModal()
    close.focus()
    return dialog
  }

  /** A <dl> of [label, value] pairs; a value may be a string or a Node. */
  function facts(pairs) {
    const dl = document.createElement('dl')
    dl.className = 'kms-facts'
    pairs.forEach(function (pair) {
      const dt = document.createElement('dt')
      dt.textContent = pair[0]
      const dd = document.createElement('dd')
      if (pair[1] instanceof Node) dd.appendChild(pair[1])
      else dd.textContent = pair[1] === null || pair[1] === undefined || pair[1] === '' ? '—' : String(pair[1])
      if (pair[2]) dd.dataset.field = pair[2]
      dl.append(dt, dd)
    })
    return dl
  }

  window.kms = {
    formatDate: formatDate,
    timeElement: timeElement,
    formatBytes: formatBytes,
    shownName: shownName,
    encodeKey: encodeKey,
    explain: explain,
    errorBox: errorBox,
    showError: showError,
    api: api,
    confirm: confirmAction,
    showDialog: showDialog,
    facts: facts,
  }
})()
