// Two keys whose cache names meet — `race/a.txt` (hashed, it has a `/`) and the key spelt as
// that hashed name (plain) — fetched at the same moment, many times: never the other's body.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cacheFileName, CACHE_FILE_PREFIX } from '../src/cache-names.js'
import { filePath, putObject, s3As, startDownload, startTestLab } from './helpers.js'

const ROUNDS = Number(process.env.RACE_ROUNDS ?? 300)

t.test(`the a/b vs hashed-name race, ${ROUNDS} rounds: never a wrong body, from S3 or from the cache`, async (t) => {
  const lab = await startTestLab(t)
  const writer = s3As(lab, 'admin')
  const slashed = 'race/a.txt'
  const lookalike = cacheFileName(slashed).slice(CACHE_FILE_PREFIX.length)
  t.equal(cacheFileName(lookalike), cacheFileName(slashed), 'the two keys want the same file name')
  const bodies: Record<string, string> = { [slashed]: 'body of the slashed key\n', [lookalike]: 'body of the look-alike key, longer\n' }
  for (const [key, body] of Object.entries(bodies)) await putObject(writer, key, body)
  const service = await startDownload(t, lab, 'downloader', { LOG_LEVEL: 'warn' })
  const { cache } = service.app.downloader

  // A cut or failed answer counts as a wrong body (the old race showed up as both).
  const get = async (key: string) => {
    try {
      const res = await service.api(filePath(key))
      return { status: res.status, body: await res.text(), source: res.headers.get('x-cache') }
    } catch (err) {
      return { status: 0, body: String(err), source: null }
    }
  }
  let wrong = 0
  let hits = 0
  for (let round = 0; round < ROUNDS; round++) {
    await service.cacheAdmin('/cache', { method: 'DELETE' })
    // Both misses at once (each fills the cache), then both again at once (hits when cached).
    for (let pass = 0; pass < 2; pass++) {
      const keys = round % 2 ? [slashed, lookalike] : [lookalike, slashed]
      const answers = await Promise.all(keys.map(get))
      answers.forEach((answer, i) => {
        if (answer.status !== 200 || answer.body !== bodies[keys[i]]) wrong++
        if (answer.source === 'hit') hits++
      })
    }
    // What is on disk under each entry's name is that entry's object.
    for (const entry of cache.list()) {
      if (readFileSync(join(cache.dir, entry.name), 'utf8') !== bodies[entry.key]) wrong++
    }
  }
  t.equal(wrong, 0, 'no wrong body in any round')
  t.ok(hits > ROUNDS, `hits were served too (${hits})`)
  const names = cache.list().map((e) => e.name)
  t.equal(new Set(names).size, 2, 'two distinct files at the end')
})
