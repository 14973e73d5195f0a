// For tests (keyadmin's own and e2e's, as `@kms-share/keyadmin/testing`): keyadmin running as the lab's
// keyadmin instance, its credentials and network from that instance's metadata as on EC2, with API tokens.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'

export const TEST_BUCKET = 'kmsworkshop-111122223333'

/** What of tap's `t` the helpers use. */
export interface TestTeardown {
  teardown(fn: () => unknown): void
}

/** What of a started lab (`@kms-share/aws-lab`'s Lab) keyadmin needs: no dependency on the lab here. */
export interface TestLabEndpoints {
  region: string
  endpoint: string
  instances(): Array<{ name: string; metadataEndpoint: string }>
}

export interface Keyadmin {
  app: FastifyInstance
  url: string
  logs: string[]
  tokens: { admin: string; reader: string }
  /** fetch with a Bearer token (admin unless `as` says otherwise), JSON in and out. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read the JSON answers field by field
  call(method: string, path: string, body?: unknown, as?: 'admin' | 'reader' | 'none', headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>
}

/** A scratch folder removed at teardown (HOME for the CLI, paths that hold nothing). */
export function scratchDir(t: TestTeardown, prefix = 'kadm-net-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * keyadmin as the `keyadmin` instance: no profile and no credentials files, only the metadata endpoint,
 * the region and the lab's endpoint URL (what start.mjs and compose give it). The SDK's credential chain
 * reads AWS_EC2_METADATA_SERVICE_ENDPOINT from the process environment, so this test process sets it.
 */
export async function startKeyadminInstance(t: TestTeardown, lab: TestLabEndpoints, env: Record<string, string> = {}): Promise<Keyadmin> {
  const me = lab.instances().find((i) => i.name === 'keyadmin')
  if (!me) throw new Error('no lab instance keyadmin')
  const dir = scratchDir(t)
  for (const name of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL_S3']) delete process.env[name]
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = me.metadataEndpoint
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials')
  process.env.AWS_CONFIG_FILE = join(dir, 'no-config')
  const tokens = { admin: generateToken(), reader: generateToken() }
  const config = loadConfig({
    BUCKET: TEST_BUCKET,
    PORT: '0',
    LOG_LEVEL: 'info',
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: me.metadataEndpoint,
    AUTH_TOKENS: [formatTokenEntry('admin', ['keys:read', 'keys:admin'], hashToken(tokens.admin)), formatTokenEntry('reader', ['keys:read'], hashToken(tokens.reader))].join(','),
    ...env,
  })
  const logs: string[] = []
  const app = await buildApp(config, { logStream: { write: (line: string) => void logs.push(line) } })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  const call: Keyadmin['call'] = async (method, path, body, as = 'admin', headers = {}) => {
    const res = await fetch(url + path, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(as === 'none' ? {} : { authorization: `Bearer ${tokens[as]}` }),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(60_000),
    })
    const text = await res.text()
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- the answer's JSON, untyped on purpose (see Keyadmin.call)
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
  }
  return { app, url, logs, tokens, call }
}
