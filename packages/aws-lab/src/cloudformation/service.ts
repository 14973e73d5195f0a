// The lab's CloudFormation: the model (stacks, change sets, exports), the engine that deploys
// with the resource handlers, and the API over them.
import type { CredentialResolver } from '../core/identity.js'
import type { Caller, ParsedCall, RequestMeta, ServiceDefinition, StateStore } from '../core/types.js'
import type { Ec2Model } from '../ec2/model.js'
import type { IamModel } from '../iam/model.js'
import type { StsModel } from '../sts/model.js'
import { CloudFormationEngine } from './engine.js'
import { CloudFormationModel } from './model.js'
import { createCloudFormationService } from './protocol.js'
import { RESOURCE_HANDLERS } from './resources/index.js'

export interface CloudFormationLabDeps {
  store: StateStore
  accountId: string
  region: string
  iam: IamModel
  sts: StsModel
  ec2: Ec2Model
  credentials: CredentialResolver
  execute(call: ParsedCall, caller: Caller, meta: RequestMeta): Promise<unknown>
  instanceReady(instanceId: string): Promise<void>
  log?(line: Record<string, unknown>): void
}

export function createCloudFormation(deps: CloudFormationLabDeps): { service: ServiceDefinition; engine: CloudFormationEngine } {
  const model = new CloudFormationModel(deps.store, deps.accountId, deps.region)
  const engine = new CloudFormationEngine({ model, handlers: RESOURCE_HANDLERS, execute: (call, caller, meta) => deps.execute(call, caller, meta), ec2: deps.ec2, iam: deps.iam, instanceReady: (id) => deps.instanceReady(id), log: (line) => deps.log?.(line) })
  return { service: createCloudFormationService({ engine, iam: deps.iam, sts: deps.sts, credentials: deps.credentials }), engine }
}
