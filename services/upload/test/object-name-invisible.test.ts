// Names with bidi controls or invisible characters: refused by both routes with 400 problem+json
// saying which character and where, while scripts that need joiners (Persian, Devanagari, emoji) pass.
import t from 'tap'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { findInvisible, objectKey } from '../src/object-name.js'
import { BUCKET, clientsAs, encodeKey, formParts, postForm, startTestLab, startUpload } from './helpers.js'

t.test('findInvisible and objectKey: which names pass', async (t) => {
  t.match(findInvisible('invoice\u202Efdp.exe'), { codePoint: '202E', position: 7, bidi: true })
  t.match(findInvisible('a\u200Bb'), { codePoint: '200B', position: 1, bidi: false })
  t.match(findInvisible('pay\u200Cpal.txt'), { codePoint: '200C', position: 3 }, 'a joiner inside a Latin word is refused')
  t.match(findInvisible('\uFEFFreport.pdf'), { codePoint: 'FEFF', position: 0 })
  t.match(findInvisible('x\u00ADy'), { codePoint: '00AD' }, 'soft hyphen')
  t.match(findInvisible('\u3164.txt'), { codePoint: '3164' }, 'Hangul filler renders blank')
  t.match(findInvisible('📄\u2066x\u2069'), { codePoint: '2066', bidi: true })
  t.match(findInvisible('\u{E0041}tag'), { codePoint: 'E0041', position: 0 }, 'tag characters')
  t.equal(findInvisible('می\u200Cخواهم.txt'), undefined, 'Persian ZWNJ spells the word')
  t.equal(findInvisible('क्\u200Dष.txt'), undefined, 'Devanagari ZWJ forms the conjunct')
  t.equal(findInvisible('👨\u200D👩\u200D👧.png'), undefined, 'emoji ZWJ sequence')
  t.equal(findInvisible('résumé 2024 (final).pdf'), undefined)
  t.throws(() => objectKey('invoice\u202Efdp.exe'), { code: 'UPL_INVALID_NAME', statusCode: 400, message: /U\+202E \(RIGHT-TO-LEFT OVERRIDE\) at position 7 is a bidirectional control.*remove it/ })
  t.equal(objectKey('👨\u200D👩\u200D👧.png'), '👨\u200D👩\u200D👧.png')
})

t.test('PUT and POST refuse bidi and zero-width names with 400 problem+json; nothing is stored', async (t) => {
  const lab = await startTestLab(t)
  const { api } = await startUpload(t, lab)
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())

  const spoof = 'invoice\u202Efdp.exe'
  const put = await api(`/files/${encodeKey(spoof)}`, { method: 'PUT', body: 'MZ' })
  t.equal(put.status, 400)
  t.equal(put.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  t.match(await put.json(), {
    type: 'urn:kms-share:problem:UPL_INVALID_NAME', title: 'Bad Request', status: 400, code: 'UPL_INVALID_NAME',
    detail: /U\+202E \(RIGHT-TO-LEFT OVERRIDE\) at position 7 .*invoiceexe\.pdf.*remove it/,
  })

  const B = 'invisibleBoundary'
  const byField = await postForm(api, formParts(B, [{ name: 'key', body: 'pay\u200Bpal.txt' }, { name: 'file', filename: 'x.txt', body: 'x' }]), B)
  t.equal(byField.status, 400)
  t.match(byField.json, { code: 'UPL_INVALID_NAME', detail: /U\+200B \(ZERO WIDTH SPACE\) at position 3 is an invisible character/ })
  const byFilename = await postForm(api, formParts(B, [{ name: 'file', filename: 'photo\u2066.jpg', body: 'x' }]), B)
  t.equal(byFilename.status, 400)
  t.match(byFilename.json, { code: 'UPL_INVALID_NAME', detail: /U\+2066/ })

  for (const key of [spoof, 'pay\u200Bpal.txt', 'photo\u2066.jpg']) {
    const head = await admin.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).catch((e: Error) => e)
    t.equal((head as Error).name, 'NotFound', `${JSON.stringify(key)} not stored`)
  }

  const persian = 'می\u200Cخواهم.txt'
  const ok = await api(`/files/${encodeKey(persian)}`, { method: 'PUT', body: 'salam' })
  t.equal(ok.status, 201, 'a joiner a script needs is accepted')
  t.equal(((await ok.json()) as { key: string }).key, persian)
})
