// Helpers for the network and import tests: keyadmin running as the lab's keyadmin instance (its
// credentials and its network from that instance's metadata, as on EC2), with API tokens, and AWS CLI v2.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { Lab } from '@kms-share/aws-lab'
import { startTestLab } from '@kms-share/aws-lab/testing'
import { formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

export const BUCKET = 'kmsworkshop-111122223333'
export const ACCOUNT = '111122223333'
export const AWS_CLI = '/usr/bin/aws'

export type { Lab }
type Tap = Pick<Test, 'testdir' | 'teardown'>

/** A lab whose new VPC endpoints stay `pending` for `pendingMs`, so clients must wait as in AWS. */
export async function startNetworkLab(t: Tap, pendingMs = 1_500): Promise<Lab> {
  return startTestLab(t, { vpcEndpointPendingMs: pendingMs })
}

/** A scratch folder (HOME for the CLI, paths that hold nothing); t.testdir() would wipe the lab's own. */
export function scratchDir(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'kadm-net-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function instance(lab: Lab, name: string): ReturnType<Lab['instances']>[number] {
  const found = lab.instances().find((i) => i.name === name)
  if (!found) throw new Error(`no lab instance ${name}`)
  return found
}

export interface Keyadmin {
  app: FastifyInstance
  url: string
  logs: string[]
  tokens: { admin: string; reader: string }
  /** fetch with a Bearer token (admin unless `as` says otherwise), JSON in and out. */
  call(method: string, path: string, body?: unknown, as?: 'admin' | 'reader' | 'none'): Promise<{ status: number; headers: Headers; body: any }>
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
  const call: Keyadmin['call'] = async (method, path, body, as = 'admin') => {
    const res = await fetch(url + path, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(as === 'none' ? {} : { authorization: `Bearer ${tokens[as]}` }),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(60_000),
    })
    const text = await res.text()
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
  }
  return { app, url, logs, tokens, call }
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  json: any
}

/** AWS CLI v2 with only the given AWS variables (nothing from this process's environment). */
export function aws(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    // Debian's CLI (2.9) predates AWS_ENDPOINT_URL and profile endpoint_url: the endpoint goes on the command line.
    const endpoint = !args.includes('--endpoint-url') && env.AWS_ENDPOINT_URL ? ['--endpoint-url', env.AWS_ENDPOINT_URL] : []
    execFile(AWS_CLI, [...args, ...endpoint, '--output', 'json'], {
      env: { PATH: '/usr/bin:/bin', HOME: env.HOME ?? '/nonexistent', AWS_PAGER: '', AWS_MAX_ATTEMPTS: '1', AWS_METADATA_SERVICE_TIMEOUT: '5', ...env },
      timeout: 90_000,
      maxBuffer: 4 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      let json: any
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined
      } catch {
        json = undefined
      }
      resolve({ code, stdout, stderr, json })
    })
  })
}

/** CLI environment for a lab profile (people and the CLI use the lab's profiles file). */
export function profileEnv(lab: Lab, profile: string, dir: string): Record<string, string> {
  return { HOME: dir, AWS_PROFILE: profile, AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile, AWS_CONFIG_FILE: lab.configFile, AWS_REGION: lab.region, AWS_ENDPOINT_URL: lab.endpoint }
}

/** CLI environment on a lab instance: credentials from its metadata, as on EC2 (the workshop's terminal). */
export function instanceEnv(lab: Lab, name: string, dir: string): Record<string, string> {
  return {
    HOME: dir,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: instance(lab, name).metadataEndpoint,
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
    AWS_CONFIG_FILE: join(dir, 'no-config'),
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
  }
}
