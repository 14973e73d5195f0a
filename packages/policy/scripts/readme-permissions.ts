// Rewrites the permission lists in the READMEs from roles.ts: `pnpm --filter @kms-share/policy readme:permissions`.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { writePermissionBlocks } from '../src/roles-doc.js'

const README_FILES = ['../../../README.md', '../../../services/keyadmin/README.md'].map((p) => fileURLToPath(new URL(p, import.meta.url)))

for (const file of README_FILES) {
  const before = readFileSync(file, 'utf8')
  const after = writePermissionBlocks(before)
  if (after !== before) writeFileSync(file, after)
  process.stdout.write(`${after === before ? 'unchanged' : 'rewritten'} ${file}\n`)
}
