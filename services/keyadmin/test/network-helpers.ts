// Helpers for the network and import tests: keyadmin running as the lab's keyadmin instance (its
// credentials and its network from that instance's metadata, as on EC2), with API tokens, and AWS CLI v2.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { Lab } from '@kms-share/aws-lab'
import { labInstance as instance, startTestLab, WITHOUT_STACKS } from '@kms-share/aws-lab/testing'
import { formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

export const BUCKET = 'kmsworkshop-111122223333'
export const ACCOUNT = '111122223333'

export type { Lab }
type Tap = Pick<Test, 'testdir' | 'teardown'>

/**
 * A lab whose new VPC endpoints stay `pending` for `pendingMs`, so clients must wait as in AWS. The workshop's network
 * parts (4 and 5) start from a VPC with no KMS endpoint and make one: the seed's VPC, with keyadmin's instance in it
 * (WITHOUT_STACKS) — the network stack's VPC already has its KMS endpoint with private DNS, and calls through it carry
 * the VPC's addresses, not 127.0.0.1.
 */
export async function startNetworkLab(t: Tap, pendingMs = 1_500): Promise<Lab> {
  return startTestLab(t, { ...WITHOUT_STACKS, vpcEndpointPendingMs: pendingMs })
}

/** A scratch folder (HOME for the CLI, paths that hold nothing); t.testdir() would wipe the lab's own. */
export function scratchDir(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'kadm-net-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface Keyadmin {
  app: FastifyInstance
  url: string
  logs: string[]
  tokens: { admin: string; reader: string }
  /** fetch with a Bearer token (admin unless `as` says otherwise), JSON in and out. */
  call(method: string, path: string, body?: unknown, as?: 'admin' | 'reader' | 'none', headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>
}

/**
 * keyadmin as the `keyadmin` instance: no profile and no credentials files, only the metadata endpoint,
 * the region and the lab's endpoint URL (what start.mjs and compose give it). The SDK's credential chain
 * reads AWS_EC2_METADATA_SERVICE_ENDPOINT from the process environment, so this test process sets it.
 */
export async function startKeyadminInstance(t: Tap, lab: Lab, env: Record<string, string> = {}): Promise<Keyadmin> {
  const me = instance(lab, 'keyadmin')
  const dir = scratchDir(t)
  for (const name of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL_S3']) delete process.env[name]
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = me.metadataEndpoint
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials')
  process.env.AWS_CONFIG_FILE = join(dir, 'no-config')
  const tokens = { admin: generateToken(), reader: generateToken() }
  const config = loadConfig({
    BUCKET,
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
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
  }
  return { app, url, logs, tokens, call }
}

// The CLI runner and its environments are the shared test ones (one copy, in @kms-share/aws-lab/testing).
export { awsCli as aws, cliProfileEnv as profileEnv, cliInstanceEnv as instanceEnv, labInstance as instance, type CliResult } from '@kms-share/aws-lab/testing'
