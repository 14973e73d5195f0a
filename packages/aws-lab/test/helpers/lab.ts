// Test helper: the lab from src/testing.ts (port 0, a tap testdir), and SDK client configs from its credentials file.
import type { Test } from 'tap'
import { fromIni } from '@aws-sdk/credential-providers'
import type { Lab } from '../../src/app.js'
import { startTestLab as startLab, type TestLabOptions } from '../../src/testing.js'

export interface TestLab extends Lab {
  /** SDK v3 client config for a profile, read from the lab's generated credentials file. */
  clientConfig(profile: string, overrides?: Record<string, unknown>): {
    region: string
    endpoint: string
    credentials: ReturnType<typeof fromIni>
    forcePathStyle: boolean
    maxAttempts: number
  }
  /** Environment for /usr/bin/aws using the generated files. */
  cliEnv(): NodeJS.ProcessEnv
}

export async function startTestLab(t: Test, options: TestLabOptions = {}): Promise<TestLab> {
  const lab = await startLab(t, options)
  return Object.assign(lab, {
    clientConfig(profile: string, overrides: Record<string, unknown> = {}) {
      return {
        region: lab.region,
        endpoint: lab.endpoint,
        credentials: fromIni({ filepath: lab.credentialsFile, configFilepath: lab.configFile, profile }),
        forcePathStyle: true,
        maxAttempts: 1,
        ...overrides,
      }
    },
    cliEnv(): NodeJS.ProcessEnv {
      const env: NodeJS.ProcessEnv = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile, AWS_CONFIG_FILE: lab.configFile, AWS_REGION: lab.region, AWS_PAGER: '' }
      for (const k of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_DEFAULT_PROFILE']) delete env[k]
      return env
    },
  })
}
