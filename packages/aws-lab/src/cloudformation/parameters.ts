// Template parameters as CloudFormation resolves them: given values, previous values, defaults,
// their constraints, AWS-specific types checked against the account, and SSM parameter types
// (`AWS::SSM::Parameter::Value<…>`, as CDK's BootstrapVersion and AMI ids) read from Parameter Store.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
import { text } from '../core/types.js'
import type { Ec2Model } from '../ec2/model.js'
import type { StackParameter } from './model.js'
import { validationError, type Template, type TemplateValue } from './template.js'

export interface ParameterSources {
  /** SSM GetParameters as the stack's actor. */
  ssm(names: string[]): Promise<{ Parameters?: Array<{ Name: string; Value: string }>; InvalidParameters?: string[] }>
  ec2: Ec2Model
}

const SSM_VALUE = /^AWS::SSM::Parameter::Value<(.+)>$/
const EC2_TYPES: Record<string, (ec2: Ec2Model, id: string) => boolean> = {
  'AWS::EC2::VPC::Id': (ec2, id) => Boolean(ec2.state.vpcs[id]),
  'AWS::EC2::Subnet::Id': (ec2, id) => Boolean(ec2.state.subnets[id]),
  'AWS::EC2::SecurityGroup::Id': (ec2, id) => Boolean(ec2.state.securityGroups[id]),
  'AWS::EC2::Instance::Id': (ec2, id) => Boolean(ec2.state.instances[id]),
}

const isList = (type: string) => type === 'CommaDelimitedList' || /^List<.+>$/.test(type)
const itemType = (type: string) => /^List<(.+)>$/.exec(type)?.[1] ?? type

function checkConstraints(name: string, decl: Template['Parameters'][string], value: string, type: string): void {
  const fail = (message: string) => validationError(decl.ConstraintDescription ? `Parameter '${name}' ${decl.ConstraintDescription}` : message)
  const items = isList(type) ? (value === '' ? [] : value.split(',').map((v) => v.trim())) : [value]
  for (const item of items) {
    if (itemType(type) === 'Number' && (item === '' || Number.isNaN(Number(item)))) throw validationError(`Parameter '${name}' must be a number.`)
    if (decl.AllowedValues && !decl.AllowedValues.map(String).includes(item)) throw fail(`Parameter '${name}' must be one of AllowedValues`)
    if (decl.AllowedPattern !== undefined && !new RegExp(`^(?:${decl.AllowedPattern})$`).test(item)) throw fail(`Parameter '${name}' must match pattern ${decl.AllowedPattern}`)
    if (decl.MinLength !== undefined && item.length < Number(decl.MinLength)) throw fail(`Parameter '${name}' must contain at least ${text(decl.MinLength)} characters`)
    if (decl.MaxLength !== undefined && item.length > Number(decl.MaxLength)) throw fail(`Parameter '${name}' must contain at most ${text(decl.MaxLength)} characters`)
    if (decl.MinValue !== undefined && Number(item) < Number(decl.MinValue)) throw fail(`Parameter '${name}' must be a number not less than ${text(decl.MinValue)}`)
    if (decl.MaxValue !== undefined && Number(item) > Number(decl.MaxValue)) throw fail(`Parameter '${name}' must be a number not greater than ${text(decl.MaxValue)}`)
  }
}

/** Values for evaluation (lists split) and the records DescribeStacks shows (the protocol masks NoEcho ones). */
export async function resolveParameters(
  template: Template,
  given: Array<{ ParameterKey: string; ParameterValue?: string; UsePreviousValue?: boolean }>,
  previous: StackParameter[] | undefined,
  sources: ParameterSources,
): Promise<{ values: Record<string, TemplateValue>; records: StackParameter[] }> {
  const unknown = given.filter((p) => !Object.hasOwn(template.Parameters, p.ParameterKey)).map((p) => p.ParameterKey)
  if (unknown.length) throw validationError(`Parameters: [${unknown.join(', ')}] do not exist in the template`)
  const raw: Record<string, string> = {}
  const missing: string[] = []
  for (const [name, decl] of Object.entries(template.Parameters)) {
    const g = given.find((p) => p.ParameterKey === name)
    const prev = previous?.find((p) => p.ParameterKey === name)
    if (g?.UsePreviousValue === true || text(g?.UsePreviousValue) === 'true') {
      if (!prev) throw validationError(`Invalid input for parameter key ${name}. Cannot specify usePreviousValue as true for a parameter key not in the previous template`)
      raw[name] = prev.ParameterValue
    } else if (g?.ParameterValue !== undefined) raw[name] = g.ParameterValue
    else if (decl.Default !== undefined && decl.Default !== null) raw[name] = Array.isArray(decl.Default) ? decl.Default.map(String).join(',') : text(decl.Default)
    else missing.push(name)
  }
  if (missing.length) throw validationError(`Parameters: [${missing.join(', ')}] must have values`)

  // SSM parameter types: the parameter's value is a Parameter Store name, read once for all.
  const ssmNames = Object.entries(template.Parameters).filter(([, d]) => SSM_VALUE.test(d.Type)).map(([n]) => raw[n])
  const fromSsm = new Map<string, string>()
  if (ssmNames.length) {
    const answer = await sources.ssm([...new Set(ssmNames)])
    if (answer.InvalidParameters?.length) throw validationError(`Unable to fetch parameters [${answer.InvalidParameters.join(',')}] from parameter store for this account.`)
    for (const p of answer.Parameters ?? []) fromSsm.set(p.Name, p.Value)
  }

  const values: Record<string, TemplateValue> = {}
  const records: StackParameter[] = []
  for (const [name, decl] of Object.entries(template.Parameters)) {
    const ssm = SSM_VALUE.exec(decl.Type)
    const type = ssm ? ssm[1] : decl.Type
    const value = ssm ? fromSsm.get(raw[name]) ?? '' : raw[name]
    const known = ['String', 'Number', 'CommaDelimitedList', 'AWS::SSM::Parameter::Name'].includes(type) || /^List<.+>$/.test(type) || type.startsWith('AWS::')
    if (!known) throw validationError(`Template format error: Unrecognized parameter type: ${decl.Type}`)
    checkConstraints(name, decl, value, type)
    const exists = EC2_TYPES[itemType(type)]
    if (exists) {
      for (const id of isList(type) ? value.split(',').map((v) => v.trim()).filter(Boolean) : [value]) {
        if (!exists(sources.ec2, id)) throw validationError(`Parameter value ${id} for parameter name ${name} does not exist.`)
      }
    }
    values[name] = isList(type) ? (value === '' ? [] : value.split(',').map((v) => v.trim())) : value
    const noEcho = decl.NoEcho === true || decl.NoEcho === 'true'
    records.push({ ParameterKey: name, ParameterValue: raw[name], ...(ssm ? { ResolvedValue: value } : {}), ...(noEcho ? { NoEcho: true } : {}) })
  }
  return { values, records }
}
