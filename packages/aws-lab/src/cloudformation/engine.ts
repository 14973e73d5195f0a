// Deployments: a template and its parameters prepared (validated, parameters and conditions
// resolved), compared with a stack (change sets), and carried out — resources in dependency order
// through the lab's APIs as the stack's actor, rolled back on failure, deleted in reverse.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-changesets.html
import { randomBytes, randomUUID } from 'node:crypto'
import { AwsError, type Caller, type ParsedCall, type RequestMeta, text } from '../core/types.js'
import type { Ec2Model } from '../ec2/model.js'
import type { IamModel } from '../iam/model.js'
import { creationOrder, dependencyGraph } from './graph.js'
import { NO_VALUE, UnknownValue, checkRules, evaluate, evaluateConditions, type EvalContext, type Resolved } from './intrinsics.js'
import { CloudFormationModel, IN_PROGRESS, type Change, type ChangeSetRecord, type ResourceRecord, type StackOutput, type StackParameter, type StackRecord, type Tag } from './model.js'
import { resolveParameters } from './parameters.js'
import { HandlerFailure, type ResourceContext, type ResourceHandler } from './resources/types.js'
import { isObject, readTemplate, validationError, type Template, type TemplateObject, type TemplateValue } from './template.js'

/** Who CloudFormation acts as: the caller, or the role the stack was given. */
export interface Actor {
  caller: Caller
}

export interface EngineDeps {
  model: CloudFormationModel
  handlers: Record<string, ResourceHandler>
  /** Runs a lab operation as `caller` through the router (authorisation and CloudTrail). */
  execute(call: ParsedCall, caller: Caller, meta: RequestMeta): Promise<unknown>
  ec2: Ec2Model
  iam: IamModel
  instanceReady(instanceId: string): Promise<void>
  log?(line: Record<string, unknown>): void
}

export interface Prepared {
  template: Template
  graph: Map<string, Set<string>>
  parameters: Record<string, TemplateValue>
  parameterRecords: StackParameter[]
  conditions: Record<string, boolean>
  /** Resources whose Condition holds (or that have none). */
  active: Set<string>
  pseudo: Record<string, TemplateValue>
}

export interface PrepareInput {
  templateBody: string
  parameters: Array<{ ParameterKey: string; ParameterValue?: string; UsePreviousValue?: boolean }>
  previous?: StackParameter[]
  stackName: string
  stackId: string
  notificationArns: string[]
}

const CFN = 'cloudformation.amazonaws.com'
const IAM_TYPES = new Set(['AWS::IAM::Role', 'AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::InstanceProfile', 'AWS::IAM::User', 'AWS::IAM::Group', 'AWS::IAM::AccessKey', 'AWS::IAM::UserToGroupAddition'])
const IAM_NAMES = ['RoleName', 'ManagedPolicyName', 'InstanceProfileName', 'UserName', 'GroupName']
const RETAINED = new Set(['Retain', 'RetainExceptOnCreate', 'Snapshot'])
const TYPE_NAME = /^(AWS|Alexa|Custom)::[A-Za-z0-9]+(::[A-Za-z0-9]+)?$|^Custom::[A-Za-z0-9_@-]+$/
/** How long a call (ExecuteChangeSet, DeleteStack) waits for the lab's deployment before answering; the work goes on after. */
const SETTLE_MS = 30_000

const SERVICE_NAMES: Record<string, string> = { iam: 'Iam', kms: 'Kms', s3: 'S3', ec2: 'Ec2', autoscaling: 'AutoScaling', ssm: 'Ssm', sts: 'Sts' }

function handlerErrorCode(code: string, status: number): string {
  if (/AccessDenied|Unauthorized|NotAuthorized/i.test(code)) return 'AccessDenied'
  if (/NotFound|NoSuch/i.test(code)) return 'NotFound'
  if (/AlreadyExists|AlreadyOwned|Duplicate|EntityAlreadyExists/i.test(code)) return 'AlreadyExists'
  if (/LimitExceeded/i.test(code)) return 'ServiceLimitExceeded'
  return status >= 500 ? 'GeneralServiceException' : 'InvalidRequest'
}

/** The ResourceStatusReason CloudFormation writes for a failed resource. */
export function failureReason(err: unknown): string {
  if (err instanceof HandlerFailure) {
    const svc = SERVICE_NAMES[err.service] ?? err.service
    return `Resource handler returned message: "${err.error.message} (Service: ${svc}, Status Code: ${err.error.status}, Request ID: ${err.requestId})" (RequestToken: ${randomUUID()}, HandlerErrorCode: ${handlerErrorCode(err.error.code, err.error.status)})`
  }
  if (err instanceof AwsError) return err.message
  return 'Internal Failure'
}

/** A name like CloudFormation's: `<stack>-<logical id>-<13 random>`, cut to fit. */
export function generatedName(stackName: string, logicalId: string, maxLength: number, lowercase = false): string {
  const suffix = randomBytes(10).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 13).toUpperCase().padEnd(13, 'X')
  const room = maxLength - suffix.length - 2
  const stackPart = stackName.slice(0, Math.max(1, Math.floor(room / 2)))
  const idPart = logicalId.slice(0, Math.max(1, room - stackPart.length))
  const name = `${stackPart}-${idPart}-${suffix}`
  return lowercase ? name.toLowerCase() : name
}

function outputText(value: Resolved): string {
  if (Array.isArray(value)) return value.map(String).join(',')
  if (isObject(value)) return JSON.stringify(value)
  return text(value)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref())

export class CloudFormationEngine {
  private readonly running = new Map<string, Promise<void>>()

  constructor(readonly deps: EngineDeps) {}

  get model(): CloudFormationModel {
    return this.deps.model
  }

  // ── preparation ─────────────────────────────────────────────────────────

  /** Everything CreateChangeSet checks before it answers: format, references, parameters, rules. */
  async prepare(input: PrepareInput, actor: Actor): Promise<Prepared> {
    const template = readTemplate(input.templateBody)
    const graph = this.validate(template)
    const pseudo: Record<string, TemplateValue> = {
      'AWS::AccountId': this.model.accountId,
      'AWS::Region': this.model.region,
      'AWS::Partition': 'aws',
      'AWS::StackName': input.stackName,
      'AWS::StackId': input.stackId,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::NotificationARNs': input.notificationArns,
    }
    const { values, records } = await resolveParameters(template, input.parameters, input.previous, {
      ssm: (names) => this.call<{ Parameters?: Array<{ Name: string; Value: string }>; InvalidParameters?: string[] }>(actor, 'ssm', 'GetParameters', { Names: names }),
      ec2: this.deps.ec2,
    })
    const base = this.evalContext(template, pseudo, values, {}, undefined)
    const conditions = evaluateConditions(base)
    checkRules({ ...base, conditions })
    const active = new Set(Object.entries(template.Resources).filter(([, r]) => r.Condition === undefined || conditions[r.Condition] === true).map(([id]) => id))
    for (const [id, r] of Object.entries(template.Resources)) {
      if (r.Condition !== undefined && !Object.hasOwn(conditions, r.Condition)) throw validationError(`Template format error: Unresolved dependencies [${r.Condition}]. Cannot reference resources in the Conditions block of the template (resource ${id})`)
    }
    return { template, graph, parameters: values, parameterRecords: records, conditions, active, pseudo }
  }

  /** What ValidateTemplate checks too: transforms, type names, references and cycles. */
  validate(template: Template): Map<string, Set<string>> {
    if (template.Transform !== undefined) throw validationError(`Transform ${JSON.stringify(template.Transform)} is not supported by aws-lab`)
    const unknownTypes = Object.values(template.Resources).map((r) => r.Type).filter((t) => !TYPE_NAME.test(t))
    if (unknownTypes.length) throw validationError(`Template format error: Unrecognized resource types: [${[...new Set(unknownTypes)].join(', ')}]`)
    return dependencyGraph(template)
  }

  /** CAPABILITY_IAM for IAM resources, CAPABILITY_NAMED_IAM when one of them has a custom name. */
  requiredCapabilities(template: Template): { capabilities: string[]; reason?: string } {
    const iam = Object.values(template.Resources).filter((r) => IAM_TYPES.has(r.Type))
    if (!iam.length) return { capabilities: [] }
    const named = iam.some((r) => IAM_NAMES.some((n) => r.Properties?.[n] !== undefined))
    return { capabilities: [named ? 'CAPABILITY_NAMED_IAM' : 'CAPABILITY_IAM'], reason: `The following resource(s) require capabilities: [${[...new Set(iam.map((r) => r.Type))].join(', ')}]` }
  }

  checkCapabilities(template: Template, given: string[]): void {
    const { capabilities } = this.requiredCapabilities(template)
    const missing = capabilities.filter((c) => !given.includes(c))
    if (missing.length) throw new AwsError('InsufficientCapabilitiesException', `Requires capabilities : [${missing.join(', ')}]`, 400)
  }

  /** The evaluation context over a stack's resources as they stand (refs to ones not made yet are unknown). */
  evalContext(template: Template, pseudo: Record<string, TemplateValue>, parameters: Record<string, TemplateValue>, conditions: Record<string, boolean>, stack: StackRecord | undefined, imports?: Set<string>): EvalContext {
    const live = (id: string): ResourceRecord => {
      const r = stack?.resources[id]
      if (!r || r.PhysicalResourceId === undefined || /FAILED|DELETE_COMPLETE/.test(r.ResourceStatus) || r.ResourceType !== template.Resources[id]?.Type) throw new UnknownValue(id)
      return r
    }
    return {
      template,
      pseudo,
      parameters,
      conditions,
      ref: (id) => live(id).PhysicalResourceId!,
      getAtt: (id, attribute) => {
        const handler = this.deps.handlers[template.Resources[id]?.Type ?? '']
        if (handler && !handler.attributes.includes(attribute)) throw validationError(`Template error: resource ${id} does not support attribute type ${attribute} in Fn::GetAtt`)
        const value = live(id).attributes[attribute]
        if (value === undefined) throw new UnknownValue(id)
        return value
      },
      importValue: (name) => {
        const exported = this.model.state.exports[name]
        if (!exported) throw validationError(`No export named ${name} found.`)
        imports?.add(name)
        return exported.value
      },
      azs: (region) => (region === this.model.region ? ['a', 'b', 'c'].map((z) => `${region}${z}`) : []),
    }
  }

  // ── change sets ─────────────────────────────────────────────────────────

  /** The changes a prepared template makes to a stack, as DescribeChangeSet lists them. */
  changes(prep: Prepared, stack: StackRecord | undefined): Change[] {
    const out: Change[] = []
    const ctx = this.evalContext(prep.template, prep.pseudo, prep.parameters, prep.conditions, stack)
    for (const id of creationOrder(prep.graph, prep.active)) {
      const decl = prep.template.Resources[id]
      const current = stack?.resources[id]
      if (!current || current.ResourceStatus === 'DELETE_COMPLETE' || current.PhysicalResourceId === undefined || current.ResourceType !== decl.Type) {
        out.push({ Type: 'Resource', ResourceChange: { Action: 'Add', LogicalResourceId: id, ResourceType: decl.Type, Scope: [], Details: [] } })
        continue
      }
      let props: Resolved | undefined
      try {
        props = evaluate(decl.Properties ?? {}, ctx)
      } catch (err) {
        if (!(err instanceof UnknownValue)) throw err
      }
      if (props !== undefined && JSON.stringify(props) === JSON.stringify(current.properties)) continue
      const changed = props === undefined ? [] : changedProperties(current.properties, props as TemplateObject)
      const handler = this.deps.handlers[decl.Type]
      const replaces = (name: string) => !handler?.update || handler.replaceOn === '*' || (handler.replaceOn ?? []).includes(name)
      const replacement = props === undefined ? 'Conditional' : changed.some(replaces) ? 'True' : 'False'
      out.push({
        Type: 'Resource',
        ResourceChange: {
          Action: 'Modify',
          LogicalResourceId: id,
          PhysicalResourceId: current.PhysicalResourceId,
          ResourceType: decl.Type,
          Replacement: replacement,
          Scope: ['Properties'],
          Details: changed.map((name) => ({ Target: { Attribute: 'Properties', Name: name, RequiresRecreation: replaces(name) ? 'Always' : 'Never' }, Evaluation: 'Static', ChangeSource: 'DirectModification' })),
        },
      })
    }
    for (const [id, r] of Object.entries(stack?.resources ?? {})) {
      if (prep.active.has(id) && prep.template.Resources[id]?.Type === r.ResourceType) continue
      if (r.ResourceStatus === 'DELETE_COMPLETE') continue
      out.push({ Type: 'Resource', ResourceChange: { Action: 'Remove', LogicalResourceId: id, PhysicalResourceId: r.PhysicalResourceId, ResourceType: r.ResourceType, Scope: [], Details: [] } })
    }
    return out
  }

  // ── execution ───────────────────────────────────────────────────────────

  /** Starts a change set's deployment; answers once it settles (the lab is quick) or after SETTLE_MS. */
  async execute(cs: ChangeSetRecord, actor: Actor, disableRollback: boolean): Promise<void> {
    const stack = this.model.stack(cs.StackId)
    const prep = await this.prepare({ templateBody: cs.templateBody, parameters: cs.Parameters, stackName: stack.StackName, stackId: stack.StackId, notificationArns: cs.NotificationARNs }, actor)
    cs.ExecutionStatus = 'EXECUTE_IN_PROGRESS'
    for (const other of Object.values(this.model.state.changeSets)) if (other.StackId === cs.StackId && other !== cs && other.ExecutionStatus === 'AVAILABLE') other.ExecutionStatus = 'OBSOLETE'
    stack.ChangeSetId = cs.ChangeSetId
    stack.DisableRollback = disableRollback
    this.model.save()
    const work = (cs.ChangeSetType === 'CREATE' ? this.runCreate(stack, cs, prep, actor) : this.runUpdate(stack, cs, prep, actor)).then((ok) => {
      cs.ExecutionStatus = ok ? 'EXECUTE_COMPLETE' : 'EXECUTE_FAILED'
      this.model.save()
    })
    await this.track(stack.StackId, work)
  }

  /** Deletes a stack's resources in reverse dependency order; `retain` keeps the named ones (a retried DELETE_FAILED). */
  async delete(stack: StackRecord, actor: Actor, retain: string[]): Promise<void> {
    await this.track(stack.StackId, this.runDelete(stack, actor, new Set(retain)))
  }

  /** Resolves when no operation runs on the stack (tests and shutdown). */
  async idle(stackId: string): Promise<void> {
    await this.running.get(stackId)
  }

  private async track(stackId: string, work: Promise<unknown>): Promise<void> {
    const done = work.then(
      () => undefined,
      (err: unknown) => this.deps.log?.({ level: 'error', msg: 'cloudformation operation failed', stackId, err: text((err as Error)?.stack ?? err) }),
    ).finally(() => this.running.delete(stackId))
    this.running.set(stackId, done)
    await Promise.race([done, sleep(SETTLE_MS)])
  }

  /** A lab operation as the actor, marked as CloudFormation acting for it. */
  async call<O>(actor: Actor, service: string, operation: string, input: unknown): Promise<O> {
    const meta: RequestMeta = { requestId: randomUUID(), time: new Date(), sourceIp: CFN, userAgent: CFN, secureTransport: true, region: this.model.region, viaService: CFN, invokedBy: CFN }
    try {
      return (await this.deps.execute({ service, operation, input }, actor.caller, meta)) as O
    } catch (err) {
      if (err instanceof AwsError) throw new HandlerFailure(service, err, meta.requestId)
      throw err
    }
  }

  /** `{{resolve:ssm:name}}` (and `ssm-secure`) references in property strings, read as the actor when used. */
  private async dynamic<T extends TemplateValue>(value: T, actor: Actor): Promise<T> {
    const text = JSON.stringify(value)
    if (!text.includes('{{resolve:')) return value
    const found = new Map<string, string>()
    for (const m of text.matchAll(/\{\{resolve:([a-z-]+):([^}:]+)(?::(\d+))?\}\}/g)) {
      const [whole, service, name] = m
      if (service !== 'ssm' && service !== 'ssm-secure') throw validationError(`Dynamic reference ${whole}: ${service} is not supported by aws-lab`)
      const out = await this.call<{ Parameter: { Value: string } }>(actor, 'ssm', 'GetParameter', { Name: name, WithDecryption: service === 'ssm-secure' })
      found.set(whole, out.Parameter.Value)
    }
    const walk = (v: TemplateValue): TemplateValue => (typeof v === 'string' ? v.replace(/\{\{resolve:[^}]+\}\}/g, (w) => found.get(w) ?? w) : Array.isArray(v) ? v.map(walk) : isObject(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)])) : v)
    return walk(value) as T
  }

  private resourceContext(stack: StackRecord, logicalId: string, actor: Actor, record: ResourceRecord): ResourceContext {
    return {
      stackName: stack.StackName,
      stackId: stack.StackId,
      logicalId,
      accountId: this.model.accountId,
      region: this.model.region,
      call: (service, operation, input) => this.call(actor, service, operation, input),
      physicalName: (max, options) => generatedName(stack.StackName, logicalId, max, options?.lowercase),
      tags: [...stack.Tags, { Key: 'aws:cloudformation:stack-name', Value: stack.StackName }, { Key: 'aws:cloudformation:stack-id', Value: stack.StackId }, { Key: 'aws:cloudformation:logical-id', Value: logicalId }],
      ec2: this.deps.ec2,
      iam: this.deps.iam,
      instanceReady: (id) => this.deps.instanceReady(id),
      provisional: (physicalId) => {
        record.PhysicalResourceId = physicalId
        this.model.save()
      },
    }
  }

  private handler(type: string): ResourceHandler {
    const handler = this.deps.handlers[type]
    if (!handler) throw validationError(`Resource type ${type} is not supported by aws-lab`)
    return handler
  }

  private async createResource(stack: StackRecord, id: string, prep: Prepared, actor: Actor, imports: Set<string>, phase: 'CREATE' | 'UPDATE'): Promise<void> {
    const decl = prep.template.Resources[id]
    const r: ResourceRecord = { LogicalResourceId: id, ResourceType: decl.Type, ResourceStatus: 'CREATE_IN_PROGRESS', Timestamp: Date.now(), properties: {}, attributes: {}, Metadata: decl.Metadata, DeletionPolicy: decl.DeletionPolicy, UpdateReplacePolicy: decl.UpdateReplacePolicy }
    stack.resources[id] = r
    this.model.resourceStatus(stack, r, 'CREATE_IN_PROGRESS')
    try {
      r.properties = evaluate(decl.Properties ?? {}, this.evalContext(prep.template, prep.pseudo, prep.parameters, prep.conditions, stack, imports)) as TemplateObject
      const handler = this.handler(decl.Type)
      const out = await handler.create(await this.dynamic(r.properties, actor), this.resourceContext(stack, id, actor, r))
      r.PhysicalResourceId = out.physicalId
      r.attributes = out.attributes
      this.model.resourceStatus(stack, r, 'CREATE_IN_PROGRESS', 'Resource creation Initiated')
      this.model.resourceStatus(stack, r, 'CREATE_COMPLETE')
    } catch (err) {
      this.model.resourceStatus(stack, r, 'CREATE_FAILED', failureReason(err))
      throw new ResourceFailed(id, phase === 'CREATE' ? 'create' : 'update')
    }
  }

  /** Deletes one resource (honouring Retain); false when it failed. */
  private async deleteResource(stack: StackRecord, r: ResourceRecord, actor: Actor, opts: { rollbackOfCreate?: boolean; retain?: boolean } = {}): Promise<boolean> {
    const retained = opts.retain || (r.DeletionPolicy !== undefined && RETAINED.has(r.DeletionPolicy) && !(opts.rollbackOfCreate && r.DeletionPolicy === 'RetainExceptOnCreate'))
    if (retained && r.PhysicalResourceId !== undefined) {
      this.model.resourceStatus(stack, r, 'DELETE_SKIPPED')
      return true
    }
    this.model.resourceStatus(stack, r, 'DELETE_IN_PROGRESS')
    try {
      const handler = this.deps.handlers[r.ResourceType]
      if (handler && r.PhysicalResourceId !== undefined) await handler.delete({ physicalId: r.PhysicalResourceId, properties: await this.dynamic(r.properties, actor), attributes: r.attributes }, this.resourceContext(stack, r.LogicalResourceId, actor, r))
      this.model.resourceStatus(stack, r, 'DELETE_COMPLETE')
      return true
    } catch (err) {
      this.model.resourceStatus(stack, r, 'DELETE_FAILED', failureReason(err))
      return false
    }
  }

  private async writeOutputs(stack: StackRecord, prep: Prepared, imports: Set<string>): Promise<void> {
    const ctx = this.evalContext(prep.template, prep.pseudo, prep.parameters, prep.conditions, stack, imports)
    const outputs: StackOutput[] = []
    for (const [key, o] of Object.entries(prep.template.Outputs)) {
      if (o.Condition !== undefined && !prep.conditions[o.Condition]) continue
      const value = evaluate(o.Value, ctx)
      if (value === NO_VALUE) continue
      const exportName = o.Export ? text(evaluate(o.Export.Name, ctx)) : undefined
      outputs.push({ OutputKey: key, OutputValue: outputText(value), ...(o.Description ? { Description: o.Description } : {}), ...(exportName ? { ExportName: exportName } : {}) })
    }
    const exports = this.model.state.exports
    const mine = new Set(outputs.flatMap((o) => (o.ExportName ? [o.ExportName] : [])))
    for (const o of outputs) {
      const holder = o.ExportName ? exports[o.ExportName] : undefined
      if (holder && holder.stackId !== stack.StackId) throw validationError(`Export with name ${o.ExportName} is already exported by stack ${this.model.state.stacks[holder.stackId]?.StackName ?? holder.stackId}`)
      if (holder && holder.value !== o.OutputValue) this.refuseIfImported(o.ExportName!, `Cannot update export ${o.ExportName} as it is in use by`)
    }
    for (const [name, e] of Object.entries(exports)) if (e.stackId === stack.StackId && !mine.has(name)) this.refuseIfImported(name, `Export ${name} cannot be deleted as it is in use by`)
    for (const [name, e] of Object.entries(exports)) if (e.stackId === stack.StackId) delete exports[name]
    for (const o of outputs) if (o.ExportName) exports[o.ExportName] = { stackId: stack.StackId, value: o.OutputValue }
    stack.Outputs = outputs
    stack.imports = [...imports]
    this.model.save()
  }

  private refuseIfImported(name: string, sentence: string): void {
    const users = Object.values(this.model.state.stacks).filter((s) => s.StackStatus !== 'DELETE_COMPLETE' && (s.imports ?? []).includes(name)).map((s) => s.StackName)
    if (users.length) throw validationError(`${sentence} ${users.join(', ')}`)
  }

  private async runCreate(stack: StackRecord, cs: ChangeSetRecord, prep: Prepared, actor: Actor): Promise<boolean> {
    this.adopt(stack, cs, prep)
    this.model.stackStatus(stack, 'CREATE_IN_PROGRESS', 'User Initiated')
    const imports = new Set<string>()
    try {
      for (const id of creationOrder(prep.graph, prep.active)) await this.createResource(stack, id, prep, actor, imports, 'CREATE')
      await this.writeOutputs(stack, prep, imports)
      this.model.stackStatus(stack, 'CREATE_COMPLETE')
      return true
    } catch (err) {
      const reason = err instanceof ResourceFailed ? `The following resource(s) failed to create: [${err.logicalId}]. ` : `${failureReason(err)} `
      if (stack.DisableRollback) {
        this.model.stackStatus(stack, 'CREATE_FAILED', reason.trim())
        return false
      }
      this.model.stackStatus(stack, 'ROLLBACK_IN_PROGRESS', `${reason}Rollback requested by user.`)
      const order = creationOrder(prep.graph, prep.active).reverse()
      let clean = true
      for (const id of order) {
        const r = stack.resources[id]
        if (r && r.ResourceStatus !== 'DELETE_COMPLETE') clean = (await this.deleteResource(stack, r, actor, { rollbackOfCreate: true })) && clean
      }
      this.model.stackStatus(stack, clean ? 'ROLLBACK_COMPLETE' : 'ROLLBACK_FAILED', clean ? undefined : 'The following resource(s) failed to delete during rollback.')
      return false
    }
  }

  private async runUpdate(stack: StackRecord, cs: ChangeSetRecord, prep: Prepared, actor: Actor): Promise<boolean> {
    const before = { resources: structuredClone(stack.resources), templateBody: stack.templateBody, Parameters: stack.Parameters, Outputs: stack.Outputs, Description: stack.Description, Tags: stack.Tags, imports: stack.imports, exports: structuredClone(this.model.state.exports) }
    const oldTemplate = readTemplate(before.templateBody)
    const oldGraph = dependencyGraph(oldTemplate)
    this.adopt(stack, cs, prep)
    stack.LastUpdatedTime = Date.now()
    this.model.stackStatus(stack, 'UPDATE_IN_PROGRESS', 'User Initiated')
    const journal: Array<{ id: string; kind: 'created' | 'updated' | 'replaced'; previous?: ResourceRecord }> = []
    const imports = new Set<string>()
    try {
      for (const id of creationOrder(prep.graph, prep.active)) {
        const decl = prep.template.Resources[id]
        const current = stack.resources[id]
        if (!current || current.ResourceType !== decl.Type || current.PhysicalResourceId === undefined || current.ResourceStatus === 'DELETE_COMPLETE') {
          if (current && current.ResourceType !== decl.Type) journal.push({ id, kind: 'replaced', previous: structuredClone(current) })
          else journal.push({ id, kind: 'created' })
          await this.createResource(stack, id, prep, actor, imports, 'UPDATE')
          continue
        }
        const props = evaluate(decl.Properties ?? {}, this.evalContext(prep.template, prep.pseudo, prep.parameters, prep.conditions, stack, imports)) as TemplateObject
        current.Metadata = decl.Metadata
        current.DeletionPolicy = decl.DeletionPolicy
        current.UpdateReplacePolicy = decl.UpdateReplacePolicy
        if (JSON.stringify(props) === JSON.stringify(current.properties)) continue
        const handler = this.handler(decl.Type)
        const changed = changedProperties(current.properties, props)
        const replace = !handler.update || handler.replaceOn === '*' || changed.some((n) => (handler.replaceOn ?? []).includes(n))
        const previous = structuredClone(current)
        journal.push({ id, kind: replace ? 'replaced' : 'updated', previous })
        await this.updateResource(stack, current, props, handler, replace, actor)
      }
      await this.writeOutputs(stack, prep, imports)
      this.model.stackStatus(stack, 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS')
      // Old physical resources of replacements, then resources no longer in the template (reverse of the old order).
      for (const step of journal) {
        if (step.kind === 'replaced' && step.previous) await this.deleteResource(stack, { ...step.previous }, actor, { retain: step.previous.UpdateReplacePolicy !== undefined && RETAINED.has(step.previous.UpdateReplacePolicy) })
      }
      for (const id of creationOrder(oldGraph).reverse()) {
        const r = stack.resources[id]
        if (!r || (prep.active.has(id) && prep.template.Resources[id]?.Type === r.ResourceType)) continue
        if (r.ResourceStatus !== 'DELETE_COMPLETE') await this.deleteResource(stack, r, actor)
        delete stack.resources[id]
      }
      this.model.stackStatus(stack, 'UPDATE_COMPLETE')
      return true
    } catch (err) {
      const reason = err instanceof ResourceFailed ? `The following resource(s) failed to ${err.verb}: [${err.logicalId}]. ` : `${failureReason(err)} `
      if (stack.DisableRollback) {
        this.model.stackStatus(stack, 'UPDATE_FAILED', reason.trim())
        return false
      }
      this.model.stackStatus(stack, 'UPDATE_ROLLBACK_IN_PROGRESS', reason)
      let clean = true
      for (const step of [...journal].reverse()) {
        const r = stack.resources[step.id]
        if (step.kind === 'updated' && r && step.previous) {
          try {
            await this.updateResource(stack, r, step.previous.properties, this.handler(r.ResourceType), false, actor)
          } catch {
            clean = false
          }
        }
      }
      Object.assign(stack, { templateBody: before.templateBody, Parameters: before.Parameters, Outputs: before.Outputs, Description: before.Description, Tags: before.Tags, imports: before.imports })
      this.model.state.exports = before.exports
      this.model.stackStatus(stack, 'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS')
      for (const step of [...journal].reverse()) {
        const r = stack.resources[step.id]
        if ((step.kind === 'created' || step.kind === 'replaced') && r && r.PhysicalResourceId !== step.previous?.PhysicalResourceId && r.ResourceStatus !== 'DELETE_COMPLETE') {
          clean = (await this.deleteResource(stack, r, actor, { rollbackOfCreate: true })) && clean
        }
        if (step.previous) stack.resources[step.id] = step.previous
        else delete stack.resources[step.id]
      }
      for (const [id, r] of Object.entries(before.resources)) stack.resources[id] ??= r
      this.model.stackStatus(stack, clean ? 'UPDATE_ROLLBACK_COMPLETE' : 'UPDATE_ROLLBACK_FAILED')
      return false
    }
  }

  private async updateResource(stack: StackRecord, r: ResourceRecord, props: TemplateObject, handler: ResourceHandler, replace: boolean, actor: Actor): Promise<void> {
    const current = { physicalId: r.PhysicalResourceId!, properties: r.properties, attributes: r.attributes }
    this.model.resourceStatus(stack, r, 'UPDATE_IN_PROGRESS', replace ? 'Requested update requires the creation of a new physical resource; hence creating one.' : undefined)
    try {
      const ctx = this.resourceContext(stack, r.LogicalResourceId, actor, r)
      const resolved = await this.dynamic(props, actor)
      const out = replace ? await handler.create(resolved, ctx) : await handler.update!(resolved, { ...current, properties: await this.dynamic(current.properties, actor) }, ctx)
      r.PhysicalResourceId = out.physicalId
      r.attributes = out.attributes
      r.properties = props
      if (replace) this.model.resourceStatus(stack, r, 'UPDATE_IN_PROGRESS', 'Resource creation Initiated')
      this.model.resourceStatus(stack, r, 'UPDATE_COMPLETE')
    } catch (err) {
      if (replace) r.PhysicalResourceId = current.physicalId
      this.model.resourceStatus(stack, r, 'UPDATE_FAILED', failureReason(err))
      throw new ResourceFailed(r.LogicalResourceId, 'update')
    }
  }

  private async runDelete(stack: StackRecord, actor: Actor, retain: Set<string>): Promise<void> {
    if (stack.StackStatus === 'REVIEW_IN_PROGRESS') {
      this.finishDelete(stack)
      return
    }
    this.model.stackStatus(stack, 'DELETE_IN_PROGRESS', 'User Initiated')
    try {
      for (const [name, e] of Object.entries(this.model.state.exports)) if (e.stackId === stack.StackId) this.refuseIfImported(name, `Export ${name} cannot be deleted as it is in use by`)
    } catch (err) {
      this.model.stackStatus(stack, 'DELETE_FAILED', failureReason(err))
      return
    }
    let graph: Map<string, Set<string>>
    try {
      graph = dependencyGraph(readTemplate(stack.templateBody))
    } catch {
      graph = new Map(Object.keys(stack.resources).map((id) => [id, new Set<string>()]))
    }
    const order = [...creationOrder(graph).reverse(), ...Object.keys(stack.resources).filter((id) => !graph.has(id))]
    const failed: string[] = []
    for (const id of order) {
      const r = stack.resources[id]
      if (!r || r.ResourceStatus === 'DELETE_COMPLETE' || r.ResourceStatus === 'DELETE_SKIPPED') continue
      if (!(await this.deleteResource(stack, r, actor, { retain: retain.has(id) }))) failed.push(id)
    }
    if (failed.length) {
      this.model.stackStatus(stack, 'DELETE_FAILED', `The following resource(s) failed to delete: [${failed.join(', ')}]. `)
      return
    }
    this.finishDelete(stack)
  }

  private finishDelete(stack: StackRecord): void {
    for (const [name, e] of Object.entries(this.model.state.exports)) if (e.stackId === stack.StackId) delete this.model.state.exports[name]
    stack.DeletionTime = Date.now()
    stack.Outputs = []
    stack.imports = []
    this.model.stackStatus(stack, 'DELETE_COMPLETE')
    for (const cs of Object.values(this.model.state.changeSets)) if (cs.StackId === stack.StackId) delete this.model.state.changeSets[cs.ChangeSetId]
    this.model.save()
  }

  /** The stack takes the change set's template, parameters and settings. */
  private adopt(stack: StackRecord, cs: ChangeSetRecord, prep: Prepared): void {
    stack.templateBody = cs.templateBody
    stack.Parameters = prep.parameterRecords
    stack.Description = prep.template.Description
    stack.Capabilities = cs.Capabilities
    stack.Tags = cs.Tags
    stack.NotificationARNs = cs.NotificationARNs
    if (cs.RoleARN) stack.RoleARN = cs.RoleARN
  }

  /** True while the stack cannot take another operation. */
  busy(stack: StackRecord): boolean {
    return IN_PROGRESS.test(stack.StackStatus) && stack.StackStatus !== 'REVIEW_IN_PROGRESS'
  }
}

class ResourceFailed extends Error {
  constructor(readonly logicalId: string, readonly verb: 'create' | 'update') {
    super(`${logicalId} failed to ${verb}`)
  }
}

/** Top-level property names whose values differ. */
export function changedProperties(a: TemplateObject, b: TemplateObject): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...names].filter((n) => JSON.stringify(a[n]) !== JSON.stringify(b[n])).sort()
}

export type { Tag }
