// A TCP proxy in front of the lab that can cut S3 answers mid-way: real sockets, real bytes,
// for tests of what the service does when S3 goes away during a transfer.
import { connect, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface CuttingProxy {
  /** <target's scheme>://127.0.0.1:<port>, to use as AWS_ENDPOINT_URL (TLS passes through: the lab's certificate names 127.0.0.1). */
  endpoint: string
  /** Cut every connection once it has carried this many response bytes (Infinity: never). */
  cutAfter: number
  /** Stop forwarding answers (keeping the connection open) once one has carried this many bytes. */
  stallAfter: number
  /** Connections cut so far. */
  cuts: number
  /** Connections stalled so far. */
  stalls: number
}

export async function cuttingProxy(t: Pick<Test, 'teardown'>, target: string): Promise<CuttingProxy> {
  const { hostname, port, protocol } = new URL(target)
  const sockets = new Set<Socket>()
  const proxy: CuttingProxy = { endpoint: '', cutAfter: Infinity, stallAfter: Infinity, cuts: 0, stalls: 0 }
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname)
    sockets.add(client).add(upstream)
    let carried = 0
    let stalled = false
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => {
      carried += chunk.length
      if (carried > proxy.cutAfter) {
        proxy.cuts++
        client.destroy()
        upstream.destroy()
        return
      }
      if (carried > proxy.stallAfter) {
        // Hold what S3 sends from here on: the service sees a connection that goes quiet.
        if (!stalled) proxy.stalls++
        stalled = true
        return
      }
      if (!client.write(chunk)) {
        upstream.pause()
        client.once('drain', () => upstream.resume())
      }
    })
    upstream.on('end', () => client.end())
    for (const s of [client, upstream]) {
      s.on('error', () => undefined)
      s.on('close', () => {
        sockets.delete(s)
        client.destroy()
        upstream.destroy()
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxy.endpoint = `${protocol}//127.0.0.1:${(server.address() as { port: number }).port}`
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  return proxy
}
