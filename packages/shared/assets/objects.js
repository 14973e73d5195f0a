// The share pages' object browser (upload and download): one folder level at a time with
// breadcrumbs, sort by name, size or date, search by prefix, pages through the service's own
// GET /files (cursors, so 10,000 objects stay fast), object details, and empty states that say what
// to do. Configured by data-* on #objects-browser; needs frame.js (window.kms). Names reach the DOM
// through textContent and attributes only. The folder, search and order live in the page's URL.
'use strict'
;(function () {
  const root = document.getElementById('objects-browser')
  if (!root || !window.kms) return
  const kms = window.kms
  const conf = root.dataset
  const listUrl = conf.list || '/files'
  const linkBase = (conf.link || '/files/').replace(/\/*$/, '/')
  const detailsUrl = conf.details || ''
  const withEncryption = conf.encryption === '1'
  const emptyText = conf.empty || 'No objects yet.'
  const SORT_NAMES = { name: 'Name', size: 'Size', lastModified: 'Last modified' }

  const params = new URLSearchParams(location.search)
  const state = {
    folder: params.get('folder') || '',
    search: params.get('search') || '',
    sort: SORT_NAMES[params.get('sort')] ? params.get('sort') : 'name',
    order: params.get('order') === 'desc' ? 'desc' : 'asc',
    limit: [25, 50, 100, 250, 500].indexOf(Number(params.get('limit'))) >= 0 ? Number(params.get('limit')) : 100,
    cursors: [null],
    page: 0,
  }
  let pending = null

  function el(tag, attrs, children) {
    const node = document.createElement(tag)
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k]
      else if (k === 'className') node.className = attrs[k]
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) node.setAttribute(k, attrs[k] === true ? '' : attrs[k])
    })
    ;(children || []).forEach(function (c) { if (c !== null && c !== undefined) node.append(c) })
    return node
  }

  // ---- the browser's parts
  const crumbs = el('nav', { 'className': 'kms-crumbs', 'aria-label': 'Folder' })
  const searchInput = el('input', { type: 'search', id: 'objects-search', name: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. report-2026' })
  const sortSelect = el('select', { id: 'objects-sort', name: 'sort' }, Object.keys(SORT_NAMES).map(function (k) { return el('option', { value: k, text: SORT_NAMES[k] }) }))
  const orderSelect = el('select', { id: 'objects-order', name: 'order' }, [el('option', { value: 'asc', text: 'Ascending' }), el('option', { value: 'desc', text: 'Descending' })])
  const limitSelect = el('select', { id: 'objects-limit', name: 'limit' }, [25, 50, 100, 250, 500].map(function (n) { return el('option', { value: String(n), text: String(n) }) }))
  const searchForm = el('form', { 'className': 'kms-toolbar', 'role': 'search', 'aria-label': 'Objects' }, [
    el('label', { for: 'objects-search', text: 'Names starting with' }), searchInput,
    el('button', { type: 'submit', id: 'objects-search-go', className: 'kms-secondary', text: 'Search' }),
    el('label', { for: 'objects-sort', text: 'Sort by' }), sortSelect,
    el('label', { for: 'objects-order', className: 'kms-visually-hidden', text: 'Order' }), orderSelect,
    el('label', { for: 'objects-limit', text: 'Per page' }), limitSelect,
  ])
  const status = el('div', { 'id': 'objects-status', 'role': 'status', 'aria-live': 'polite' })
  const summary = el('p', { id: 'objects-summary', className: 'kms-muted' })
  const table = el('table', { id: 'objects', className: 'kms-table' })
  const empty = el('div', { id: 'objects-empty', className: 'kms-empty', hidden: true })
  const prev = el('button', { type: 'button', id: 'objects-prev', className: 'kms-secondary', text: 'Previous page' })
  const next = el('button', { type: 'button', id: 'objects-next', className: 'kms-secondary', text: 'Next page' })
  const pager = el('div', { className: 'kms-toolbar', id: 'objects-pager' }, [prev, next])
  root.replaceChildren(crumbs, searchForm, status, summary, table, empty, pager)

  // ---- URL and breadcrumbs
  function saveUrl() {
    const p = new URLSearchParams()
    if (state.folder) p.set('folder', state.folder)
    if (state.search) p.set('search', state.search)
    if (state.sort !== 'name') p.set('sort', state.sort)
    if (state.order !== 'asc') p.set('order', state.order)
    if (state.limit !== 100) p.set('limit', String(state.limit))
    const query = p.toString()
    history.replaceState(null, '', location.pathname + (query ? '?' + query : '') + location.hash)
  }

  function folderLink(prefix, text, current) {
    const a = el('a', { 'href': '?' + (prefix ? 'folder=' + encodeURIComponent(prefix) : ''), 'text': text, 'data-folder': prefix, 'title': prefix || 'the whole bucket' })
    if (current) a.setAttribute('aria-current', 'location')
    a.addEventListener('click', function (e) { e.preventDefault(); openFolder(prefix) })
    return a
  }

  function drawCrumbs() {
    const parts = state.folder ? state.folder.replace(/\/$/, '').split('/') : []
    const list = el('ol', {}, [el('li', {}, [folderLink('', conf.bucket || 'bucket', parts.length === 0)])])
    let prefix = ''
    parts.forEach(function (part, i) {
      prefix += part + '/'
      list.append(el('li', {}, [folderLink(prefix, kms.shownName(part), i === parts.length - 1)]))
    })
    crumbs.replaceChildren(list)
  }

  // ---- the table
  function sortHeader(field, label, extraClass) {
    const th = el('th', { scope: 'col', className: extraClass || '' })
    const active = state.sort === field
    th.setAttribute('aria-sort', active ? (state.order === 'asc' ? 'ascending' : 'descending') : 'none')
    const button = el('button', { 'type': 'button', 'className': 'kms-sort', 'data-sort': field, 'text': label + (active ? (state.order === 'asc' ? ' ▲' : ' ▼') : '') })
    button.addEventListener('click', function () {
      if (state.sort === field) state.order = state.order === 'asc' ? 'desc' : 'asc'
      else { state.sort = field; state.order = field === 'name' ? 'asc' : 'desc' }
      restart()
    })
    th.appendChild(button)
    return th
  }

  function drawHead() {
    const cols = [el('col'), el('col', { className: 'kms-col-size' }), el('col', { className: 'kms-col-date' })]
    const heads = [sortHeader('name', 'Name'), sortHeader('size', 'Size', 'kms-num'), sortHeader('lastModified', 'Last modified', 'kms-wide')]
    if (withEncryption) { cols.push(el('col', { className: 'kms-col-enc' })); heads.push(el('th', { scope: 'col', className: 'kms-wide', text: 'Encryption' })) }
    cols.push(el('col', { className: 'kms-col-action' }))
    heads.push(el('th', { scope: 'col' }, [el('span', { className: 'kms-visually-hidden', text: 'Details' })]))
    table.replaceChildren(el('colgroup', {}, cols), el('thead', {}, [el('tr', {}, heads)]), el('tbody'))
  }

  function keyArnShort(arn) { return arn ? arn.replace(/^arn:[^:]+:kms:[^:]*:[^:]*:/, '') : '' }

  function encryptionCell(item) {
    const td = el('td', { className: 'kms-wide enc' })
    if (!item.encryption) { td.textContent = item.encryptionError || 'unknown'; return td }
    const e = item.encryption
    const text = (e.algorithm || 'none') + (e.kmsKeyArn ? ' ' + keyArnShort(e.kmsKeyArn) : '') + (e.bucketKeyEnabled ? ' (bucket key)' : '')
    td.append(el('span', { className: 'kms-cut', title: e.kmsKeyArn || e.algorithm || '', text: text }))
    return td
  }

  function folderRow(prefix) {
    const name = prefix.slice(state.folder.length).replace(/\/$/, '')
    const link = folderLink(prefix, kms.shownName(name) + '/', false)
    link.className = 'kms-cut'
    link.setAttribute('aria-label', 'Folder ' + name)
    const cells = [el('td', {}, [link]), el('td', { className: 'kms-num kms-muted', text: 'folder' }), el('td', { className: 'kms-wide' })]
    if (withEncryption) cells.push(el('td', { className: 'kms-wide' }))
    cells.push(el('td'))
    return el('tr', { className: 'kms-folder' }, cells)
  }

  function objectRow(item) {
    const shown = kms.shownName(item.key.slice(state.folder.length))
    const link = el('a', { 'className': 'kms-cut', 'href': linkBase + kms.encodeKey(item.key), 'title': item.key, 'data-key': item.key, 'text': shown })
    const cells = [
      el('td', {}, [link]),
      el('td', { className: 'kms-num', title: item.size + ' bytes', text: kms.formatBytes(item.size) }),
      el('td', { className: 'kms-wide' }, [kms.timeElement(item.lastModified)]),
    ]
    if (withEncryption) cells.push(encryptionCell(item))
    const button = el('button', { 'type': 'button', 'className': 'kms-link', 'text': 'Details', 'aria-label': 'Details of ' + item.key.slice(-80) })
    button.addEventListener('click', function () { showDetails(item) })
    cells.push(el('td', {}, [button]))
    return el('tr', { className: 'kms-object' }, cells)
  }

  // ---- details
  function auditLine() {
    if (!conf.audit) return null
    return el('span', {}, ['Kept by keyadmin\u2019s audit (the auditors group reads it): ', el('a', { href: conf.audit, text: 'open keyadmin' })])
  }

  async function showDetails(item) {
    const body = el('div')
    const base = [
      ['Name', el('span', { className: 'kms-wrap', text: item.key }), 'key'],
      ['Size', kms.formatBytes(item.size) + ' (' + item.size.toLocaleString('en') + ' bytes)', 'size'],
      ['Last modified', kms.timeElement(item.lastModified), 'lastModified'],
      ['ETag', item.etag, 'etag'],
    ]
    const dialog = kms.showDialog('Object details', body)
    if (!detailsUrl) {
      body.append(kms.facts(base.concat([
        ['Encryption', conf.encryptionNote || '', 'encryption'],
        ['Audit verdict', auditLine(), 'audit'],
      ].filter(function (p) { return p[1] }))))
      return dialog
    }
    body.append(el('p', { className: 'kms-muted', text: 'Asking S3…' }))
    try {
      const res = await kms.api('GET', detailsUrl + kms.encodeKey(item.key))
      if (!res.ok) { body.replaceChildren(kms.facts(base), kms.errorBox(res.body)); return dialog }
      const d = res.body
      body.replaceChildren(kms.facts([
        ['Name', el('span', { className: 'kms-wrap', text: d.key }), 'key'],
        ['Size', kms.formatBytes(d.size) + ' (' + d.size.toLocaleString('en') + ' bytes)', 'size'],
        ['Last modified', kms.timeElement(d.lastModified), 'lastModified'],
        ['ETag', d.etag, 'etag'],
        ['Content type', d.contentType, 'contentType'],
        ['Encryption', d.encryption.algorithm || 'none', 'algorithm'],
        ['KMS key ARN', el('span', { className: 'kms-wrap', text: d.encryption.kmsKeyArn || '—' }), 'kmsKeyArn'],
        ['S3 Bucket Key', d.encryption.bucketKeyEnabled ? 'on (fewer KMS calls; the encryption context is the bucket)' : 'off', 'bucketKey'],
        ['Local copy', d.localFile || 'none yet', 'localFile'],
        ['Audit verdict', auditLine(), 'audit'],
      ].filter(function (p) { return p[1] !== null }).concat(d.versionId ? [['Version', d.versionId, 'versionId']] : [])))
    } catch (err) {
      body.replaceChildren(kms.facts(base), kms.errorBox(err, 'Details'))
    }
    return dialog
  }

  // ---- loading
  function restart() {
    state.cursors = [null]
    state.page = 0
    load()
  }

  function openFolder(prefix) {
    state.folder = prefix
    state.search = ''
    searchInput.value = ''
    restart()
  }

  async function load() {
    saveUrl()
    drawCrumbs()
    sortSelect.value = state.sort
    orderSelect.value = state.order
    limitSelect.value = String(state.limit)
    searchInput.value = state.search
    if (pending) pending.abort()
    const controller = new AbortController()
    pending = controller
    const query = new URLSearchParams({ delimiter: '/', sort: state.sort, order: state.order, limit: String(state.limit) })
    const prefix = state.folder + state.search
    if (prefix) query.set('prefix', prefix)
    const cursor = state.cursors[state.page]
    if (cursor) query.set('cursor', cursor)
    table.setAttribute('aria-busy', 'true')
    kms.showError(status, null)
    let res
    try {
      res = await kms.api('GET', listUrl + '?' + query.toString(), { signal: controller.signal })
    } catch (err) {
      if (controller.signal.aborted) return
      table.removeAttribute('aria-busy')
      kms.showError(status, err, 'The list could not be loaded')
      return
    }
    if (controller.signal.aborted) return
    pending = null
    table.removeAttribute('aria-busy')
    if (!res.ok) { kms.showError(status, res.body, 'The list could not be loaded'); return }
    draw(res.body)
  }

  function draw(listing) {
    drawHead()
    const tbody = table.querySelector('tbody')
    listing.folders.forEach(function (f) { tbody.append(folderRow(f.prefix)) })
    listing.items.forEach(function (item) { tbody.append(objectRow(item)) })
    state.cursors[state.page + 1] = listing.nextCursor
    const count = listing.folders.length + listing.items.length
    table.hidden = count === 0
    empty.hidden = count !== 0
    if (count === 0) {
      if (state.search) {
        empty.replaceChildren(el('p', { text: 'No names in this folder start with \u201c' + state.search + '\u201d.' }), clearSearchButton())
      } else if (state.folder) {
        empty.replaceChildren(el('p', { text: 'This folder is empty (its objects were deleted or moved).' }), el('p', {}, [folderLink('', 'Back to the whole bucket', false)]))
      } else {
        empty.replaceChildren(el('p', { text: emptyText }))
      }
    }
    const first = state.page * state.limit + 1
    summary.textContent = count === 0
      ? ''
      : 'Page ' + (state.page + 1) + ': ' + (first) + '\u2013' + (first + count - 1) +
        (listing.nextCursor ? ' (more on the next pages)' : '') +
        (listing.scanned && !listing.scanned.complete ? '; sorted within the first ' + listing.scanned.objects.toLocaleString('en') + ' objects of this folder' : '')
    prev.disabled = state.page === 0
    next.disabled = !listing.nextCursor
    pager.hidden = state.page === 0 && !listing.nextCursor
  }

  function clearSearchButton() {
    const b = el('button', { type: 'button', className: 'kms-secondary', text: 'Clear the search' })
    b.addEventListener('click', function () { state.search = ''; restart() })
    return b
  }

  // ---- events
  searchForm.addEventListener('submit', function (e) { e.preventDefault(); state.search = searchInput.value; restart() })
  sortSelect.addEventListener('change', function () { state.sort = sortSelect.value; restart() })
  orderSelect.addEventListener('change', function () { state.order = orderSelect.value; restart() })
  limitSelect.addEventListener('change', function () { state.limit = Number(limitSelect.value); restart() })
  prev.addEventListener('click', function () { if (state.page > 0) { state.page--; load() } })
  next.addEventListener('click', function () { if (state.cursors[state.page + 1]) { state.page++; load() } })
  window.kmsObjects = { reload: restart, openFolder: openFolder }
  load()
})()
