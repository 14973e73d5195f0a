// The READMEs' role-permission lists are the definitions in roles.ts, exactly: a list that drifts from
// its definition (or a definition the root README does not list) fails here.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { MFA_KEY_ADMINISTRATOR, SERVICE_ROLES } from '../src/index.js'
import { permissionBlocks, permissionsTable, readPermissionBlocks, README_NAMES, writePermissionBlocks } from '../src/roles-doc.js'

const read = (path: string) => readFileSync(fileURLToPath(new URL(path, import.meta.url)), 'utf8')
const READMES = { 'README.md': read('../../../README.md'), 'services/keyadmin/README.md': read('../../../services/keyadmin/README.md') }
const generated = permissionBlocks()
const fix = 'run `pnpm --filter @kms-share/policy readme:permissions`'

t.test('every list in the READMEs is its definition, exactly', async (t) => {
  for (const [file, text] of Object.entries(READMES)) {
    const written = readPermissionBlocks(text)
    t.ok(written.size > 0, `${file} has permission lists`)
    for (const [name, table] of written) {
      t.ok(generated.has(name), `${file}: ${name} is a defined role or policy`)
      t.equal(table, generated.get(name), `${file}: ${name} matches packages/policy/src/roles.ts (${fix})`)
    }
  }
})

t.test('the root README lists every role and the MFA key administrator; keyadmin\'s README its own two', async (t) => {
  const root = readPermissionBlocks(READMES['README.md'])
  t.same([...root.keys()].sort(), [...SERVICE_ROLES.map((r) => r.roleName), MFA_KEY_ADMINISTRATOR.policyName].sort())
  t.same([...readPermissionBlocks(READMES['services/keyadmin/README.md']).keys()].sort(), ['kms-share-keyadmin', MFA_KEY_ADMINISTRATOR.policyName])
})

t.test('a list that disagrees is found, and rewriting restores it', async (t) => {
  const keyadmin = generated.get('kms-share-keyadmin')!
  const drifted = READMES['README.md'].replace(keyadmin, keyadmin.replace('`kms:TagResource`, ', '`kms:TagResource`, `kms:Put*`, '))
  t.not(readPermissionBlocks(drifted).get('kms-share-keyadmin'), keyadmin, 'a README claiming kms:Put* differs from the definition')
  t.equal(writePermissionBlocks(drifted), READMES['README.md'])
  t.match(permissionsTable(SERVICE_ROLES[0].document(README_NAMES)), /\| `DecryptOnlyThroughS3` \| `kms:Decrypt` \| `arn:aws:kms:REGION:ACCOUNT:key\/\*` \| `StringEquals kms:ViaService s3\.REGION\.amazonaws\.com` \|/)
})
