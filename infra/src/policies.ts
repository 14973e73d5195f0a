// The deployment's policies come from packages/policy and nowhere else: the roles' identity policies from their
// definitions (roles.ts), the key policy from the template keyadmin renders. This file only puts CloudFormation's
// values (account, region, partition, the bucket's name) into them.
import { findTemplate, renderTemplate, type PolicyDocument } from '@kms-share/policy'

/**
 * Where the deployment lives; each may be a CDK token (`Aws.ACCOUNT_ID`) resolved at deploy time. The key policy
 * templates write `arn:aws:` (the commercial partition); the role definitions take the partition.
 */
export interface DeploymentValues {
  accountId: string
  region: string
  partition: string
  bucket: string
}

// Placeholders the templates' own validation accepts, swapped for the deployment's values after rendering.
const PLACEHOLDERS = {
  accountId: '000011112222',
  region: 'zz-placeholder-9',
  bucket: 'kms-share-placeholder-bucket',
} as const

/** Replaces every occurrence of each placeholder in every string of a JSON value. */
function substitute<T>(value: T, swaps: ReadonlyArray<readonly [string, string]>): T {
  const text = JSON.stringify(value)
  let out = text
  for (const [from, to] of swaps) out = out.split(from).join(to.replaceAll('\\', '\\\\').replaceAll('"', '\\"'))
  return JSON.parse(out) as T
}

/** Every string a placeholder could leave behind, for a test to check none is left in a template. */
export const PLACEHOLDER_VALUES: readonly string[] = Object.values(PLACEHOLDERS)

/**
 * A key policy template rendered with the deployment's values. Template parameters that name the account, its
 * region or the bucket are given placeholders (the template checks their form), then replaced; the others
 * (role names, administrators' ARNs) are given as they are, with `${accountId}` standing for the account.
 */
export function renderKeyPolicy(templateName: string, values: DeploymentValues, parameters: Record<string, unknown>): PolicyDocument {
  const template = findTemplate(templateName)
  if (!template) throw new Error(`no key policy template named ${templateName}`)
  const given: Record<string, unknown> = {}
  for (const p of template.parameters) {
    if (p.type === 'accountId') given[p.name] = PLACEHOLDERS.accountId
    else if (p.type === 'region') given[p.name] = PLACEHOLDERS.region
    else if (p.type === 'bucket') given[p.name] = PLACEHOLDERS.bucket
  }
  // The deployment offers every value it knows; the template takes the ones it declares.
  const declared = Object.fromEntries(Object.entries(parameters).filter(([name]) => template.parameters.some((p) => p.name === name)))
  const withAccount = substitute(declared, [['${accountId}', PLACEHOLDERS.accountId]])
  const { document } = renderTemplate(template, { ...given, ...withAccount })
  return substitute(document, [
    [PLACEHOLDERS.accountId, values.accountId],
    [PLACEHOLDERS.region, values.region],
    [PLACEHOLDERS.bucket, values.bucket],
  ])
}
