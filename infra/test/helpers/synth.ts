// Synthesizes the whole app once per test file (as `cdk synth` does, cdk-nag included) and resolves what the
// templates leave to CloudFormation, for a deployment in the lab's account and region.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Template } from 'aws-cdk-lib/assertions'
import { buildKmsShareApp, newKmsShareApp, type KmsShareStacks } from '../../src/kms-share-app.js'
import { settingsFromContext } from '../../src/settings.js'

export const ACCOUNT = '111122223333'
export const REGION = 'eu-west-1'
export const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`

export interface Synthesized {
  stacks: KmsShareStacks
  templates: Record<string, Template>
  json: Record<string, CfnTemplate>
  outdir: string
}

export interface CfnTemplate {
  Resources: Record<string, { Type: string; Properties?: any; Condition?: string; DeletionPolicy?: string; UpdateReplacePolicy?: string }>
  Parameters?: Record<string, { Type: string; Default?: string }>
  Conditions?: Record<string, unknown>
  Outputs?: Record<string, { Value: unknown; Export?: { Name: string } }>
}

export function synthesize(outdir: string, context: Record<string, unknown> = {}): Synthesized {
  const app = newKmsShareApp(context, outdir)
  const stacks = buildKmsShareApp(app, settingsFromContext(app.node))
  app.synth()
  const templates: Record<string, Template> = {}
  const json: Record<string, CfnTemplate> = {}
  for (const stack of Object.values(stacks)) {
    templates[stack.stackName] = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true })
    json[stack.stackName] = JSON.parse(readFileSync(join(outdir, `${stack.stackName}.template.json`), 'utf8')) as CfnTemplate
  }
  return { stacks, templates, json, outdir }
}

/**
 * Resolves the intrinsic functions the templates use, as CloudFormation would in ACCOUNT/REGION: pseudo
 * parameters, parameter defaults (or the given values), conditions, imports from the other stacks' exports,
 * Fn::Join, Fn::Select, Fn::Split. A resource's Ref or GetAtt becomes `<LogicalId>` / `<LogicalId.Attr>`, except
 * the key's ARN, which is KEY_ARN, and a named bucket's name and ARN.
 */
export function resolver(all: Record<string, CfnTemplate>, parameters: Record<string, string> = {}) {
  const exports = new Map<string, { stack: CfnTemplate; value: unknown }>()
  for (const t of Object.values(all)) {
    for (const o of Object.values(t.Outputs ?? {})) if (o.Export) exports.set(o.Export.Name, { stack: t, value: o.Value })
  }
  const pseudo: Record<string, string> = { 'AWS::AccountId': ACCOUNT, 'AWS::Region': REGION, 'AWS::Partition': 'aws', 'AWS::URLSuffix': 'amazonaws.com', 'AWS::NoValue': '__NO_VALUE__' }
  const resolve = (t: CfnTemplate, v: any): any => {
    if (Array.isArray(v)) return v.map((x) => resolve(t, x)).filter((x) => x !== '__NO_VALUE__')
    if (v === null || typeof v !== 'object') return v
    const keys = Object.keys(v)
    if (keys.length === 1) {
      const [fn] = keys
      const arg = v[fn]
      switch (fn) {
        case 'Ref': {
          if (pseudo[arg] !== undefined) return pseudo[arg]
          if (t.Parameters?.[arg]) return parameters[arg] ?? t.Parameters[arg].Default
          const named = t.Resources[arg]?.Type === 'AWS::S3::Bucket' ? t.Resources[arg].Properties?.BucketName : undefined
          return named ? resolve(t, named) : `<${arg}>`
        }
        case 'Fn::GetAtt': {
          const [id, attr] = arg as [string, string]
          if (t.Resources[id]?.Type === 'AWS::KMS::Key' && attr === 'Arn') return KEY_ARN
          const bucketName = t.Resources[id]?.Type === 'AWS::S3::Bucket' ? t.Resources[id].Properties?.BucketName : undefined
          if (bucketName && attr === 'Arn') return `arn:aws:s3:::${resolve(t, bucketName)}`
          return `<${id}.${attr}>`
        }
        case 'Fn::Join': return (resolve(t, arg[1]) as unknown[]).map(String).join(arg[0])
        case 'Fn::Select': return resolve(t, arg[1])[Number(resolve(t, arg[0]))]
        case 'Fn::Split': return String(resolve(t, arg[1])).split(arg[0])
        case 'Fn::If': return condition(t, arg[0]) ? resolve(t, arg[1]) : resolve(t, arg[2])
        case 'Fn::ImportValue': {
          const name = resolve(t, arg)
          const found = exports.get(name)
          if (!found) throw new Error(`no stack exports ${name}`)
          return resolve(found.stack, found.value)
        }
      }
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(t, x)]).filter(([, x]) => x !== '__NO_VALUE__'))
  }
  const condition = (t: CfnTemplate, name: string): boolean => evaluateCondition(t, t.Conditions?.[name])
  const evaluateCondition = (t: CfnTemplate, c: any): boolean => {
    if (c?.Condition) return condition(t, c.Condition)
    if (c?.['Fn::Equals']) { const [a, b] = c['Fn::Equals']; return resolve(t, a) === resolve(t, b) }
    if (c?.['Fn::Not']) return !evaluateCondition(t, c['Fn::Not'][0])
    if (c?.['Fn::And']) return (c['Fn::And'] as unknown[]).every((x) => evaluateCondition(t, x))
    if (c?.['Fn::Or']) return (c['Fn::Or'] as unknown[]).some((x) => evaluateCondition(t, x))
    throw new Error(`unsupported condition ${JSON.stringify(c)}`)
  }
  return { resolve, condition }
}

/** Every resource of a type across the templates, with its stack's name and logical id. */
export function resourcesOfType(all: Record<string, CfnTemplate>, type: string) {
  return Object.entries(all).flatMap(([stack, t]) => Object.entries(t.Resources).filter(([, r]) => r.Type === type).map(([id, r]) => ({ stack, id, resource: r, template: t })))
}
