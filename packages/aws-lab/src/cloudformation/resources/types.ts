// What a resource type's handler is: create, update in place (or not at all: then a change replaces
// it), delete — each done through the lab's own APIs as the stack's actor, so IAM decides, CloudTrail
// records, and the resource is the same a client would have made.
import { AwsError, text } from '../../core/types.js'
import type { Ec2Model } from '../../ec2/model.js'
import type { IamModel } from '../../iam/model.js'
import { isObject, type TemplateObject, type TemplateValue } from '../template.js'

export interface ResourceContext {
  stackName: string
  stackId: string
  logicalId: string
  accountId: string
  region: string
  /** A lab API call as the stack's actor (the caller, or the stack's role), recorded with invokedBy cloudformation.amazonaws.com. */
  call<O = Record<string, unknown>>(service: string, operation: string, input: unknown): Promise<O>
  /** A name as CloudFormation generates one: `<stack>-<logical id>-<13 random>`, cut to fit. */
  physicalName(maxLength: number, options?: { lowercase?: boolean }): string
  /** The stack's tags plus aws:cloudformation:stack-name/stack-id/logical-id, as CloudFormation propagates them. */
  tags: Array<{ Key: string; Value: string }>
  ec2: Ec2Model
  iam: IamModel
  /** Resolves once an instance's metadata endpoint answers (CloudFormation waits for `running`). */
  instanceReady(instanceId: string): Promise<void>
  /** Records the physical id as soon as it exists, so a failure later in create still rolls it back. */
  provisional(physicalId: string): void
}

export interface ProvisionedResource {
  physicalId: string
  attributes: Record<string, TemplateValue>
}

export interface CurrentResource extends ProvisionedResource {
  properties: TemplateObject
}

export interface ResourceHandler {
  /** Fn::GetAtt names this type answers. */
  attributes: string[]
  /** Properties whose change needs a new physical resource ('*': any change does; undefined update also means that). */
  replaceOn?: string[] | '*'
  create(props: TemplateObject, ctx: ResourceContext): Promise<ProvisionedResource>
  update?(props: TemplateObject, current: CurrentResource, ctx: ResourceContext): Promise<ProvisionedResource>
  delete(current: CurrentResource, ctx: ResourceContext): Promise<void>
}

/** CloudFormation's schema check: a missing required property fails the resource before any call. */
export function required(props: TemplateObject, name: string): TemplateValue {
  const v = props[name]
  if (v === undefined || v === null) throw new AwsError('ValidationError', `Properties validation failed for resource with message: #: required key [${name}] not found`, 400)
  return v
}

export function requiredString(props: TemplateObject, name: string): string {
  const v = required(props, name)
  if (typeof v !== 'string') throw new AwsError('ValidationError', `Properties validation failed for resource with message: #/${name}: expected type: String, found: ${Array.isArray(v) ? 'JSONArray' : typeof v === 'object' ? 'JSONObject' : typeof v}`, 400)
  return v
}

export function optionalString(props: TemplateObject, name: string): string | undefined {
  const v = props[name]
  if (v === undefined || v === null) return undefined
  if (typeof v === 'object') throw new AwsError('ValidationError', `Properties validation failed for resource with message: #/${name}: expected type: String, found: ${Array.isArray(v) ? 'JSONArray' : 'JSONObject'}`, 400)
  return text(v)
}

export function stringList(value: TemplateValue | undefined): string[] {
  if (value === undefined || value === null) return []
  return (Array.isArray(value) ? value : [value]).map((v) => text(v))
}

/** A policy document property: CloudFormation takes a JSON object (or a JSON string) and sends JSON text. */
export function policyText(value: TemplateValue | undefined): string | undefined {
  if (value === undefined || value === null) return undefined
  return typeof value === 'string' ? value : JSON.stringify(value)
}

export function tagList(value: TemplateValue | undefined): Array<{ Key: string; Value: string }> {
  if (!Array.isArray(value)) return []
  return value.filter(isObject).map((t) => ({ Key: text(t.Key), Value: text(t.Value) }))
}

export const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** A failure inside a handler's API call, with what CloudFormation names in its reason (service, request id). */
export class HandlerFailure extends Error {
  constructor(readonly service: string, readonly error: AwsError, readonly requestId: string) {
    super(error.message)
  }
}

/** The AWS error behind a handler failure (or the error itself). */
export function awsErrorOf(err: unknown): AwsError | undefined {
  if (err instanceof HandlerFailure) return err.error
  return err instanceof AwsError ? err : undefined
}

const gone = (err: unknown) => /NotFound|NoSuch/.test(awsErrorOf(err)?.code ?? '')

/** Ignore a delete of something already gone (a retry, or a resource removed behind CloudFormation's back). */
export async function ignoreNotFound(work: Promise<unknown>): Promise<void> {
  try {
    await work
  } catch (err) {
    if (gone(err)) return
    throw err
  }
}

/** For a list call on something already gone: answer `empty` instead. */
export function notFoundAs<T>(empty: T): (err: unknown) => T {
  return (err) => {
    if (gone(err)) return empty
    throw err
  }
}
