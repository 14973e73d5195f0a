import t from 'tap'
import { contentDisposition, encodeRfc5987, escapeHtml, parseRange } from '../src/http-headers.js'

// RFC 6266 §4.3 / RFC 5987 §3.2: filename* carries UTF-8 percent-encoded attr-chars only.
t.test('Content-Disposition is always an attachment with an RFC 5987 name', async (t) => {
  t.equal(contentDisposition('SampleFile-KMS.txt'), `attachment; filename="SampleFile-KMS.txt"; filename*=UTF-8''SampleFile-KMS.txt`)
  t.equal(contentDisposition('dir/sub/Ünï "q" (1).txt'), `attachment; filename="_n_ _q_ (1).txt"; filename*=UTF-8''%C3%9Cn%C3%AF%20%22q%22%20%281%29.txt`)
  t.equal(encodeRfc5987("it's*"), 'it%27s%2A')
})

t.test('ranges', async (t) => {
  t.same(parseRange(undefined, 10), { kind: 'none' })
  t.same(parseRange('bytes=0-4', 10), { kind: 'range', start: 0, end: 4 })
  t.same(parseRange('bytes=5-', 10), { kind: 'range', start: 5, end: 9 })
  t.same(parseRange('bytes=-3', 10), { kind: 'range', start: 7, end: 9 })
  t.same(parseRange('bytes=-30', 10), { kind: 'range', start: 0, end: 9 })
  t.same(parseRange('bytes=8-100', 10), { kind: 'range', start: 8, end: 9 })
  t.same(parseRange('bytes=10-', 10), { kind: 'unsatisfiable' })
  t.same(parseRange('bytes=-0', 10), { kind: 'unsatisfiable' })
  t.same(parseRange('bytes=0-1,4-5', 10), { kind: 'none' }, 'several ranges: whole file')
  t.same(parseRange('items=0-1', 10), { kind: 'none' })
})

t.test('escapeHtml', async (t) => {
  t.equal(escapeHtml(`<script>alert("x")</script>&'`), '&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;&#39;')
})
