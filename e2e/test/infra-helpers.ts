// Helpers for deploying infra/'s synthesized templates into a lab: `cdk synth` into a folder, and the environment
// of a process on an instance the stacks launched — credentials from that instance's metadata and nothing else
// (child-processes.ts runs the entry points).
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Lab } from '@kms-share/aws-lab'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const INFRA = join(ROOT, 'infra')

/** The core stacks in deployment order (infra/README.md "Stacks"); the edge stack is AWS-only. */
export const CORE_STACKS = ['KmsShareIdentity', 'KmsShareData', 'KmsShareNetwork', 'KmsShareCompute'] as const

/** `cdk synth` as `pnpm --filter @kms-share/infra synth` runs it, offline, into `outdir`; returns how long it took. */
export function synthesize(outdir: string): number {
  const started = Date.now()
  const run = spawnSync(join(INFRA, 'node_modules/.bin/cdk'), ['synth', '--quiet', '--output', outdir], {
    cwd: INFRA,
    encoding: 'utf8',
    timeout: 240_000,
    env: { PATH: process.env.PATH, HOME: outdir, CDK_DISABLE_CLI_TELEMETRY: 'true', AWS_EC2_METADATA_DISABLED: 'true' },
  })
  if (run.status !== 0) throw new Error(`cdk synth failed (${run.status}):\n${run.stderr}`)
  return Date.now() - started
}

/** A process's environment on a lab instance: its metadata endpoint, the region, the lab's endpoint and CA — no credentials. */
export function onInstance(lab: Lab, instanceId: string): Record<string, string> {
  const instance = lab.instances().find((i) => i.instanceId === instanceId)
  if (!instance) throw new Error(`no metadata endpoint for ${instanceId}`)
  return {
    AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.metadataEndpoint,
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_CONFIG_FILE: '/nonexistent/config',
    ...(lab.caFile ? { NODE_EXTRA_CA_CERTS: lab.caFile, AWS_CA_BUNDLE: lab.caFile } : {}),
  }
}

/** A deployment's values in CloudFormation's pseudo parameters; `Fn::Join` and `Ref` of them resolved (what a role's inline policy uses). */
export function resolvePseudo(value: unknown, pseudo: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolvePseudo(v, pseudo))
  if (value === null || typeof value !== 'object') return value
  const entries = Object.entries(value)
  if (entries.length === 1 && entries[0][0] === 'Ref' && pseudo[String(entries[0][1])] !== undefined) return pseudo[String(entries[0][1])]
  if (entries.length === 1 && entries[0][0] === 'Fn::Join') {
    const [separator, parts] = entries[0][1] as [string, unknown[]]
    return parts.map((p) => resolvePseudo(p, pseudo)).join(separator)
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolvePseudo(v, pseudo)]))
}

interface Statement { Sid?: string; Effect: string; Action?: string | string[]; Resource?: string | string[]; Condition?: Record<string, Record<string, string | string[]>> }
const many = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v])

/**
 * A deployed policy document in the READMEs' words: the deployment's bucket, account and region put back as
 * BUCKET, ACCOUNT and REGION (as README_NAMES), single values as lists (IAM accepts both).
 */
export function asReadmeDocument(document: { Version: string; Statement: Statement | Statement[] }, values: { bucket: string; accountId: string; region: string }) {
  const text = JSON.stringify(document).replaceAll(values.bucket, 'BUCKET').replaceAll(values.accountId, 'ACCOUNT').replaceAll(values.region, 'REGION')
  const parsed = JSON.parse(text) as { Version: string; Statement: Statement | Statement[] }
  const statements = Array.isArray(parsed.Statement) ? parsed.Statement : [parsed.Statement]
  return {
    Version: parsed.Version,
    Statement: statements.map((s) => ({
      ...s,
      Action: many(s.Action),
      Resource: many(s.Resource),
      ...(s.Condition ? { Condition: Object.fromEntries(Object.entries(s.Condition).map(([op, block]) => [op, Object.fromEntries(Object.entries(block).map(([k, v]) => [k, many(v)!]))])) } : {}),
    })),
  }
}
