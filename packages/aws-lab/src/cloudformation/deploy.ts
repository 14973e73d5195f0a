// Deploying templates at start, as `aws cloudformation deploy` does it — a change set per stack (CREATE, or UPDATE
// when the stack exists), executed only when it holds changes — through the lab's own CloudFormation API, as a
// profile's caller (so IAM authorises it and CloudTrail records it). A second start with the same templates and
// parameters changes nothing.
// https://docs.aws.amazon.com/cli/latest/reference/cloudformation/deploy/
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CloudFormationEngine } from './engine.js'

export interface DeploySpec {
  /** Folder of `<stack>.template.json` files (`cdk synth`'s cdk.out). */
  templateDir: string
  /** Stack names, deployed in this order (each may import the earlier ones' exports). */
  stacks: string[]
  /** Parameter values by stack name; `{ keyArnOf: alias }` is the ARN of the key that alias names, looked up at deploy time. */
  parameters?: Record<string, Record<string, string | { keyArnOf: string }>>
  /** The lab profile that deploys (default `admin`). */
  profile?: string
}

export interface DeployedStack {
  stackName: string
  stackId: string
  status: string
  /** Whether this start created or updated it (false: already as the template says). */
  changed: boolean
  outputs: Record<string, string>
}

interface Deployer {
  invoke<O = unknown>(service: string, operation: string, input: unknown, as: string): Promise<O>
  cloudformation: CloudFormationEngine
}

interface StackOut { StackId: string; StackStatus: string; StackStatusReason?: string; Outputs?: Array<{ OutputKey: string; OutputValue: string }> }

/** Deploys `spec.stacks` in order; throws naming the stack and its failed resources when one does not complete. */
export async function deployStacks(lab: Deployer, spec: DeploySpec): Promise<DeployedStack[]> {
  const as = spec.profile ?? 'admin'
  const call = <O>(operation: string, input: unknown) => lab.invoke<O>('cloudformation', operation, input, as)
  const keyArn = async (stack: string, parameter: string, alias: string): Promise<string> => {
    try {
      return (await lab.invoke<{ KeyMetadata: { Arn: string } }>('kms', 'DescribeKey', { KeyId: alias }, as)).KeyMetadata.Arn
    } catch (err) {
      throw new Error(`${stack}: parameter ${parameter} names the key ${alias}, which the lab cannot describe: ${(err as Error).message}`, { cause: err })
    }
  }
  const deployed: DeployedStack[] = []
  for (const stackName of spec.stacks) {
    const templateBody = readFileSync(join(spec.templateDir, `${stackName}.template.json`), 'utf8')
    const existing = await call<{ Stacks: StackOut[] }>('DescribeStacks', { StackName: stackName }).then((r) => r.Stacks[0], () => undefined)
    // A stack whose creation failed cannot be updated: CloudFormation (and the CLI) want it deleted first.
    const type = existing && existing.StackStatus !== 'REVIEW_IN_PROGRESS' ? 'UPDATE' : 'CREATE'
    const changeSetName = `lab-start-${Date.now()}`
    const parameters = await Promise.all(Object.entries(spec.parameters?.[stackName] ?? {}).map(async ([ParameterKey, value]) => ({
      ParameterKey,
      ParameterValue: typeof value === 'string' ? value : await keyArn(stackName, ParameterKey, value.keyArnOf),
    })))
    const created = await call<{ Id: string; StackId: string }>('CreateChangeSet', {
      StackName: stackName, ChangeSetName: changeSetName, ChangeSetType: type, TemplateBody: templateBody, Parameters: parameters,
      Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM', 'CAPABILITY_AUTO_EXPAND'],
    })
    const changeSet = await call<{ Status: string; StatusReason?: string }>('DescribeChangeSet', { ChangeSetName: created.Id })
    let changed = false
    if (changeSet.Status === 'FAILED') {
      // "The submitted information didn't contain changes": nothing to do, and no change set left behind.
      await call('DeleteChangeSet', { ChangeSetName: created.Id })
      if (!/didn't contain changes/.test(changeSet.StatusReason ?? '')) throw new Error(`${stackName}: change set failed: ${changeSet.StatusReason ?? ''}`)
    } else {
      await call('ExecuteChangeSet', { ChangeSetName: created.Id })
      await lab.cloudformation.idle(created.StackId)
      changed = true
    }
    const stack = (await call<{ Stacks: StackOut[] }>('DescribeStacks', { StackName: stackName })).Stacks[0]
    if (!/^(CREATE|UPDATE)_COMPLETE$/.test(stack.StackStatus)) {
      const events = await call<{ StackEvents: Array<{ LogicalResourceId: string; ResourceType: string; ResourceStatus: string; ResourceStatusReason?: string }> }>('DescribeStackEvents', { StackName: stackName })
      const failures = events.StackEvents.filter((e) => e.ResourceStatus.endsWith('_FAILED')).map((e) => `${e.LogicalResourceId} (${e.ResourceType}): ${e.ResourceStatusReason ?? ''}`)
      throw new Error(`${stackName}: ${stack.StackStatus}${failures.length ? ` — ${failures.join('; ')}` : ''}`)
    }
    deployed.push({ stackName, stackId: stack.StackId, status: stack.StackStatus, changed, outputs: Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue])) })
  }
  return deployed
}

/**
 * Each deployed stack's outputs as files, `<dir>/<stack>/<output>` holding the value alone: what a container reads
 * through its `NAME_FILE` variables (compose: upload's KMS_KEY_ID_FILE, the key's ARN known only once deployed).
 * Outputs are not secret; the folder holds nothing else of the lab's.
 */
export function exportStackOutputs(stacks: DeployedStack[], dir: string): void {
  for (const stack of stacks) {
    mkdirSync(join(dir, stack.stackName), { recursive: true })
    for (const [key, value] of Object.entries(stack.outputs)) writeFileSync(join(dir, stack.stackName, key), `${value}\n`, { mode: 0o644 })
  }
}
