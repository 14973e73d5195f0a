// A hit is answered once: one revalidation per hit (when every hit revalidates) and no file
// descriptor left open on the cache file afterwards. (A FastifyReply is a thenable: a helper
// that returned it made the handler go round again, revalidating twice and leaking a handle.)
import t from 'tap'
import { readdirSync, readlinkSync } from 'node:fs'
import { filePath, putObject, s3As, startDownload, startTestLab, eventually } from './helpers.js'

const openOnCache = (dir: string) => readdirSync('/proc/self/fd').filter((fd) => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)
  } catch {
    return false
  }
}).length

t.test('20 sequential hits: 20 revalidations, 20 hits, no descriptor left open', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'counted.txt', 'counted')
  const service = await startDownload(t, lab, 'downloader', { LOG_LEVEL: 'warn', CACHE_SWEEP_INTERVAL: '0' })
  const { stats, cache } = service.app.downloader
  t.equal(await (await service.api(filePath('counted.txt'))).text(), 'counted')
  const [checks, hits] = [stats.revalidations, stats.cacheHits]
  for (let i = 0; i < 20; i++) {
    const res = await service.api(filePath('counted.txt'), i % 2 ? { headers: { range: 'bytes=1-3' } } : {})
    t.equal(res.headers.get('x-cache'), 'hit')
    t.equal(await res.text(), i % 2 ? 'oun' : 'counted')
  }
  t.equal(stats.revalidations - checks, 20, 'one revalidation per hit')
  t.equal(stats.cacheHits - hits, 20, 'one hit counted per request')
  await eventually(() => openOnCache(cache.dir) === 0, 'every cache file handle closed', 5000)
  t.pass('no descriptor left open on the cache folder')
})
