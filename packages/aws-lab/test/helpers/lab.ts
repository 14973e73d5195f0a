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
  /** Environment for /usr/bin/aws using the generated files, trusting the lab's CA when it serves TLS. */
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
      for (const k of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_DEFAULT_PROFILE', 'AWS_CA_BUNDLE']) delete env[k]
      // AWS_CA_BUNDLE outranks the config file's ca_bundle (this machine exports the system bundle in it).
      if (lab.caFile) env.AWS_CA_BUNDLE = lab.caFile
      return env
    },
  })
}

/** An instance's role credentials as its own metadata endpoint (IMDSv2) serves them, for SDK clients acting as the instance. */
export async function instanceCredentials(lab: Lab, name: string) {
  const endpoint = lab.instances().find((i) => i.name === name)!
  const token = await (await fetch(new URL('latest/api/token', endpoint.metadataEndpoint), { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).text()
  const headers = { 'x-aws-ec2-metadata-token': token }
  const role = await (await fetch(new URL('latest/meta-data/iam/security-credentials/', endpoint.metadataEndpoint), { headers })).text()
  const c = await (await fetch(new URL(`latest/meta-data/iam/security-credentials/${role}`, endpoint.metadataEndpoint), { headers })).json() as { AccessKeyId: string; SecretAccessKey: string; Token: string }
  return { instanceId: endpoint.instanceId, credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token } }
}

export { WITHOUT_STACKS } from '../../src/testing.js'
