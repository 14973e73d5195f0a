import t from 'tap'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FileCache, INDEX_FILE, type CacheLogger } from '../src/cache.js'

function recorder(): CacheLogger & { warnings: string[] } {
  const warnings: string[] = []
  return { warnings, warn: (_o, msg) => void warnings.push(msg), info: () => undefined }
}

async function put(cache: FileCache, key: string, body: string) {
  const writer = await cache.beginWrite({ key, etag: `"${key}"`, contentType: 'text/plain', expectedSize: Buffer.byteLength(body) })
  if (!writer) throw new Error('cache refused the write')
  writer.stream.write(body)
  return writer.commit()
}

t.test('a committed write is a localfile-* entry in the index; nothing temporary remains', async (t) => {
  const dir = t.testdir()
  const cache = new FileCache(dir, 1000, recorder())
  await cache.init()
  const entry = await put(cache, 'SampleFile-KMS.txt', 'hello')
  t.equal(entry?.name, 'localfile-SampleFile-KMS.txt')
  t.equal(readFileSync(join(dir, 'localfile-SampleFile-KMS.txt'), 'utf8'), 'hello')
  t.same(readdirSync(dir).sort(), [INDEX_FILE, 'localfile-SampleFile-KMS.txt'])
  const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8'))
  t.equal(index.entries[0].key, 'SampleFile-KMS.txt')
  t.equal(index.entries[0].etag, '"SampleFile-KMS.txt"')
  t.equal(index.entries[0].size, 5)
})

t.test('an aborted or short write leaves no entry and no temporary file', async (t) => {
  const dir = t.testdir()
  const log = recorder()
  const cache = new FileCache(dir, 1000, log)
  await cache.init()
  const aborted = await cache.beginWrite({ key: 'a', etag: '"a"', contentType: 'text/plain', expectedSize: 10 })
  aborted!.stream.write('12345')
  await aborted!.abort()
  const short = await cache.beginWrite({ key: 'b', etag: '"b"', contentType: 'text/plain', expectedSize: 10 })
  short!.stream.write('12345')
  t.equal(await short!.commit(), undefined)
  t.same(cache.list(), [])
  t.same(readdirSync(dir).filter((n) => n !== INDEX_FILE), [])
  t.match(log.warnings, ['transfer size mismatch: not cached'])
})

t.test('least recently used entries are evicted past the bound', async (t) => {
  const dir = t.testdir()
  const cache = new FileCache(dir, 10, recorder())
  await cache.init()
  await put(cache, 'one', '1234')
  await new Promise((r) => setTimeout(r, 5))
  await put(cache, 'two', '1234')
  await new Promise((r) => setTimeout(r, 5))
  cache.touch(cache.lookup('one')!) // now 'two' is the least recently used
  await new Promise((r) => setTimeout(r, 5))
  await put(cache, 'three', '1234')
  t.same(cache.list().map((e) => e.key).sort(), ['one', 'three'])
  t.same(readdirSync(dir).filter((n) => n.startsWith('localfile-')).sort(), ['localfile-one', 'localfile-three'])
  t.equal(await cache.beginWrite({ key: 'big', etag: '"x"', contentType: 'x', expectedSize: 11 }), undefined, 'larger than the whole cache: not cached')
  await cache.close()
})

t.test('the index survives a restart; leftovers of a crash are removed', async (t) => {
  const dir = t.testdir()
  const first = new FileCache(dir, 1000, recorder())
  await first.init()
  await put(first, 'kept.txt', 'abc')
  await first.close()
  writeFileSync(join(dir, '.tmp-deadbeef'), 'half a file')
  writeFileSync(join(dir, 'localfile-orphan'), 'not in the index')
  const second = new FileCache(dir, 1000, recorder())
  await second.init()
  t.equal(second.lookup('kept.txt')?.size, 3)
  t.same(readdirSync(dir).sort(), [INDEX_FILE, 'localfile-kept.txt'])
})

t.test('two keys whose plain names collide get distinct files', async (t) => {
  const dir = t.testdir()
  const cache = new FileCache(dir, 1000, recorder())
  await cache.init()
  // A key that is itself the hashed spelling of another key takes the plain name first.
  const { cacheFileName } = await import('../src/cache-names.js')
  const hashed = cacheFileName('x/y.txt').slice('localfile-'.length)
  await put(cache, hashed, 'first')
  const second = await put(cache, 'x/y.txt', 'second')
  t.not(second?.name, `localfile-${hashed}`)
  t.equal(readFileSync(join(dir, `localfile-${hashed}`), 'utf8'), 'first')
  t.equal(readFileSync(join(dir, second!.name), 'utf8'), 'second')
})

t.test('an unwritable folder disables the cache with a warning', async (t) => {
  const dir = t.testdir({ 'a-file': 'x' })
  const log = recorder()
  const cache = new FileCache(join(dir, 'a-file', 'cache'), 1000, log)
  await cache.init()
  t.equal(cache.enabled, false)
  t.match(log.warnings, ['cache folder is not writable: serving without a cache'])
  t.equal(await cache.beginWrite({ key: 'k', etag: '"k"', contentType: 'x', expectedSize: 1 }), undefined)
})

t.test('small entries also kept in memory: bounded, least recently served out first, gone with the entry', async (t) => {
  const dir = t.testdir()
  const cache = new FileCache(dir, 1_000_000, recorder(), 10)
  await cache.init()
  const one = (await put(cache, 'one', '1234'))!
  const two = (await put(cache, 'two', '5678'))!
  const three = (await put(cache, 'three', 'abcd'))!
  cache.keepInMemory(one, Buffer.from('1234'))
  cache.keepInMemory(two, Buffer.from('5678'))
  t.equal(cache.inMemory(one)?.toString(), '1234', 'served from memory (and now the most recently served)')
  cache.keepInMemory(three, Buffer.from('abcd'))
  t.equal(cache.inMemory(two), undefined, 'past 10 bytes the least recently served goes')
  t.equal(cache.inMemory(one)?.toString(), '1234')
  t.equal(cache.inMemory(three)?.toString(), 'abcd')

  cache.keepInMemory(two, Buffer.from('567'))
  t.equal(cache.inMemory(two), undefined, 'bytes that are not the whole entry are never kept')

  await cache.discard(one)
  t.equal(cache.inMemory(one), undefined, 'a discarded entry is gone from memory too')
  const newer = (await put(cache, 'three', 'wxyz'))!
  t.equal(cache.inMemory(three), undefined, "a replaced entry's bytes are not served")
  t.equal(cache.inMemory(newer), undefined, 'nor taken for the new one')
  await cache.clear()
  t.equal(cache.inMemory(newer), undefined)

  const none = new FileCache(t.testdir(), 1_000_000, recorder())
  await none.init()
  const entry = (await put(none, 'k', 'v'))!
  none.keepInMemory(entry, Buffer.from('v'))
  t.equal(none.inMemory(entry), undefined, 'a bound of 0 keeps nothing')
})
