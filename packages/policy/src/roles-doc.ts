// The READMEs' permission lists, generated from the definitions in roles.ts: each list sits between
// `<!-- permissions:NAME -->` and `<!-- /permissions -->`, and test/readme-permissions.test.ts fails
// when a README's copy and the definition disagree (`pnpm --filter @kms-share/policy readme:permissions` rewrites them).
import { MFA_KEY_ADMINISTRATOR, SERVICE_ROLES, type DeploymentNames } from './roles.js'
import type { PolicyDocument } from './types.js'

/** Placeholders the READMEs show instead of a deployment's values. */
export const README_NAMES: DeploymentNames = { accountId: 'ACCOUNT', region: 'REGION', bucket: 'BUCKET' }

const code = (s: string) => `\`${s}\``

/** One row per statement: Sid, actions, resources, conditions. */
export function permissionsTable(document: PolicyDocument): string {
  const rows = document.Statement.map((st) => {
    const conditions = Object.entries(st.Condition ?? {}).flatMap(([operator, block]) =>
      Object.entries(block).map(([key, values]) => code(`${operator} ${key} ${values.join(' | ')}`)))
    const effect = st.Effect === 'Allow' ? '' : ' (Deny)'
    return `| ${code(st.Sid ?? '')}${effect} | ${(st.Action ?? []).map(code).join(', ')} | ${(st.Resource ?? []).map(code).join(', ')} | ${conditions.join(', ')} |`
  })
  return ['| statement | actions | resources | only when |', '| --- | --- | --- | --- |', ...rows].join('\n')
}

/** Every generated list by name: each service role's name, and the MFA key administrator's policy name. */
export function permissionBlocks(names: DeploymentNames = README_NAMES): Map<string, string> {
  const blocks = new Map<string, string>()
  for (const role of SERVICE_ROLES) blocks.set(role.roleName, permissionsTable(role.document(names)))
  blocks.set(MFA_KEY_ADMINISTRATOR.policyName, permissionsTable(MFA_KEY_ADMINISTRATOR.document(names)))
  return blocks
}

const BLOCK = /<!-- permissions:([\w-]+) -->\n([\s\S]*?)\n?<!-- \/permissions -->/g

/** The lists a Markdown text holds, by name, as written. */
export function readPermissionBlocks(markdown: string): Map<string, string> {
  return new Map([...markdown.matchAll(BLOCK)].map((m) => [m[1], m[2].trim()]))
}

/** The text with every list replaced by the generated one; names without a definition are left as they are. */
export function writePermissionBlocks(markdown: string, blocks: Map<string, string> = permissionBlocks()): string {
  return markdown.replace(BLOCK, (whole, name: string) => {
    const table = blocks.get(name)
    return table === undefined ? whole : `<!-- permissions:${name} -->\n${table}\n<!-- /permissions -->`
  })
}
