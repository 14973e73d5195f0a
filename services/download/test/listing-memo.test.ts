// GET /files and the page fetch encryption details with bounded concurrency and a short-lived
// memo per object version: not one HeadObject per object per view. HeadObject calls are counted
// on the service's own S3 client as they go to the lab.
import t from 'tap'
import type { S3Client } from '@aws-sdk/client-s3'
import { filePath, putObject, s3As, startDownload, startTestLab } from './helpers.js'

/** Count HeadObject calls (and the most in flight at once) made through a client. */
function countHeads(s3: S3Client) {
  const counter = { calls: 0, inFlight: 0, maxInFlight: 0 }
  s3.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName !== 'HeadObjectCommand') return next(args)
    counter.calls++
    counter.inFlight++
    counter.maxInFlight = Math.max(counter.maxInFlight, counter.inFlight)
    try {
      return await next(args)
    } finally {
      counter.inFlight--
    }
  }, { step: 'initialize', name: 'countHeadObject' })
  return counter
}

const OBJECTS = 30

t.test('views share bounded, memoised HeadObject calls', async (t) => {
  const lab = await startTestLab(t)
  const writer = s3As(lab, 'admin')
  for (let i = 0; i < OBJECTS; i++) await putObject(writer, `memo/${String(i).padStart(2, '0')}.txt`, `object ${i}`)
  const service = await startDownload(t, lab, 'downloader', { HEAD_CONCURRENCY: '4', HEAD_MEMO_MS: '60000', LOG_LEVEL: 'warn' })
  const heads = countHeads(service.app.s3)
  const files = async () => (await (await service.api('/files?limit=1000')).json() as { items: Array<{ key: string; encryption: { algorithm: string } | null }> }).items

  const first = await files()
  t.equal(first.length, OBJECTS)
  t.ok(first.every((item) => item.encryption?.algorithm === 'aws:kms'), 'every item has its encryption')
  t.equal(heads.calls, OBJECTS, 'one HeadObject per object for the first view')
  t.ok(heads.maxInFlight <= 4, `at most HEAD_CONCURRENCY in flight (${heads.maxInFlight})`)

  // Five more views at once, JSON and page: answered from the memo.
  const views = await Promise.all([files(), files(), files(), service.api('/').then((r) => r.text()), service.api('/').then((r) => r.text())])
  t.equal(heads.calls, OBJECTS, 'no HeadObject for later views')
  t.match(views[3], /id="objects-browser" data-list="\/files"/, 'the page draws its list from GET /files in the browser: no HeadObject of its own')

  // A new version (new ETag) is asked about once.
  await putObject(writer, 'memo/07.txt', 'object 7, rewritten')
  await files()
  t.equal(heads.calls, OBJECTS + 1, 'one HeadObject for the changed object')
})

t.test('concurrent first views share the calls and the bound; the memo expires', async (t) => {
  const lab = await startTestLab(t)
  const writer = s3As(lab, 'admin')
  for (let i = 0; i < OBJECTS; i++) await putObject(writer, `memo/${i}.txt`, `object ${i}`)
  const service = await startDownload(t, lab, 'downloader', { HEAD_CONCURRENCY: '3', HEAD_MEMO_MS: '500', LOG_LEVEL: 'warn' })
  const heads = countHeads(service.app.s3)
  const view = () => service.api('/files?limit=1000').then((r) => r.json())
  await Promise.all([view(), view(), view(), view()])
  t.equal(heads.calls, OBJECTS, 'four concurrent views: one HeadObject per object')
  t.ok(heads.maxInFlight <= 3, `bound across views (${heads.maxInFlight} in flight at most)`)
  await new Promise((r) => setTimeout(r, 700))
  await view()
  t.equal(heads.calls, 2 * OBJECTS, 'asked again once the memo expired')
  // Downloads are not affected by the listing's memo.
  t.equal(await (await service.api(filePath('memo/3.txt'))).text(), 'object 3')
})
