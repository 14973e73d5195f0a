// Tags (workshop part 6) with AWS's limits checked before the call — 50 tags per key, keys 1–128
// and values 0–256 characters, the aws: prefix reserved
// (https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html) — and AWS's own
// errors passed on after it.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { catalogueCodes, SharedErrors } from '@kms-share/shared'
import { KEYADMIN_GUIDE } from '../src/problem-guide.js'
import { KeyadminErrors } from '../src/errors.js'
import { startKeyadmin, startTestLab } from './helpers.js'

const lab = await startTestLab(t)
const svc = await startKeyadmin(t, lab)
const keyId = (await svc.call('POST', '/keys', { description: 'tags test' })).body.keyId as string

t.test('put, list and remove tags', async (t) => {
  const put = await svc.call('PUT', `/keys/${keyId}/tags`, { tags: { Project: 'kms-share', Owner: 'workshop', Empty: '' } })
  t.equal(put.status, 200)
  t.same(put.body.tags, { Project: 'kms-share', Owner: 'workshop', Empty: '' })
  const merged = await svc.call('PUT', `/keys/${keyId}/tags`, { tags: { Owner: 'keyadmin' } })
  t.same(merged.body.tags, { Project: 'kms-share', Owner: 'keyadmin', Empty: '' }, 'overwrites one, keeps the rest')
  const removed = await svc.call('DELETE', `/keys/${keyId}/tags?keys=Owner&keys=Empty`)
  t.same(removed.body.tags, { Project: 'kms-share' })
  t.same((await svc.call('GET', `/keys/${keyId}/tags`)).body.tags, { Project: 'kms-share' })
  t.equal((await svc.call('GET', `/keys/${keyId}`)).body.tagCount, 1)
})

t.test("AWS's limits, checked before the call, each problem named", async (t) => {
  const refused = async (tags: Record<string, string>, pattern: RegExp) => {
    const res = await svc.call('PUT', `/keys/${keyId}/tags`, { tags })
    t.equal(res.status, 400)
    t.equal(res.body.code, 'KADM_TAG_LIMIT')
    t.match(res.body.detail, pattern)
  }
  await refused({ 'aws:owner': 'x' }, /aws: prefix is reserved/)
  await refused({ 'AWS:Owner': 'x' }, /aws: prefix is reserved/)
  await refused({ ['k'.repeat(129)]: 'x' }, /129 characters \(1–128\)/)
  await refused({ '': 'x' }, /0 characters \(1–128\)/)
  await refused({ Note: 'v'.repeat(257) }, /257 characters \(0–256\)/)
  await refused({ 'bad#key': 'x' }, /only letters, digits, spaces/)
  t.ok((await svc.call('PUT', `/keys/${keyId}/tags`, { tags: { ['k'.repeat(128)]: 'v'.repeat(256), 'ünïcode key': 'välue' } })).status === 200, 'the limits themselves pass')
  // The key has 3 tags; 48 more would make 51.
  const many = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`tag-${i}`, String(i)]))
  await refused(many, /would have 51 tags \(at most 50\)/)
  const fits = Object.fromEntries(Array.from({ length: 47 }, (_, i) => [`tag-${i}`, String(i)]))
  t.equal((await svc.call('PUT', `/keys/${keyId}/tags`, { tags: fits })).status, 200, '50 is allowed')
  t.equal((await svc.call('GET', `/keys/${keyId}/tags`)).body.tags['tag-46'], '46')
})

t.test("AWS's own refusal is passed on: tagging a key pending deletion", async (t) => {
  const other = (await svc.call('POST', '/keys', { description: 'pending' })).body.keyId
  t.equal((await svc.sensitive('POST', `/keys/${other}/deletion`, { pendingWindowInDays: 7 })).status, 200)
  const res = await svc.call('PUT', `/keys/${other}/tags`, { tags: { Project: 'x' } })
  t.equal(res.status, 409)
  t.equal(res.body.code, 'KADM_INVALID_KEY_STATE')
  t.equal(res.body.awsErrorCode, 'KMSInvalidStateException')
})

t.test('KADM_ codes are unique, prefixed and documented in the README', async (t) => {
  const codes = catalogueCodes(KeyadminErrors)
  t.equal(new Set(codes).size, codes.length, 'unique')
  const shared = new Set(catalogueCodes(SharedErrors))
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const code of codes) {
    t.match(code, /^KADM_[A-Z_]+$/)
    t.notOk(shared.has(code))
    t.ok(readme.includes(`\`${code}\``), `${code} documented`)
    t.ok(KEYADMIN_GUIDE[code], `${code} has a sentence and a next step for the pages`)
  }
  // The audit's and the network's codes too (their own catalogues).
  for (const code of Object.keys(KEYADMIN_GUIDE)) t.ok(readme.includes(`\`${code}\``), `${code}, in the guide, is documented`)
})
