// The spool on its own: bytes written in batches to a real file, readers that keep up take the last
// batch from memory, readers that fall behind (or come late) read the file, every reader gets every byte.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, type Readable } from 'node:stream'
import { Spool } from '../src/spool.js'

async function drain(stream: Readable, pauseMs = 0): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    parts.push(chunk)
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs))
  }
  return Buffer.concat(parts)
}

t.test('fast, slow and ranged readers all get their bytes; a reader that keeps up reads little from the file', async (t) => {
  const data = randomBytes(12 * 1024 * 1024 + 321)
  const handle = await open(join(t.testdir(), 'spool'), 'w+')
  // Count the file reads (the real FileHandle does them).
  let fileReads = 0
  const read = handle.read.bind(handle)
  handle.read = (...args: Parameters<typeof read>) => {
    fileReads++
    return read(...args)
  }
  const spool = new Spool(handle, data.length)
  const body = new PassThrough()
  let completed = false
  const filling = spool.fill(body, async () => void (completed = true))
  const fast = drain(spool.reader())
  const slow = drain(spool.reader(), 60)
  const ranged = drain(spool.reader(5_000_000, 9_000_000))
  // S3's chunks: 64 KiB and odd sizes, now and then a turn of the event loop between them.
  for (let at = 0; at < data.length;) {
    const size = at % 3 === 0 ? 65_536 : 40_000 + (at % 7_000)
    body.write(data.subarray(at, at + size))
    at += size
    if (at % 5 === 0) await new Promise((r) => setImmediate(r))
  }
  body.end()
  const [fastBytes, slowBytes, rangedBytes] = await Promise.all([fast, slow, ranged])
  await filling
  t.ok(completed, 'complete() ran')
  t.equal(spool.state, 'done')
  t.ok(fastBytes.equals(data), 'a reader that keeps up gets every byte')
  t.ok(slowBytes.equals(data), 'a reader that falls behind gets every byte from the file')
  t.ok(rangedBytes.equals(data.subarray(5_000_000, 9_000_001)), 'a range too')
  // The slow reader alone reads most of 12 MiB from the file (1 MiB a read); the fast one few or none.
  t.ok(fileReads >= 8, `the slow reader read the file (${fileReads} reads)`)
  t.ok(fileReads < 40, `the three readers made ${fileReads} file reads in all, not one per chunk`)
})

t.test('a slow sender: a partial batch reaches a waiting reader within a few milliseconds', async (t) => {
  const handle = await open(join(t.testdir(), 'spool'), 'w+')
  const spool = new Spool(handle, 10)
  const body = new PassThrough()
  const filling = spool.fill(body, async () => undefined)
  const reader = spool.reader()
  const first = new Promise<Buffer>((resolve) => reader.once('data', resolve))
  const began = Date.now()
  body.write(Buffer.from('hello'))
  t.equal((await first).toString(), 'hello', 'five bytes, far below a full write')
  t.ok(Date.now() - began < 500, `arrived after ${Date.now() - began} ms`)
  body.end(Buffer.from('world'))
  t.equal((await drain(reader)).toString(), 'world', 'the rest, the last byte once complete() ran')
  await filling
})

t.test('a body longer or shorter than announced fails the spool and its readers', async (t) => {
  for (const [announced, sent] of [[4, 'hello'], [10, 'hello']] as const) {
    const handle = await open(join(t.testdir(), `spool-${announced}`), 'w+')
    const spool = new Spool(handle, announced)
    const body = new PassThrough()
    const filling = spool.fill(body, async () => undefined)
    const reader = drain(spool.reader()).then(() => undefined, (err: Error) => err)
    body.end(Buffer.from(sent))
    await filling
    t.equal(spool.state, 'failed', `${announced} announced, ${sent.length} sent`)
    t.type(await reader, Error, 'the reader errors rather than ending short')
  }
})
