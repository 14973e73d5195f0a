// CloudFormation's API (query protocol in, XML out): each operation's authorisation checks (the
// router runs them once, before the operation) and the mapping between wire shapes and the engine.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Operations.html
import { Readable } from 'node:stream'
import { AwsError, text, type AuthCheck, type Caller, type Operation, type OperationContext, type ServiceDefinition } from '../core/types.js'
import type { CredentialResolver } from '../core/identity.js'
import { EMPTY_RESULT } from '../core/protocols/query.js'
import type { IamModel } from '../iam/model.js'
import type { StsModel } from '../sts/model.js'
import { evaluate as evaluatePolicy, type PolicyDocument } from '@kms-share/policy'
import type { Actor, CloudFormationEngine } from './engine.js'
import type { ChangeSetRecord, ResourceRecord, StackParameter, StackRecord } from './model.js'
import { MAX_TEMPLATE_BODY, readTemplate, validationError, type TemplateObject } from './template.js'

type Input = Record<string, unknown>
type Members = Record<string, unknown>

export interface CloudFormationServiceDeps {
  engine: CloudFormationEngine
  iam: IamModel
  sts: StsModel
  credentials: CredentialResolver
}

const CFN = 'cloudformation.amazonaws.com'
const NAME = /^[a-zA-Z][-a-zA-Z0-9]*$/
const list = (value: unknown): string[] => (value === undefined || value === '' ? [] : Array.isArray(value) ? value.map((v) => text(v)) : [text(value)])
const members = (value: unknown): Members[] => (Array.isArray(value) ? (value as Members[]) : [])
const opt = (value: unknown): string | undefined => (value === undefined ? undefined : text(value))
const flag = (value: unknown): boolean => text(value ?? 'false') === 'true'
const date = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms))

function checkName(value: string | undefined, member: string): string {
  if (!value) throw validationError(`${member.charAt(0).toUpperCase()}${member.slice(1)} is a required parameter.`)
  if (!value.startsWith('arn:') && (!NAME.test(value) || value.length > 128)) {
    throw validationError(`1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*`)
  }
  return value
}

function parametersOut(parameters: StackParameter[]) {
  return parameters.map((p) => ({ ParameterKey: p.ParameterKey, ParameterValue: p.NoEcho ? '****' : p.ParameterValue, ...(p.ResolvedValue !== undefined ? { ResolvedValue: p.NoEcho ? '****' : p.ResolvedValue } : {}) }))
}

function stackOut(s: StackRecord) {
  return {
    StackId: s.StackId,
    StackName: s.StackName,
    ChangeSetId: s.ChangeSetId,
    Description: s.Description,
    Parameters: parametersOut(s.Parameters),
    CreationTime: date(s.CreationTime),
    DeletionTime: date(s.DeletionTime),
    LastUpdatedTime: date(s.LastUpdatedTime),
    RollbackConfiguration: {},
    StackStatus: s.StackStatus,
    StackStatusReason: s.StackStatusReason,
    DisableRollback: s.DisableRollback,
    NotificationARNs: s.NotificationARNs,
    Capabilities: s.Capabilities,
    Outputs: s.Outputs,
    RoleARN: s.RoleARN,
    Tags: s.Tags,
    EnableTerminationProtection: s.EnableTerminationProtection,
    DriftInformation: { StackDriftStatus: 'NOT_CHECKED' },
  }
}

function resourceOut(s: StackRecord, r: ResourceRecord) {
  return {
    StackName: s.StackName,
    StackId: s.StackId,
    LogicalResourceId: r.LogicalResourceId,
    PhysicalResourceId: r.PhysicalResourceId,
    ResourceType: r.ResourceType,
    ResourceStatus: r.ResourceStatus,
    ResourceStatusReason: r.ResourceStatusReason,
  }
}

function changeSetSummary(cs: ChangeSetRecord) {
  return {
    StackId: cs.StackId,
    StackName: cs.StackName,
    ChangeSetId: cs.ChangeSetId,
    ChangeSetName: cs.ChangeSetName,
    ExecutionStatus: cs.ExecutionStatus,
    Status: cs.Status,
    StatusReason: cs.StatusReason,
    CreationTime: date(cs.CreationTime),
    Description: cs.Description,
    IncludeNestedStacks: false,
  }
}

/** Does the role's trust policy let CloudFormation assume it? */
function trustsCloudFormation(document: PolicyDocument, roleArn: string, accountId: string): boolean {
  const result = evaluatePolicy({
    request: { principal: { arn: CFN, type: 'service', service: CFN, accountId }, action: 'sts:AssumeRole', resource: roleArn, context: {} },
    identityPolicies: [],
    resourcePolicy: { name: 'trust-policy', document },
    resourceAccount: accountId,
    resourcePolicyRequired: true,
  })
  return result.decision === 'Allowed'
}

export function createCloudFormationService(deps: CloudFormationServiceDeps): ServiceDefinition {
  const { engine } = deps
  const model = engine.model
  const { accountId, region } = model
  const stackArn = (nameOrId: string | undefined) => {
    if (!nameOrId) return '*'
    if (nameOrId.startsWith('arn:')) return nameOrId
    return model.findStack(nameOrId)?.StackId ?? `arn:aws:cloudformation:${region}:${accountId}:stack/${nameOrId}/*`
  }
  const onStack = (action: string, extra: (i: Input) => AuthCheck[] = () => []) => (i: Input) => [{ action: `cloudformation:${action}`, resource: stackArn(opt(i.StackName)) }, ...extra(i)]
  const passRole = (i: Input): AuthCheck[] => (i.RoleARN ? [{ action: 'iam:PassRole', resource: text(i.RoleARN), context: { 'iam:PassedToService': CFN } }] : [])

  /** CloudFormation acts as the caller, or as the stack's role: a session of that role, trusted for CloudFormation. */
  const actorFor = (caller: Caller, roleArn: string | undefined): Actor => {
    if (!roleArn) return { caller }
    const role = Object.values(deps.iam.state.roles).find((r) => r.Arn === roleArn)
    if (!role || !trustsCloudFormation(deps.iam.document(role.AssumeRolePolicyDocument), roleArn, accountId)) throw validationError(`Role ${roleArn} is invalid or cannot be assumed`)
    const session = deps.sts.issue({ kind: 'role', roleName: role.RoleName, roleId: role.RoleId, sessionName: 'AWSCloudFormation', expiresAt: Date.now() + 3_600_000 })
    return { caller: deps.credentials.caller(session.AccessKeyId) }
  }

  /** TemplateBody, or TemplateURL read from the lab's S3 as the caller. */
  const templateBody = async (i: Input, ctx: OperationContext): Promise<string> => {
    if (i.TemplateBody !== undefined && i.TemplateURL !== undefined) throw validationError('You cannot specify both TemplateURL and TemplateBody')
    if (i.TemplateBody !== undefined) {
      const body = text(i.TemplateBody)
      if (body.length > MAX_TEMPLATE_BODY) throw validationError(`1 validation error detected: Value '${body.slice(0, 20)}…' at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to ${MAX_TEMPLATE_BODY}`)
      return body
    }
    if (i.TemplateURL === undefined) throw validationError('Either Template URL or Template Body must be specified.')
    let url: URL
    try {
      url = new URL(text(i.TemplateURL))
    } catch {
      throw validationError('TemplateURL must be a supported URL.')
    }
    // Virtual-hosted (bucket.s3….amazonaws.com) or path-style (s3….amazonaws.com/bucket, or the lab's own endpoint).
    const hosted = /^(.+)\.s3[.-]/.exec(url.hostname)
    const path = url.pathname.replace(/^\/vpce\/vpce-[0-9a-z]+/, '').slice(1)
    const bucket = hosted ? hosted[1] : path.split('/')[0]
    const key = decodeURIComponent(hosted ? path : path.split('/').slice(1).join('/'))
    if (!bucket || !key) throw validationError('TemplateURL must be a supported URL.')
    try {
      const out = await ctx.invoke<{ stream?: Readable }>('s3', 'GetObject', { Bucket: bucket, Key: key, query: url.searchParams.get('versionId') ? { versionId: url.searchParams.get('versionId') } : {}, headers: {} }, { viaService: CFN, invokedBy: CFN })
      const chunks: Buffer[] = []
      for await (const chunk of out.stream ?? Readable.from([])) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    } catch (err) {
      if (err instanceof AwsError) throw validationError(`S3 error: ${err.message}`)
      throw err
    }
  }

  const changeSetOf = (i: Input) => model.changeSet(opt(i.ChangeSetName), opt(i.StackName))

  /** Shared by CreateChangeSet and CreateStack/UpdateStack. */
  const createChangeSet = async (i: Input, ctx: OperationContext, type: 'CREATE' | 'UPDATE', name: string): Promise<ChangeSetRecord> => {
    const stackName = checkName(opt(i.StackName), 'stackName')
    const existing = model.findStack(stackName)
    if (type === 'CREATE' && existing && existing.StackStatus !== 'REVIEW_IN_PROGRESS') throw new AwsError('AlreadyExistsException', `Stack [${stackName}] already exists and cannot be created again with the changeSet [${name}].`, 400)
    if (type === 'UPDATE') {
      if (!existing || existing.StackStatus === 'REVIEW_IN_PROGRESS') throw validationError(`Stack [${stackName}] does not exist`)
      if (engine.busy(existing) || ['ROLLBACK_COMPLETE', 'ROLLBACK_FAILED', 'DELETE_FAILED', 'UPDATE_ROLLBACK_FAILED', 'CREATE_FAILED'].includes(existing.StackStatus)) {
        throw validationError(`Stack:${existing.StackId} is in ${existing.StackStatus} state and can not be updated.`)
      }
    }
    if (existing && Object.values(model.state.changeSets).some((c) => c.StackId === existing.StackId && c.ChangeSetName === name)) throw new AwsError('AlreadyExistsException', `ChangeSet [${name}] already exists`, 400)
    const body = await templateBody(i, ctx)
    const roleArn = opt(i.RoleARN)
    const actor = actorFor(ctx.caller, roleArn ?? existing?.RoleARN)
    const stackId = existing?.StackId ?? model.stackId(stackName)
    const notificationArns = list(i.NotificationARNs)
    const given = members(i.Parameters).map((p) => ({ ParameterKey: text(p.ParameterKey), ParameterValue: opt(p.ParameterValue), UsePreviousValue: flag(p.UsePreviousValue) }))
    const prep = await engine.prepare({ templateBody: body, parameters: given, previous: type === 'UPDATE' ? existing?.Parameters : undefined, stackName, stackId, notificationArns }, actor)
    const capabilities = list(i.Capabilities)
    engine.checkCapabilities(prep.template, capabilities)
    const tags = members(i.Tags).map((t) => ({ Key: text(t.Key), Value: text(t.Value) }))
    let stack = existing
    if (!stack) {
      stack = {
        StackId: stackId,
        StackName: stackName,
        StackStatus: 'REVIEW_IN_PROGRESS',
        CreationTime: Date.now(),
        Description: prep.template.Description,
        templateBody: body,
        Parameters: [],
        Capabilities: [],
        Tags: tags,
        NotificationARNs: notificationArns,
        DisableRollback: false,
        EnableTerminationProtection: flag(i.EnableTerminationProtection),
        Outputs: [],
        resources: {},
        events: [],
        ...(roleArn ? { RoleARN: roleArn } : {}),
      }
      model.state.stacks[stackId] = stack
      model.stackStatus(stack, 'REVIEW_IN_PROGRESS', 'User Initiated')
    }
    const changes = engine.changes(prep, type === 'UPDATE' ? stack : undefined)
    const unchanged = type === 'UPDATE' && changes.length === 0 && body === stack.templateBody && JSON.stringify(prep.parameterRecords) === JSON.stringify(stack.Parameters) && JSON.stringify(tags) === JSON.stringify(stack.Tags)
    const cs: ChangeSetRecord = {
      ChangeSetId: model.changeSetId(name),
      ChangeSetName: name,
      StackId: stack.StackId,
      StackName: stackName,
      ChangeSetType: type,
      Status: unchanged ? 'FAILED' : 'CREATE_COMPLETE',
      ExecutionStatus: unchanged ? 'UNAVAILABLE' : 'AVAILABLE',
      ...(unchanged ? { StatusReason: "The submitted information didn't contain changes. Submit different information to create a change set." } : {}),
      CreationTime: Date.now(),
      Description: opt(i.Description),
      templateBody: body,
      // What was given (previous values filled in); defaults and SSM values are read again at execution.
      Parameters: prep.parameterRecords.filter((r) => given.some((g) => g.ParameterKey === r.ParameterKey)).map((r) => ({ ParameterKey: r.ParameterKey, ParameterValue: r.ParameterValue, ...(r.NoEcho ? { NoEcho: true } : {}) })),
      Capabilities: capabilities,
      ...(roleArn ? { RoleARN: roleArn } : {}),
      Tags: tags,
      NotificationARNs: notificationArns,
      Changes: changes,
    }
    model.state.changeSets[cs.ChangeSetId] = cs
    model.save()
    return cs
  }

  const executeChangeSet = async (cs: ChangeSetRecord, caller: Caller, disableRollback: boolean) => {
    if (cs.ExecutionStatus !== 'AVAILABLE') throw new AwsError('InvalidChangeSetStatus', `ChangeSet [${cs.ChangeSetId}] cannot be executed in its current execution status of [${cs.ExecutionStatus}]`, 400)
    const stack = model.stack(cs.StackId)
    if (engine.busy(stack)) throw new AwsError('InvalidChangeSetStatus', `Stack:${stack.StackId} is in ${stack.StackStatus} state and can not be updated.`, 400)
    await engine.execute(cs, actorFor(caller, cs.RoleARN ?? stack.RoleARN), disableRollback)
  }

  const operations: Record<string, Operation<Input, unknown>> = {
    CreateChangeSet: {
      authorize: onStack('CreateChangeSet', passRole),
      run: async (i, ctx) => {
        const name = checkName(opt(i.ChangeSetName), 'changeSetName')
        const type = text(i.ChangeSetType ?? 'UPDATE')
        if (type !== 'CREATE' && type !== 'UPDATE') throw validationError(`ChangeSetType ${type} is not supported by aws-lab (CREATE or UPDATE)`)
        const cs = await createChangeSet(i, ctx, type, name)
        return { Id: cs.ChangeSetId, StackId: cs.StackId }
      },
    },
    DescribeChangeSet: {
      readOnly: true,
      authorize: onStack('DescribeChangeSet'),
      run: (i) => {
        const cs = changeSetOf(i)
        return { ...changeSetSummary(cs), Parameters: parametersOut(cs.Parameters), NotificationARNs: cs.NotificationARNs, RollbackConfiguration: {}, Capabilities: cs.Capabilities, Tags: cs.Tags, Changes: cs.Changes }
      },
    },
    ListChangeSets: {
      readOnly: true,
      authorize: onStack('ListChangeSets'),
      run: (i) => {
        const stack = model.stack(opt(i.StackName))
        return { Summaries: Object.values(model.state.changeSets).filter((c) => c.StackId === stack.StackId).map(changeSetSummary) }
      },
    },
    ExecuteChangeSet: {
      authorize: onStack('ExecuteChangeSet'),
      run: async (i, ctx) => {
        await executeChangeSet(changeSetOf(i), ctx.caller, flag(i.DisableRollback))
        return { [EMPTY_RESULT]: true }
      },
    },
    DeleteChangeSet: {
      authorize: onStack('DeleteChangeSet'),
      run: (i) => {
        const cs = changeSetOf(i)
        if (cs.ExecutionStatus === 'EXECUTE_IN_PROGRESS') throw new AwsError('InvalidChangeSetStatus', `ChangeSet [${cs.ChangeSetId}] cannot be deleted in its current execution status of [EXECUTE_IN_PROGRESS]`, 400)
        delete model.state.changeSets[cs.ChangeSetId]
        model.save()
        return { [EMPTY_RESULT]: true }
      },
    },
    CreateStack: {
      authorize: onStack('CreateStack', passRole),
      run: async (i, ctx) => {
        if (model.findStack(opt(i.StackName))) throw new AwsError('AlreadyExistsException', `Stack [${text(i.StackName)}] already exists`, 400)
        const cs = await createChangeSet(i, ctx, 'CREATE', `create-stack-${Date.now()}`)
        await executeChangeSet(cs, ctx.caller, flag(i.DisableRollback))
        return { StackId: cs.StackId }
      },
    },
    UpdateStack: {
      authorize: onStack('UpdateStack', passRole),
      run: async (i, ctx) => {
        const cs = await createChangeSet(i, ctx, 'UPDATE', `update-stack-${Date.now()}`)
        if (cs.Status === 'FAILED') {
          delete model.state.changeSets[cs.ChangeSetId]
          throw validationError('No updates are to be performed.')
        }
        await executeChangeSet(cs, ctx.caller, flag(i.DisableRollback))
        return { StackId: cs.StackId }
      },
    },
    DeleteStack: {
      authorize: onStack('DeleteStack', passRole),
      run: async (i, ctx) => {
        const stack = model.findStack(checkName(opt(i.StackName), 'stackName'))
        // Deleting a stack that does not exist (or is gone already) succeeds, as in AWS.
        if (!stack || stack.StackStatus === 'DELETE_COMPLETE' || stack.StackStatus === 'DELETE_IN_PROGRESS') return {}
        if (stack.EnableTerminationProtection) throw validationError(`Stack [${stack.StackName}] cannot be deleted while TerminationProtection is enabled`)
        if (engine.busy(stack)) throw validationError(`Stack [${stack.StackName}] cannot be deleted while in status ${stack.StackStatus}`)
        const retain = list(i.RetainResources)
        if (retain.length && stack.StackStatus !== 'DELETE_FAILED') throw validationError(`Invalid operation on stack [${stack.StackId}]. RetainResources can only be specified when the stack is in the DELETE_FAILED state`)
        if (i.RoleARN) stack.RoleARN = text(i.RoleARN)
        await engine.delete(stack, actorFor(ctx.caller, stack.RoleARN), retain)
        return {}
      },
    },
    DescribeStacks: {
      readOnly: true,
      authorize: onStack('DescribeStacks'),
      run: (i) => {
        const name = opt(i.StackName)
        const stacks = name ? [model.stack(name)] : Object.values(model.state.stacks).filter((s) => s.StackStatus !== 'DELETE_COMPLETE')
        return { Stacks: stacks.map(stackOut) }
      },
    },
    ListStacks: {
      readOnly: true,
      authorize: () => [{ action: 'cloudformation:ListStacks', resource: '*' }],
      run: (i) => {
        const filter = list(i.StackStatusFilter)
        const stacks = Object.values(model.state.stacks).filter((s) => !filter.length || filter.includes(s.StackStatus))
        return {
          StackSummaries: stacks.reverse().map((s) => ({
            StackId: s.StackId,
            StackName: s.StackName,
            TemplateDescription: s.Description,
            CreationTime: date(s.CreationTime),
            LastUpdatedTime: date(s.LastUpdatedTime),
            DeletionTime: date(s.DeletionTime),
            StackStatus: s.StackStatus,
            StackStatusReason: s.StackStatusReason,
            DriftInformation: { StackDriftStatus: 'NOT_CHECKED' },
          })),
        }
      },
    },
    DescribeStackEvents: {
      readOnly: true,
      authorize: onStack('DescribeStackEvents'),
      run: (i) => ({ StackEvents: [...model.stack(opt(i.StackName)).events].reverse().map((e) => ({ ...e, Timestamp: new Date(e.Timestamp) })) }),
    },
    DescribeStackResources: {
      readOnly: true,
      authorize: onStack('DescribeStackResources'),
      run: (i) => {
        const physical = opt(i.PhysicalResourceId)
        const stack = physical ? Object.values(model.state.stacks).find((s) => s.StackStatus !== 'DELETE_COMPLETE' && Object.values(s.resources).some((r) => r.PhysicalResourceId === physical)) : model.stack(opt(i.StackName))
        if (!stack) throw validationError(`Stack for ${physical} does not exist`)
        const logical = opt(i.LogicalResourceId)
        return { StackResources: Object.values(stack.resources).filter((r) => !logical || r.LogicalResourceId === logical).map((r) => ({ ...resourceOut(stack, r), Timestamp: new Date(r.Timestamp), DriftInformation: { StackResourceDriftStatus: 'NOT_CHECKED' } })) }
      },
    },
    DescribeStackResource: {
      readOnly: true,
      authorize: onStack('DescribeStackResource'),
      run: (i) => {
        const stack = model.stack(opt(i.StackName))
        const logical = text(i.LogicalResourceId ?? '')
        const r = stack.resources[logical]
        if (!r) throw validationError(`Resource ${logical} does not exist for stack ${stack.StackName}`)
        return { StackResourceDetail: { ...resourceOut(stack, r), LastUpdatedTimestamp: new Date(r.Timestamp), Metadata: r.Metadata ? JSON.stringify(r.Metadata) : undefined, DriftInformation: { StackResourceDriftStatus: 'NOT_CHECKED' } } }
      },
    },
    ListStackResources: {
      readOnly: true,
      authorize: onStack('ListStackResources'),
      run: (i) => {
        const stack = model.stack(opt(i.StackName))
        return {
          StackResourceSummaries: Object.values(stack.resources).map((r) => ({
            LogicalResourceId: r.LogicalResourceId,
            PhysicalResourceId: r.PhysicalResourceId,
            ResourceType: r.ResourceType,
            LastUpdatedTimestamp: new Date(r.Timestamp),
            ResourceStatus: r.ResourceStatus,
            ResourceStatusReason: r.ResourceStatusReason,
            DriftInformation: { StackResourceDriftStatus: 'NOT_CHECKED' },
          })),
        }
      },
    },
    GetTemplate: {
      readOnly: true,
      authorize: onStack('GetTemplate'),
      run: (i) => {
        if (i.ChangeSetName !== undefined) return { TemplateBody: changeSetOf(i).templateBody, StagesAvailable: ['Original', 'Processed'] }
        return { TemplateBody: model.stack(opt(i.StackName)).templateBody, StagesAvailable: ['Original', 'Processed'] }
      },
    },
    GetTemplateSummary: {
      readOnly: true,
      authorize: (i) => [{ action: 'cloudformation:GetTemplateSummary', resource: i.StackName ? stackArn(opt(i.StackName)) : '*' }],
      run: async (i, ctx) => {
        let body: string
        if (i.StackName !== undefined) {
          const stack = model.stack(opt(i.StackName))
          if (stack.StackStatus === 'REVIEW_IN_PROGRESS') throw validationError('GetTemplateSummary cannot be called on REVIEW_IN_PROGRESS stacks.')
          body = stack.templateBody
        } else body = await templateBody(i, ctx)
        const template = readTemplate(body)
        const { capabilities, reason } = engine.requiredCapabilities(template)
        const types = [...new Set(Object.values(template.Resources).map((r) => r.Type))]
        return {
          Parameters: Object.entries(template.Parameters).map(([key, p]) => ({
            ParameterKey: key,
            DefaultValue: p.Default === undefined ? undefined : String(p.Default as string),
            ParameterType: p.Type,
            NoEcho: p.NoEcho === true || p.NoEcho === 'true',
            Description: p.Description,
            ParameterConstraints: p.AllowedValues ? { AllowedValues: p.AllowedValues.map(String) } : {},
          })),
          Description: template.Description,
          Capabilities: capabilities,
          CapabilitiesReason: reason,
          ResourceTypes: types,
          Version: template.AWSTemplateFormatVersion,
          Metadata: template.Metadata ? JSON.stringify(template.Metadata) : undefined,
          DeclaredTransforms: [],
          ResourceIdentifierSummaries: types.map((t) => ({ ResourceType: t, LogicalResourceIds: Object.entries(template.Resources).filter(([, r]) => r.Type === t).map(([id]) => id) })),
        }
      },
    },
    ValidateTemplate: {
      readOnly: true,
      authorize: () => [{ action: 'cloudformation:ValidateTemplate', resource: '*' }],
      run: async (i, ctx) => {
        const template = readTemplate(await templateBody(i, ctx))
        engine.validate(template)
        const { capabilities, reason } = engine.requiredCapabilities(template)
        return {
          Parameters: Object.entries(template.Parameters).map(([key, p]) => ({ ParameterKey: key, DefaultValue: p.Default === undefined ? undefined : String(p.Default as string), NoEcho: p.NoEcho === true || p.NoEcho === 'true', Description: p.Description })),
          Description: template.Description,
          Capabilities: capabilities,
          CapabilitiesReason: reason,
          DeclaredTransforms: template.Transform === undefined ? [] : list(template.Transform),
        }
      },
    },
    ListExports: {
      readOnly: true,
      authorize: () => [{ action: 'cloudformation:ListExports', resource: '*' }],
      run: () => ({ Exports: Object.entries(model.state.exports).map(([Name, e]) => ({ ExportingStackId: e.stackId, Name, Value: e.value })) }),
    },
    ListImports: {
      readOnly: true,
      authorize: () => [{ action: 'cloudformation:ListImports', resource: '*' }],
      run: (i) => {
        const name = text(i.ExportName ?? '')
        const users = Object.values(model.state.stacks).filter((s) => s.StackStatus !== 'DELETE_COMPLETE' && (s.imports ?? []).includes(name)).map((s) => s.StackName)
        if (!users.length) throw validationError(`Export '${name}' is not imported by any stack.`)
        return { Imports: users }
      },
    },
  }
  return {
    name: 'cloudformation',
    signingName: 'cloudformation',
    eventSource: CFN,
    accessDenied: { code: 'AccessDenied', status: 403 },
    operations,
  }
}

export type { TemplateObject }
