// docker-compose.yml as the compose tests read it: the parsed file, a service's environment as a
// fresh checkout gets it (${NAME:-default} with NAME unset), and that environment with each
// /run/secrets/<name> pointing at the file scripts/compose-secrets.mjs wrote for it.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import type { Test } from 'tap'
import { exportStackOutputs } from '@kms-share/aws-lab'
import { startTestLab } from '@kms-share/aws-lab/testing'

export const root = fileURLToPath(new URL('../../', import.meta.url))

export const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, any>; volumes: Record<string, unknown>; networks?: Record<string, unknown>; secrets?: Record<string, { file: string }> }

/** Compose's ${NAME:-default} with NAME unset, as a fresh checkout runs it. */
export function interpolate(value: string): string {
  return value.replace(/\$\{\w+(?::?-([^}]*))?\}/g, (_match, fallback: string | undefined) => fallback ?? '')
}

export function envOf(service: { environment?: Record<string, unknown> | string[] }): Record<string, string> {
  const env = service.environment ?? {}
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => e.split(/=(.*)/s).slice(0, 2)))
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v))]))
}

/** The secrets scripts/compose-secrets.mjs writes, in a folder removed at teardown; `withSecrets` maps an environment onto them. */
export function composeSecrets(t: Pick<Test, 'teardown'>): { dir: string; withSecrets: (env: Record<string, string>) => Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'kms-share-compose-secrets-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const made = spawnSync(process.execPath, [join(root, 'scripts/compose-secrets.mjs'), dir], { encoding: 'utf8' })
  if (made.status !== 0) throw new Error(`compose-secrets.mjs failed: ${made.stderr}`)
  const withSecrets = (env: Record<string, string>) => Object.fromEntries(Object.entries(env).map(([k, v]) => {
    const m = /^\/run\/secrets\/(\w+)$/.exec(v)
    return [k, m ? join(dir, posix.basename(compose.secrets![m[1]].file)) : v]
  }))
  return { dir, withSecrets }
}

/**
 * What compose's lab makes at its first start, from a test lab that deployed the same stacks: its instances in the
 * order it gives them metadata ports (LAB_IMDS_PORT_BASE + place: the seed's first, then those the deployed stacks
 * launched, in launch order), and the stacks' outputs exported as LAB_STACK_OUTPUTS_EXPORT writes them (`outputsDir`).
 */
export interface DeployedLab {
  instances: Array<{ name: string; instanceId: string; role?: string }>
  outputsDir: string
  keyArn: string
  /** An environment with paths under the lab's stack-outputs folder (LAB_STACK_OUTPUTS_EXPORT) pointing at `outputsDir`. */
  withOutputs: (env: Record<string, string>) => Record<string, string>
}

export async function deployedLab(t: Pick<Test, 'testdir' | 'teardown'>): Promise<DeployedLab> {
  const lab = await startTestLab(t)
  const outputsDir = join(lab.dataDir, 'stack-outputs')
  const exported = envOf(compose.services.lab).LAB_STACK_OUTPUTS_EXPORT
  exportStackOutputs(lab.deployed, outputsDir)
  return {
    instances: lab.instances().map((i) => ({ name: i.name, instanceId: i.instanceId, role: i.role })),
    outputsDir,
    keyArn: lab.deployed.find((s) => s.stackName === 'KmsShareData')!.outputs.KeyArn,
    withOutputs: (env) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.startsWith(`${exported}/`) ? join(outputsDir, v.slice(exported.length + 1)) : v])),
  }
}
