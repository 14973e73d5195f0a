// Issue 27, the house: no module of ours imports itself through others (type-only imports count,
// since a loop of types is the same tangle to read). Packages import each other by name, and a
// cycle between workspace packages pnpm refuses, so the relative imports inside each tree are what can loop.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const TREES = ['packages', 'services', 'bench', 'infra', 'scripts', 'e2e']
const SKIP = new Set(['node_modules', 'dist', '.tap', '.lab', '.tools', 'cdk.out', 'fixtures'])
const SOURCE = /\.(ts|mts|mjs|js)$/

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name) || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) sources(path, out)
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

/** The files a file imports by relative path (static, type-only, re-exports and import() of a literal). */
function importsOf(file: string, known: Set<string>): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
  const out: string[] = []
  for (const { fileName } of importedFiles) {
    if (!fileName.startsWith('.')) continue
    const base = resolve(dirname(file), fileName)
    const target = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')].find((p) => known.has(p))
    if (target) out.push(target)
  }
  return out
}

/** Every import loop, each as the files around it (Tarjan's strongly connected components of two or more, or one importing itself). */
export function importLoops(files: string[]): string[][] {
  const known = new Set(files)
  const edges = new Map(files.map((f) => [f, importsOf(f, known)]))
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const loops: string[][] = []
  let next = 0
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++
    stack.push(v); onStack.add(v)
    for (const w of edges.get(v)!) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) !== index.get(v)) return
    const component: string[] = []
    let w: string
    do { w = stack.pop()!; onStack.delete(w); component.push(w) } while (w !== v)
    if (component.length > 1 || edges.get(v)!.includes(v)) loops.push(component.map((f) => relative(ROOT, f)).sort())
  }
  for (const f of files) if (!index.has(f)) visit(f)
  return loops
}

t.test('the repository has no import loop', async (t) => {
  const files = TREES.flatMap((tree) => sources(join(ROOT, tree)))
  t.ok(files.length > 200, `read ${files.length} source files`)
  t.same(importLoops(files), [], 'no file imports itself through others (move what a loop shares into a module both sides import)')
})

t.test('the check sees a loop, type-only imports and re-exports included', async (t) => {
  const dir = t.testdir({
    'a.ts': "import type { B } from './b.js'\nexport type A = B\n",
    'b.ts': "export * from './c.js'\nexport type B = string\n",
    'c.ts': "import { a } from './a.js'\nexport const c = a\n",
    'd.ts': "import { c } from './c.js'\nexport const d = c\n",
  })
  const loops = importLoops(['a.ts', 'b.ts', 'c.ts', 'd.ts'].map((f) => resolve(dir, f)))
  t.equal(loops.length, 1)
  t.same(loops[0].map((f) => f.split('/').pop()), ['a.ts', 'b.ts', 'c.ts'])
})
