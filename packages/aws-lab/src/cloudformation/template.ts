// A CloudFormation template as CloudFormation reads it: JSON or YAML (with the short-form tags
// `!Ref`, `!GetAtt`, `!Sub` …), then the structural checks that fail CreateChangeSet and
// ValidateTemplate with CloudFormation's own sentences.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-anatomy.html
import { LineCounter, parseDocument, type ScalarTag, type CollectionTag } from 'yaml'
import { AwsError } from '../core/types.js'

/** A template value: what JSON.parse gives (and YAML with CloudFormation's tags turned into their long forms). */
export type TemplateValue = null | boolean | number | string | TemplateValue[] | TemplateObject
export interface TemplateObject {
  [key: string]: TemplateValue
}

export interface ResourceDeclaration {
  Type: string
  Properties?: TemplateObject
  DependsOn?: string | string[]
  Condition?: string
  Metadata?: TemplateObject
  DeletionPolicy?: string
  UpdateReplacePolicy?: string
  CreationPolicy?: TemplateValue
  UpdatePolicy?: TemplateValue
}

export interface ParameterDeclaration {
  Type: string
  Default?: TemplateValue
  Description?: string
  NoEcho?: boolean | string
  AllowedValues?: TemplateValue[]
  AllowedPattern?: string
  MinLength?: number | string
  MaxLength?: number | string
  MinValue?: number | string
  MaxValue?: number | string
  ConstraintDescription?: string
}

export interface OutputDeclaration {
  Value: TemplateValue
  Description?: string
  Export?: { Name: TemplateValue }
  Condition?: string
}

export interface RuleDeclaration {
  RuleCondition?: TemplateValue
  Assertions: Array<{ Assert: TemplateValue; AssertDescription?: string }>
}

export interface Template {
  AWSTemplateFormatVersion?: string
  Description?: string
  Metadata?: TemplateObject
  Parameters: Record<string, ParameterDeclaration>
  Rules: Record<string, RuleDeclaration>
  Mappings: Record<string, Record<string, Record<string, TemplateValue>>>
  Conditions: Record<string, TemplateValue>
  Transform?: TemplateValue
  Resources: Record<string, ResourceDeclaration>
  Outputs: Record<string, OutputDeclaration>
}

/** CloudFormation's limit for TemplateBody; bigger templates go through TemplateURL (S3). */
export const MAX_TEMPLATE_BODY = 51_200

export const validationError = (message: string) => new AwsError('ValidationError', message, 400)
export const formatError = (message: string) => validationError(`Template format error: ${message}`)

export function isObject(value: unknown): value is TemplateObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const SECTIONS = new Set(['AWSTemplateFormatVersion', 'Description', 'Metadata', 'Parameters', 'Rules', 'Mappings', 'Conditions', 'Transform', 'Resources', 'Outputs', 'Hooks'])
const RESOURCE_KEYS = new Set(['Type', 'Properties', 'DependsOn', 'Condition', 'Metadata', 'DeletionPolicy', 'UpdateReplacePolicy', 'CreationPolicy', 'UpdatePolicy', 'Version'])
const LOGICAL_ID = /^[A-Za-z0-9]+$/
const DELETION_POLICIES = new Set(['Delete', 'Retain', 'RetainExceptOnCreate', 'Snapshot'])

// The short forms: `!Ref X` is { Ref: X }, `!GetAtt A.B` is { 'Fn::GetAtt': [A, B] }, the rest `!F v` is { 'Fn::F': v }.
const SHORT_FORMS = ['Base64', 'Cidr', 'FindInMap', 'GetAZs', 'ImportValue', 'Join', 'Select', 'Split', 'Sub', 'Transform', 'And', 'Equals', 'If', 'Not', 'Or', 'Contains', 'EachMemberEquals', 'EachMemberIn', 'RefAll', 'ValueOf', 'ValueOfAll', 'Length', 'ToJsonString']

function longForm(name: string, value: unknown): TemplateObject {
  if (name === 'Ref' || name === 'Condition') return { [name]: value as TemplateValue }
  if (name === 'GetAtt' && typeof value === 'string') {
    const dot = value.indexOf('.')
    return { 'Fn::GetAtt': dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)] }
  }
  return { [`Fn::${name}`]: value as TemplateValue }
}

const cfnTags: Array<ScalarTag | CollectionTag> = ['Ref', 'Condition', 'GetAtt', ...SHORT_FORMS].flatMap((name) => [
  { tag: `!${name}`, resolve: (value: string) => longForm(name, value) },
  { tag: `!${name}`, collection: 'seq', resolve: (seq: { toJSON(): unknown }) => longForm(name, seq.toJSON()) } as unknown as CollectionTag,
  { tag: `!${name}`, collection: 'map', resolve: (map: { toJSON(): unknown }) => longForm(name, map.toJSON()) } as unknown as CollectionTag,
])

/** JSON when the body opens with `{`, else YAML — CloudFormation's own rule. */
export function parseTemplateText(body: string): TemplateObject {
  if (body.trimStart().startsWith('{')) {
    try {
      const value = JSON.parse(body) as unknown
      if (!isObject(value)) throw formatError('JSON not well-formed.')
      return value
    } catch (err) {
      if (err instanceof AwsError) throw err
      const at = /position (\d+)/.exec((err as Error).message)
      const position = at ? Number(at[1]) : body.length
      const before = body.slice(0, position).split('\n')
      throw formatError(`JSON not well-formed. (line ${before.length}, column ${before[before.length - 1].length + 1})`)
    }
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(body, { customTags: cfnTags, lineCounter, uniqueKeys: true, version: '1.1' })
  if (doc.errors.length) {
    const { line, col } = lineCounter.linePos(doc.errors[0].pos[0])
    throw formatError(`YAML not well-formed. (line ${line}, column ${col})`)
  }
  const value = doc.toJS({ maxAliasCount: 100 }) as unknown
  if (!isObject(value)) throw formatError('YAML not well-formed.')
  return value
}

/** The template's sections, checked for shape; resources' own properties are checked by their handlers. */
export function readTemplate(body: string): Template {
  const raw = parseTemplateText(body)
  for (const key of Object.keys(raw)) if (!SECTIONS.has(key)) throw formatError(`Invalid template property or properties [${key}]`)
  const section = <T>(name: string): Record<string, T> => {
    const value = raw[name]
    if (value === undefined || value === null) return {}
    if (!isObject(value)) throw formatError(`${name} must be an object`)
    return value as unknown as Record<string, T>
  }
  const resources = section<ResourceDeclaration>('Resources')
  if (Object.keys(resources).length === 0) throw formatError('At least one Resources member must be defined.')
  for (const [id, r] of Object.entries(resources)) {
    if (!LOGICAL_ID.test(id)) throw formatError(`Resource name ${id} is non alphanumeric.`)
    if (!isObject(r)) throw formatError('Any Resources member must be an object.')
    for (const key of Object.keys(r)) if (!RESOURCE_KEYS.has(key)) throw validationError(`Invalid template resource property '${key}'`)
    if (typeof r.Type !== 'string' || r.Type === '') throw formatError(`[/Resources/${id}] Every Resources object must contain a Type member.`)
    if (r.Properties !== undefined && !isObject(r.Properties)) throw formatError(`[/Resources/${id}/Properties] Every Properties member must be an object.`)
    for (const policy of [r.DeletionPolicy, r.UpdateReplacePolicy]) {
      if (policy !== undefined && !DELETION_POLICIES.has(policy)) throw formatError(`Unrecognized DeletionPolicy ${String(policy)} for resource ${id}`)
    }
  }
  const parameters = section<ParameterDeclaration>('Parameters')
  for (const [name, p] of Object.entries(parameters)) {
    if (!LOGICAL_ID.test(name)) throw formatError(`Parameter name ${name} is non alphanumeric.`)
    if (!isObject(p) || typeof p.Type !== 'string') throw formatError(`[/Parameters/${name}] Every Parameters object must contain a Type member.`)
  }
  const mappings = section<Record<string, Record<string, TemplateValue>>>('Mappings')
  for (const [name, m] of Object.entries(mappings)) {
    if (!isObject(m)) throw formatError(`Every Mappings member ${name} must be a map`)
    for (const level of Object.values(m)) {
      if (!isObject(level)) throw formatError(`Every Mappings member ${name} must be a map`)
      for (const v of Object.values(level)) if (!(typeof v === 'string' || typeof v === 'number' || Array.isArray(v))) throw formatError('Every Mappings attribute must be a String or a List.')
    }
  }
  const outputs = section<OutputDeclaration>('Outputs')
  for (const [name, o] of Object.entries(outputs)) {
    if (!isObject(o) || !('Value' in o)) throw formatError('Every Outputs member must contain a Value object')
    if (o.Value === null) throw validationError(`[/Outputs/${name}/Value] 'null' values are not allowed in templates`)
  }
  const rules = section<RuleDeclaration>('Rules')
  for (const [name, r] of Object.entries(rules)) {
    if (!isObject(r) || !Array.isArray(r.Assertions)) throw formatError(`Every Rules member must contain an Assertions member (rule ${name})`)
  }
  return {
    AWSTemplateFormatVersion: typeof raw.AWSTemplateFormatVersion === 'string' ? raw.AWSTemplateFormatVersion : undefined,
    Description: typeof raw.Description === 'string' ? raw.Description : undefined,
    Metadata: isObject(raw.Metadata) ? raw.Metadata : undefined,
    Parameters: parameters,
    Rules: rules,
    Mappings: mappings,
    Conditions: section<TemplateValue>('Conditions'),
    Transform: raw.Transform ?? undefined,
    Resources: resources,
    Outputs: outputs,
  }
}

/** The DependsOn list of a resource, always as an array. */
export function dependsOnOf(r: ResourceDeclaration): string[] {
  if (r.DependsOn === undefined) return []
  return Array.isArray(r.DependsOn) ? r.DependsOn.map(String) : [String(r.DependsOn)]
}
