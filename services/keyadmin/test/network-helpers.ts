// Helpers for the network and import tests: keyadmin running as the lab's keyadmin instance (its
// credentials and its network from that instance's metadata, as on EC2, from src/testing.ts), with API
// tokens, and AWS CLI v2.
import type { Test } from 'tap'
import type { Lab } from '@kms-share/aws-lab'
import { startTestLab, WITHOUT_STACKS } from '@kms-share/aws-lab/testing'

export { scratchDir, startKeyadminInstance, type Keyadmin } from '../src/testing.js'
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

// The CLI runner and its environments are the shared test ones (one copy, in @kms-share/aws-lab/testing).
export { awsCli as aws, cliProfileEnv as profileEnv, cliInstanceEnv as instanceEnv, labInstance as instance, type CliResult } from '@kms-share/aws-lab/testing'
