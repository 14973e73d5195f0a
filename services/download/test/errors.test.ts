import t from 'tap'
import { readFileSync } from 'node:fs'
import { catalogueCodes, SharedErrors } from '@kms-share/shared'
import { DownloadErrors } from '../src/errors.js'

t.test('DWN_ codes are unique, prefixed and documented in the README', async (t) => {
  const codes = catalogueCodes(DownloadErrors)
  t.equal(new Set(codes).size, codes.length, 'unique')
  const shared = new Set(catalogueCodes(SharedErrors))
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const code of codes) {
    t.match(code, /^DWN_[A-Z_]+$/)
    t.notOk(shared.has(code))
    t.ok(readme.includes(`\`${code}\``), `${code} documented`)
  }
})
