// `@kms-share/aws-lab/testing`: the one way tests start a lab — port 0, quiet, in the test's own
// folder, closed at teardown. Structural test type, so the lab needs no test runner to build.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_SEED_FILE, startLab, type Lab, type LabOptions } from './app.js'

/** What the helper needs from a test (tap's `t` fits). */
export interface LabTest {
  testdir(): string
  teardown(fn: () => unknown): void
}

export interface TestLabOptions extends Partial<LabOptions> {
  /** Rewrites the default seed's YAML text before the lab reads it (e.g. add a VPC endpoint). */
  seed?: (text: string) => string
}

/** A fresh lab on a free port, its data in `t.testdir()` unless `dataDir` says otherwise; closed at teardown. */
export async function startTestLab(t: LabTest, options: TestLabOptions = {}): Promise<Lab> {
  const { seed, ...rest } = options
  const lab = await startLab({ port: 0, quiet: true, ...rest, ...seeded(t, rest, seed) })
  t.teardown(() => lab.close())
  return lab
}

// With a seed edit, the test folder holds the edited seed and the lab's data beside it.
function seeded(t: LabTest, options: Partial<LabOptions>, seed: TestLabOptions['seed']): Pick<LabOptions, 'dataDir' | 'seedFile'> {
  if (!seed) return { dataDir: options.dataDir ?? t.testdir() }
  const dir = t.testdir()
  const seedFile = join(dir, 'seed.yaml')
  writeFileSync(seedFile, seed(readFileSync(options.seedFile ?? DEFAULT_SEED_FILE, 'utf8')))
  return { dataDir: options.dataDir ?? join(dir, 'lab'), seedFile }
}

/** The standard AWS variables for a lab profile (SDK and CLI read the lab's generated files). */
export function labProfileEnv(lab: Lab, profile: string): Record<string, string> {
  return {
    AWS_PROFILE: profile,
    AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile,
    AWS_CONFIG_FILE: lab.configFile,
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
  }
}
