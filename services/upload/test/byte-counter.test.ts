// The pieces the body reaches the SDK in (issue 14): small socket reads are joined into FRAME_BYTES,
// nothing is lost, reordered or held past the end, and the size limit still holds.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { ByteCounter, FRAME_BYTES } from '../src/s3-upload.js'
import { AUTH, BUCKET, clientsAs, startTestLab, startUpload } from './helpers.js'

/** Runs `chunks` through a ByteCounter and returns the pieces it passed on. */
async function frames(chunks: Buffer[], limit = Number.MAX_SAFE_INTEGER, frameBytes?: number): Promise<Buffer[]> {
  const out: Buffer[] = []
  const counter = new ByteCounter(limit, undefined, frameBytes)
  await pipeline(Readable.from(chunks), counter, async (source: AsyncIterable<Buffer>) => {
    for await (const piece of source) out.push(piece)
  })
  return out
}

t.test('small pieces are joined into frames; the bytes and their order are kept; the rest goes out at the end', async (t) => {
  const data = randomBytes(FRAME_BYTES * 2 + 5000)
  const chunks: Buffer[] = []
  for (let at = 0; at < data.length; at += 65536) chunks.push(data.subarray(at, at + 65536))
  const out = await frames(chunks)
  t.same(out.map((b) => b.length), [FRAME_BYTES, FRAME_BYTES, 5000], 'two full frames, then the remainder at the end')
  t.ok(Buffer.concat(out).equals(data), 'same bytes, same order')
})

t.test('a piece of at least a frame passes as it is when nothing is held', async (t) => {
  const big = randomBytes(FRAME_BYTES + 1)
  const out = await frames([big, Buffer.from('x')])
  t.equal(out[0], big, 'the same Buffer, not a copy')
  t.same(out.map((b) => b.length), [FRAME_BYTES + 1, 1])
})

t.test('pieces held back still count against the limit', async (t) => {
  await t.rejects(frames([randomBytes(1000), randomBytes(1000)], 1500), { code: 'UPL_TOO_LARGE' })
  t.same((await frames([randomBytes(1000), randomBytes(500)], 1500)).map((b) => b.length), [1500], 'exactly the limit passes')
})

t.test('the end of a form waits for beforeEnd, held bytes first', async (t) => {
  let release!: () => void
  const beforeEnd = new Promise<void>((resolve) => { release = resolve })
  const counter = new ByteCounter(Number.MAX_SAFE_INTEGER, beforeEnd, 1024)
  const seen: number[] = []
  let ended = false
  counter.on('data', (b: Buffer) => seen.push(b.length))
  counter.on('end', () => { ended = true })
  counter.end(Buffer.alloc(100))
  await new Promise((r) => setTimeout(r, 50))
  t.same(seen, [100], 'the held remainder is passed on at the end of the input')
  t.notOk(ended, 'the stream does not end before beforeEnd settles')
  release()
  await new Promise((r) => setTimeout(r, 10))
  t.ok(ended)
})

t.test('a PUT that arrives in small pieces is stored byte for byte', async (t) => {
  const lab = await startTestLab(t)
  const { url } = await startUpload(t, lab, 'uploader')
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => { admin.s3.destroy(); admin.kms.destroy() })
  const data = randomBytes(3 * FRAME_BYTES + 12345)
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${url}/files/bench/pieces.bin`, { method: 'PUT', headers: { ...AUTH, 'content-length': data.length } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    // 4000-byte writes, each its own socket read on the service's side more often than not.
    let at = 0
    const next = () => {
      while (at < data.length) {
        const ok = req.write(data.subarray(at, at + 4000))
        at += 4000
        if (!ok) return void req.once('drain', next)
      }
      req.end()
    }
    next()
  })
  t.equal(status, 201)
  const got = await admin.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'bench/pieces.bin' }))
  const hash = createHash('sha256')
  for await (const chunk of got.Body as AsyncIterable<Buffer>) hash.update(chunk)
  t.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'), 'what S3 holds is what was sent')
})
