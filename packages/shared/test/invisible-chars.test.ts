// Names that display as something else: bidi controls (Unicode UAX #9 explicit formatting
// characters) and invisible format characters, found, written out and replaced.
import t from 'tap'
import { findInvisible, replaceInvisible, showInvisible } from '../src/index.js'

t.test('findInvisible: bidi controls, zero-width and other invisible characters; joiners that scripts need pass', async (t) => {
  t.same(findInvisible('invoice\u202Efdp.exe'), { codePoint: '202E', position: 7, bidi: true })
  t.same(findInvisible('😀\u2067x'), { codePoint: '2067', position: 1, bidi: true }, 'positions count code points, not UTF-16 units')
  t.match(findInvisible('a\u200Bb'), { codePoint: '200B', bidi: false })
  t.match(findInvisible('pay\u200Dpal'), { codePoint: '200D' })
  t.match(findInvisible('\u{E0041}'), { codePoint: 'E0041' })
  t.equal(findInvisible('می\u200Cخواهم'), undefined)
  t.equal(findInvisible('👩\u200D💻'), undefined)
  t.equal(findInvisible('plain name (1).txt'), undefined)
})

t.test('showInvisible writes them out; replaceInvisible defuses file names', async (t) => {
  t.equal(showInvisible('invoice\u202Efdp.exe'), 'invoice⟨U+202E⟩fdp.exe')
  t.equal(showInvisible('a\u200Bb\uFEFF'), 'a⟨U+200B⟩b⟨U+FEFF⟩')
  t.equal(showInvisible('می\u200Cخواهم'), 'می\u200Cخواهم')
  t.equal(replaceInvisible('invoice\u202Efdp.exe'), 'invoice_fdp.exe')
  t.equal(replaceInvisible('a\u200Bb', ''), 'ab')
  t.equal(replaceInvisible('ok.txt'), 'ok.txt')
})
