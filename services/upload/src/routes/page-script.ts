// The page's script, served as /app.js (a separate file so the CSP can forbid inline script).
import { INVISIBLE, JOINING_SCRIPT, PICTOGRAPH } from '@kms-share/shared'

export const PAGE_SCRIPT = String.raw`'use strict'
;(function () {
  var downloadUrl = document.body.getAttribute('data-download-url').replace(/\/+$/, '')
  var form = document.getElementById('form')
  var drop = document.getElementById('drop')
  var fileInput = document.getElementById('file')
  var keyInput = document.getElementById('key')
  var overwrite = document.getElementById('overwrite')
  var progress = document.getElementById('progress')
  var status = document.getElementById('status')
  var more = document.getElementById('more')
  var cursor = null
  // State-changing requests from a cookie session carry the CSRF token (none when the service runs with AUTH_DISABLED).
  var csrf = fetch('/auth/csrf', { headers: { accept: 'application/json' } })
    .then(function (r) { return r.ok ? r.json().then(function (b) { return b.token }) : null })
    .catch(function () { return null })

  function text(id, value) { document.getElementById(id).textContent = value }
  function encodeKey(key) { return key.split('/').map(encodeURIComponent).join('/') }
  function formatSize(n) {
    if (n < 1024) return n + ' B'
    var units = ['KiB', 'MiB', 'GiB', 'TiB']; var v = n; var i = -1
    do { v /= 1024; i++ } while (v >= 1024 && i < units.length - 1)
    return v.toFixed(1) + ' ' + units[i]
  }
  // A failed upload reads as failed: the bar turns red and stays where it stopped, the message says what to do.
  function failed(problem) {
    progress.classList.remove('kms-done'); progress.classList.add('kms-failed')
    status.className = ''
    window.kms.showError(status, problem, 'The upload failed')
  }
  function showError(message) { status.className = 'kms-message kms-error'; status.textContent = message }
  // Names that would display as something else (bidi controls, invisible characters) show them written out; same rule as @kms-share/shared's showInvisible.
  var INVISIBLE = /${INVISIBLE.source}/u
  var JOINING_SCRIPT = /${JOINING_SCRIPT.source}/u
  var PICTOGRAPH = /${PICTOGRAPH.source}/u
  function shown(key) {
    var chars = Array.from(key)
    return chars.map(function (ch, i) {
      if (!INVISIBLE.test(ch)) return ch
      var before = chars[i - 1] || ''; var after = chars[i + 1] || ''
      if (ch === '\u200d' && PICTOGRAPH.test(before) && PICTOGRAPH.test(after)) return ch
      if ((ch === '\u200c' || ch === '\u200d') && JOINING_SCRIPT.test(before) && /[\p{L}\p{M}]/u.test(after)) return ch
      return '⟨U+' + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + '⟩'
    }).join('')
  }

  function upload(file) {
    csrf.then(function (token) { send(file, token) })
  }

  function send(file, csrfToken) {
    var key = keyInput.value.trim() || file.name
    var xhr = new XMLHttpRequest()
    xhr.open('PUT', '/files/' + encodeKey(key) + (overwrite.checked ? '?overwrite=true' : ''))
    xhr.setRequestHeader('content-type', file.type || 'application/octet-stream')
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken)
    progress.hidden = false; progress.value = 0; progress.classList.remove('kms-failed', 'kms-done')
    status.className = ''; status.textContent = 'Uploading ' + key + '…'
    document.getElementById('result').hidden = true
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { progress.value = Math.round((e.loaded / e.total) * 100); status.textContent = 'Uploading ' + key + '… ' + progress.value + '%' }
    }
    xhr.onerror = function () { failed(new Error('connection lost')) }
    xhr.onload = function () {
      // The session expired or was ended elsewhere: sign in again and come back (/auth/session.js).
      if (xhr.status === 401 && window.kmsAuth) { window.kmsAuth.signInAgain(); return }
      var body = null
      try { body = JSON.parse(xhr.responseText) } catch (e) { body = null }
      if (xhr.status === 201 && body) {
        progress.value = 100; progress.classList.add('kms-done')
        status.textContent = 'Uploaded ' + body.key
        text('result-key', body.key); text('result-size', formatSize(body.size)); text('result-etag', body.etag)
        text('result-sse', body.sseAlgorithm || 'none'); text('result-key-arn', body.kmsKeyArn || '—')
        text('result-bucket-key', body.bucketKeyEnabled ? 'on' : 'off')
        document.getElementById('result').hidden = false
        loadObjects(true)
      } else {
        failed(body && body.code ? body : { status: xhr.status, title: 'HTTP ' + xhr.status })
      }
    }
    xhr.send(file)
  }

  function loadObjects(reset) {
    if (reset) cursor = null
    var url = '/files?limit=100' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '')
    fetch(url, { headers: { accept: 'application/json' } }).then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b } }) }).then(function (res) {
      var tbody = document.querySelector('#objects tbody')
      if (reset) tbody.textContent = ''
      if (!res.ok) { window.kms.showError(status, res.body, 'Listing failed'); return }
      res.body.items.forEach(function (o) {
        var tr = document.createElement('tr')
        var name = document.createElement('td'); var a = document.createElement('a')
        a.href = downloadUrl + '/files/' + encodeKey(o.key); a.textContent = shown(o.key); a.title = o.key; a.className = 'kms-cut'; name.appendChild(a)
        var size = document.createElement('td'); size.className = 'kms-num'; size.textContent = formatSize(o.size)
        var when = document.createElement('td'); when.className = 'kms-wide'; when.appendChild(window.kms.timeElement(o.lastModified))
        tr.appendChild(name); tr.appendChild(size); tr.appendChild(when); tbody.appendChild(tr)
      })
      cursor = res.body.nextCursor
      more.hidden = !cursor
    }).catch(function (err) { window.kms.showError(status, err, 'Listing failed') })
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault()
    if (fileInput.files.length !== 1) { showError('Pick a file first.'); return }
    upload(fileInput.files[0])
  })
  ;['dragenter', 'dragover'].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add('over') }) })
  ;['dragleave', 'drop'].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.remove('over') }) })
  drop.addEventListener('drop', function (e) {
    var files = e.dataTransfer.files
    if (files.length !== 1) { showError('Drop exactly one file.'); return }
    upload(files[0])
  })
  more.addEventListener('click', function () { loadObjects(false) })
  loadObjects(true)
})()
`
