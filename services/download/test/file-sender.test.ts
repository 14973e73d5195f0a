// sendFileRange over a real socket: whole files and ranges across many reads arrive intact, a client
// that leaves mid-transfer ends the send (the file is let go), and a file shorter than its entry cuts
// the connection instead of ending a 200 short.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { createServer, request, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { SEND_CHUNK, sendFileRange } from '../src/file-sender.js'

async function serve(t: Test, path: string, range: (size: number) => [number, number], claimed?: number) {
  const sends: Array<Promise<void>> = []
  const server = createServer((req, res) => {
    const sent = (async () => {
      const handle = await open(path, 'r')
      const size = claimed ?? (await handle.stat()).size
      const [start, end] = range(size)
      res.writeHead(200, { 'content-length': end - start + 1 })
      await sendFileRange(res, handle, start, end)
      await handle.close()
    })()
    sends.push(sent)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, sends }
}

function get(url: string): Promise<{ res: IncomingMessage; body: Buffer; error?: Error }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => resolve({ res, body: Buffer.concat(parts) }))
      res.on('error', (error) => resolve({ res, body: Buffer.concat(parts), error }))
    }).on('error', reject).end()
  })
}

t.test('whole files and ranges across several reads arrive byte for byte', async (t) => {
  const data = randomBytes(SEND_CHUNK * 5 + 12_345)
  const path = join(t.testdir(), 'file')
  writeFileSync(path, data)
  for (const [name, range] of [
    ['whole', (size: number) => [0, size - 1]],
    ['one byte', () => [7, 7]],
    ['across reads', () => [SEND_CHUNK - 3, SEND_CHUNK * 3 + 4]],
    ['the tail', (size: number) => [size - 100, size - 1]],
  ] as Array<[string, (size: number) => [number, number]]>) {
    const { url, sends } = await serve(t, path, range)
    const [start, end] = range(data.length)
    const { res, body } = await get(url)
    t.equal(res.statusCode, 200)
    t.ok(body.equals(data.subarray(start, end + 1)), `${name}: ${body.length} bytes, as on disk`)
    await Promise.all(sends)
  }
})

t.test('a client that leaves mid-transfer ends the send', async (t) => {
  const path = join(t.testdir(), 'file')
  writeFileSync(path, randomBytes(64 * SEND_CHUNK))
  const { url, sends } = await serve(t, path, (size) => [0, size - 1])
  await new Promise<void>((resolve) => {
    const req = request(url, (res) => {
      res.once('data', () => {
        req.destroy()
        resolve()
      })
    })
    req.end()
  })
  const ended = await Promise.race([Promise.all(sends).then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))])
  t.ok(ended, 'sendFileRange resolved after the client left (64 MiB were never read)')
})

t.test('a file shorter than its entry cuts the connection: never a short 200 that looks complete', async (t) => {
  const path = join(t.testdir(), 'file')
  writeFileSync(path, randomBytes(SEND_CHUNK + 10))
  const claimed = SEND_CHUNK * 3
  const { url, sends } = await serve(t, path, (size) => [0, size - 1], claimed)
  const { body, error } = await get(url)
  t.ok(error, `the client saw the transfer cut (${error?.message ?? 'no error'})`)
  t.ok(body.length < claimed, `after ${body.length} of ${claimed} bytes`)
  await Promise.all(sends)
})
