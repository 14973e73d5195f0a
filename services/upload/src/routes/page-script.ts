// The page's script, served as /app.js (a separate file so the CSP can forbid inline script). The
// list of objects is the shared object browser (/auth/assets/objects.js); names, sizes and errors go
// through the frame's helpers (window.kms).
export const PAGE_SCRIPT = String.raw`'use strict'
;(function () {
  var kms = window.kms
  var form = document.getElementById('form')
  var drop = document.getElementById('drop')
  var fileInput = document.getElementById('file')
  var keyInput = document.getElementById('key')
  var overwrite = document.getElementById('overwrite')
  var progress = document.getElementById('progress')
  var status = document.getElementById('status')
  var result = document.getElementById('result')

  function text(id, value) { document.getElementById(id).textContent = value }
  // A failed upload reads as failed: the bar turns red and stays where it stopped, the message says what to do next.
  function failed(problem) {
    progress.classList.remove('kms-done'); progress.classList.add('kms-failed')
    progress.setAttribute('aria-label', 'Upload failed')
    status.className = ''
    kms.showError(status, problem, 'The upload failed')
  }
  function notice(message) { status.className = 'kms-message kms-error'; status.textContent = message }

  function upload(file) {
    kms.api('GET', '/auth/csrf').then(function (r) { send(file, r.ok ? r.body.token : null) }, function () { send(file, null) })
  }

  function send(file, csrfToken) {
    var key = keyInput.value.trim() || file.name
    var xhr = new XMLHttpRequest()
    xhr.open('PUT', '/files/' + kms.encodeKey(key) + (overwrite.checked ? '?overwrite=true' : ''))
    xhr.setRequestHeader('content-type', file.type || 'application/octet-stream')
    xhr.setRequestHeader('accept', 'application/json')
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken)
    progress.hidden = false; progress.value = 0; progress.classList.remove('kms-failed', 'kms-done')
    progress.setAttribute('aria-label', 'Upload progress')
    status.className = ''; status.textContent = 'Uploading ' + kms.shownName(key) + '…'
    result.hidden = true
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { progress.value = Math.round((e.loaded / e.total) * 100); status.textContent = 'Uploading ' + kms.shownName(key) + '… ' + progress.value + '%' }
    }
    xhr.onerror = function () { failed(new Error('connection lost')) }
    xhr.onload = function () {
      // The session expired or was ended elsewhere: sign in again and come back (/auth/session.js).
      if (xhr.status === 401 && window.kmsAuth && !/insufficient_user_authentication/.test(xhr.getResponseHeader('www-authenticate') || '')) { window.kmsAuth.signInAgain(); return }
      var body = null
      try { body = JSON.parse(xhr.responseText) } catch (e) { body = null }
      if (xhr.status === 201 && body) {
        progress.value = 100; progress.classList.add('kms-done')
        status.className = 'kms-message kms-ok'; status.textContent = 'Uploaded ' + kms.shownName(body.key)
        text('result-key', body.key); text('result-size', kms.formatBytes(body.size) + ' (' + body.size + ' bytes)'); text('result-etag', body.etag)
        text('result-sse', body.sseAlgorithm || 'none'); text('result-key-arn', body.kmsKeyArn || '—')
        text('result-bucket-key', body.bucketKeyEnabled ? 'on' : 'off')
        result.hidden = false
        if (window.kmsObjects) window.kmsObjects.reload()
      } else {
        failed(body && body.code ? body : { status: xhr.status, title: 'HTTP ' + xhr.status })
      }
    }
    xhr.send(file)
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault()
    if (fileInput.files.length !== 1) { notice('Pick a file first.'); fileInput.focus(); return }
    upload(fileInput.files[0])
  })
  ;['dragenter', 'dragover'].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add('over') }) })
  ;['dragleave', 'drop'].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.remove('over') }) })
  drop.addEventListener('drop', function (e) {
    var files = e.dataTransfer.files
    if (files.length !== 1) { notice('Drop exactly one file.'); return }
    upload(files[0])
  })
})()
`
