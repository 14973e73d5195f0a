// CloudFormation's state: stacks (with their resources, outputs and events), change sets and
// exports, persisted in the lab's state store. Lookups answer with CloudFormation's errors.
import { randomUUID } from 'node:crypto'
import { AwsError, type StateStore } from '../core/types.js'
import { validationError, type TemplateObject, type TemplateValue } from './template.js'

export interface StackParameter {
  ParameterKey: string
  ParameterValue: string
  /** The value an SSM parameter type resolved to. */
  ResolvedValue?: string
  /** Shown as **** by DescribeStacks. */
  NoEcho?: boolean
}

export interface StackOutput {
  OutputKey: string
  OutputValue: string
  Description?: string
  ExportName?: string
}

export interface Tag {
  Key: string
  Value: string
}

export interface ResourceRecord {
  LogicalResourceId: string
  ResourceType: string
  PhysicalResourceId?: string
  ResourceStatus: string
  ResourceStatusReason?: string
  /** Epoch ms. */
  Timestamp: number
  /** The properties as resolved when last created or updated. */
  properties: TemplateObject
  attributes: Record<string, TemplateValue>
  Metadata?: TemplateObject
  DeletionPolicy?: string
  UpdateReplacePolicy?: string
}

export interface StackEvent {
  EventId: string
  StackId: string
  StackName: string
  LogicalResourceId: string
  PhysicalResourceId: string
  ResourceType: string
  Timestamp: number
  ResourceStatus: string
  ResourceStatusReason?: string
  ResourceProperties?: string
}

/** What a stack and a change set both carry: the template and how to deploy it. */
interface DeploymentSettings {
  /** The template as given (JSON or YAML text). */
  templateBody: string
  Parameters: StackParameter[]
  Capabilities: string[]
  RoleARN?: string
  Tags: Tag[]
  NotificationARNs: string[]
}

export interface StackRecord extends DeploymentSettings {
  StackId: string
  StackName: string
  StackStatus: string
  StackStatusReason?: string
  CreationTime: number
  LastUpdatedTime?: number
  DeletionTime?: number
  Description?: string
  DisableRollback: boolean
  EnableTerminationProtection: boolean
  Outputs: StackOutput[]
  ChangeSetId?: string
  /** Export names this stack's template imports (Fn::ImportValue): their exporters cannot drop or change them. */
  imports?: string[]
  resources: Record<string, ResourceRecord>
  events: StackEvent[]
}

export interface ResourceChangeDetail {
  Target: { Attribute: string; Name?: string; RequiresRecreation: string }
  Evaluation: string
  ChangeSource: string
}

export interface Change {
  Type: 'Resource'
  ResourceChange: {
    Action: 'Add' | 'Modify' | 'Remove'
    LogicalResourceId: string
    PhysicalResourceId?: string
    ResourceType: string
    Replacement?: 'True' | 'False' | 'Conditional'
    Scope: string[]
    Details: ResourceChangeDetail[]
  }
}

export interface ChangeSetRecord extends DeploymentSettings {
  ChangeSetId: string
  ChangeSetName: string
  StackId: string
  StackName: string
  ChangeSetType: 'CREATE' | 'UPDATE'
  Status: string
  ExecutionStatus: string
  StatusReason?: string
  CreationTime: number
  Description?: string
  Changes: Change[]
}

export interface CloudFormationState {
  stacks: Record<string, StackRecord>
  changeSets: Record<string, ChangeSetRecord>
  /** Export name → the stack that exports it and the value. */
  exports: Record<string, { stackId: string; value: string }>
}

export const IN_PROGRESS = /_IN_PROGRESS$/

export class CloudFormationModel {
  constructor(private readonly store: StateStore, readonly accountId: string, readonly region: string) {
    // A lab stopped mid-operation cannot finish it: say so rather than leave the stack in progress forever.
    for (const stack of Object.values(this.state.stacks)) {
      if (!IN_PROGRESS.test(stack.StackStatus) || stack.StackStatus === 'REVIEW_IN_PROGRESS') continue
      stack.StackStatus = stack.StackStatus.startsWith('DELETE') ? 'DELETE_FAILED' : stack.StackStatus.startsWith('CREATE') || stack.StackStatus === 'ROLLBACK_IN_PROGRESS' ? 'ROLLBACK_FAILED' : 'UPDATE_ROLLBACK_FAILED'
      stack.StackStatusReason = 'aws-lab stopped while this operation ran'
    }
    this.save()
  }

  get state(): CloudFormationState {
    const s = this.store.section<CloudFormationState>('cloudformation', () => ({ stacks: {}, changeSets: {}, exports: {} }))
    s.stacks ??= {}
    s.changeSets ??= {}
    s.exports ??= {}
    return s
  }

  save(): void {
    this.store.save('cloudformation')
  }

  stackId(name: string): string {
    return `arn:aws:cloudformation:${this.region}:${this.accountId}:stack/${name}/${randomUUID()}`
  }

  changeSetId(name: string): string {
    return `arn:aws:cloudformation:${this.region}:${this.accountId}:changeSet/${name}/${randomUUID()}`
  }

  /** A stack by id (any state) or by name (only one not deleted), as DescribeStacks finds them. */
  findStack(nameOrId: string | undefined): StackRecord | undefined {
    if (!nameOrId) return undefined
    if (nameOrId.startsWith('arn:')) return this.state.stacks[nameOrId]
    return Object.values(this.state.stacks).find((s) => s.StackName === nameOrId && s.StackStatus !== 'DELETE_COMPLETE')
  }

  stack(nameOrId: string | undefined): StackRecord {
    const stack = this.findStack(nameOrId)
    if (!stack) throw validationError(`Stack with id ${nameOrId ?? ''} does not exist`)
    return stack
  }

  /** A change set by ARN, or by name within a stack. */
  changeSet(nameOrId: string | undefined, stackName: string | undefined): ChangeSetRecord {
    if (!nameOrId) throw validationError('ChangeSetName is a required parameter.')
    if (nameOrId.startsWith('arn:')) {
      const cs = this.state.changeSets[nameOrId]
      if (!cs) throw new ChangeSetNotFound(nameOrId)
      return cs
    }
    if (!stackName) throw validationError('StackName must be specified if ChangeSetName is not specified as an ARN.')
    const stack = this.findStack(stackName)
    const cs = Object.values(this.state.changeSets).find((c) => c.ChangeSetName === nameOrId && (c.StackId === stack?.StackId || c.StackName === stackName))
    if (!cs) throw new ChangeSetNotFound(nameOrId)
    return cs
  }

  event(stack: StackRecord, e: Omit<StackEvent, 'EventId' | 'StackId' | 'StackName' | 'Timestamp'>): void {
    stack.events.push({ EventId: randomUUID(), StackId: stack.StackId, StackName: stack.StackName, Timestamp: Date.now(), ...e })
    this.save()
  }

  /** A stack-level status change, with its event. */
  stackStatus(stack: StackRecord, status: string, reason?: string): void {
    stack.StackStatus = status
    stack.StackStatusReason = reason
    this.event(stack, { LogicalResourceId: stack.StackName, PhysicalResourceId: stack.StackId, ResourceType: 'AWS::CloudFormation::Stack', ResourceStatus: status, ResourceStatusReason: reason })
  }

  /** A resource's status change, with its event. */
  resourceStatus(stack: StackRecord, r: ResourceRecord, status: string, reason?: string): void {
    r.ResourceStatus = status
    r.ResourceStatusReason = reason
    r.Timestamp = Date.now()
    this.event(stack, {
      LogicalResourceId: r.LogicalResourceId,
      PhysicalResourceId: r.PhysicalResourceId ?? '',
      ResourceType: r.ResourceType,
      ResourceStatus: status,
      ResourceStatusReason: reason,
      ...(status.endsWith('_IN_PROGRESS') && Object.keys(r.properties).length ? { ResourceProperties: JSON.stringify(r.properties) } : {}),
    })
  }
}

/** The query protocol's error for an unknown change set (ChangeSetNotFoundException on the SDK side). */
export class ChangeSetNotFound extends AwsError {
  constructor(name: string) {
    super('ChangeSetNotFound', `ChangeSet [${name}] does not exist`, 404)
  }
}
