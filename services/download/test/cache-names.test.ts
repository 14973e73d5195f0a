import t from 'tap'
import { cacheFileName, isCacheFileName, MAX_FILE_NAME_BYTES } from '../src/cache-names.js'

t.test('a plain key keeps its readable name', async (t) => {
  t.equal(cacheFileName('SampleFile-KMS.txt'), 'localfile-SampleFile-KMS.txt')
  t.equal(cacheFileName('Ünïcödé 文件.pdf'), 'localfile-Ünïcödé 文件.pdf')
})

t.test('a 300-byte key gets a name within 255 bytes that keeps the extension', async (t) => {
  const key = 'a'.repeat(296) + '.txt'
  const name = cacheFileName(key)
  t.ok(Buffer.byteLength(name) <= MAX_FILE_NAME_BYTES, `${Buffer.byteLength(name)} bytes`)
  t.match(name, /^localfile-a+~[A-Za-z0-9_-]{12}\.txt$/)
  t.not(cacheFileName('a'.repeat(297) + '.txt'), name, 'keys differing past the cut get different names')
})

t.test('multi-byte keys are cut on character boundaries', async (t) => {
  const key = '文'.repeat(200)
  const name = cacheFileName(key)
  t.ok(Buffer.byteLength(name) <= MAX_FILE_NAME_BYTES)
  t.notOk(name.includes('\uFFFD'))
  t.equal(Buffer.from(name, 'utf8').toString('utf8'), name)
})

t.test('keys with / or control characters become one safe segment with a hash', async (t) => {
  const name = cacheFileName('reports/2026/q1.csv')
  t.notOk(name.includes('/'))
  t.match(name, /^localfile-reports_2026_q1~[A-Za-z0-9_-]{12}\.csv$/)
  t.not(cacheFileName('reports/2026/q1.csv'), cacheFileName('reports_2026_q1.csv'), 'does not collide with the underscore spelling')
  t.notOk(cacheFileName('a\nb').includes('\n'))
  t.not(cacheFileName('..'), 'localfile-..')
})

t.test('keys with bidi controls, invisible or C1 control characters get a name that shows them replaced', async (t) => {
  // "invoice\u202Efdp.exe" would list as "invoiceexe.pdf" in ls or a file manager.
  const bidi = cacheFileName('invoice\u202Efdp.exe')
  t.match(bidi, /^localfile-invoice_fdp~[A-Za-z0-9_-]{12}\.exe$/)
  for (const key of ['a\u200Bb.txt', 'a\u2066b.txt', 'a\u0085b.txt', 'a\u009Bb.txt', 'a\u2028b.txt', 'a\u00ADb.txt']) {
    const name = cacheFileName(key)
    t.match(name, /^localfile-a_b~[A-Za-z0-9_-]{12}\.txt$/, `${key.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)} → ${name}`)
  }
  t.not(cacheFileName('a\u200Bb.txt'), cacheFileName('a_b.txt'), 'does not collide with the underscore spelling')
  t.equal(cacheFileName('پی\u200Cنوشت.txt'), 'localfile-پی\u200Cنوشت.txt', 'a joiner that spells a Persian word stays')
})

t.test('forceHash gives a different name for the same key (collision escape)', async (t) => {
  t.not(cacheFileName('x.txt', 1), cacheFileName('x.txt'))
  t.match(cacheFileName('x.txt', 1), /^localfile-x~.{12}\.txt$/)
})

t.test('isCacheFileName refuses paths', async (t) => {
  t.ok(isCacheFileName('localfile-a.txt'))
  t.notOk(isCacheFileName('../localfile-a'))
  t.notOk(isCacheFileName('localfile-a/../../x'))
  t.notOk(isCacheFileName('cache-index.json'))
})
