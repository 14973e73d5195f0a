// A copy of what the services run — their packages and every package they can load — that
// other users can read, for a checkout they cannot reach (e.g. under /root, mode 0700). Files
// are hard links where the file system allows (fast, no extra space), else copies; symbolic
// links (pnpm's layout) are kept as they are, so the tree resolves exactly as the checkout does.
import { copyFileSync, chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'

function productionDependencies(pkg) {
  try {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'))
    return new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {})])
  } catch {
    return new Set()
  }
}

/** Folders and files of a package that nothing at run time reads (tests, type declarations, source maps, docs). */
const SKIPPED = new Set(['node_modules', '.tap', 'test', '.turbo', 'coverage', 'dist-types'])
const SKIPPED_FILES = /\.(d\.[mc]?ts|map|md)$/i

/**
 * Mirrors into `target` every package the packages in `entries` (folders under `root`) can load:
 * each package's files, the entries of the node_modules folder it resolves from, and, through
 * them, its dependencies, transitively. Returns how many files were linked or copied.
 */
export function copyRuntime(root, entries, target) {
  const seenPackages = new Set()
  const seenDirs = new Set()
  let files = 0
  const inside = (path) => path === root || path.startsWith(root + sep)
  const to = (path) => join(target, relative(root, path))

  const ensureDir = (dir) => {
    if (seenDirs.has(dir)) return
    mkdirSync(to(dir), { recursive: true, mode: 0o755 })
    chmodSync(to(dir), 0o755)
    seenDirs.add(dir)
  }
  const mirrorFile = (file, stat) => {
    const dest = to(file)
    // A hard link shares the file's mode: readable by others only if the original is.
    if (stat.mode & 0o004) {
      try {
        linkSync(file, dest)
        files++
        return
      } catch (err) {
        if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err
      }
    }
    copyFileSync(file, dest)
    chmodSync(dest, (stat.mode & 0o111) ? 0o755 : 0o644)
    files++
  }
  const mirrorTree = (dir) => {
    ensureDir(dir)
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) mirrorTree(path)
      } else if (entry.isSymbolicLink()) {
        symlinkSync(readlinkSync(path), to(path))
      } else if (entry.isFile() && !SKIPPED_FILES.test(entry.name)) {
        mirrorFile(path, lstatSync(path))
      }
    }
  }
  /** The symlinks of a node_modules folder (scopes included) and the packages they lead to; `only`: these names alone. */
  const mirrorNodeModules = (nodeModules, queue, only) => {
    let entriesOf
    try {
      entriesOf = readdirSync(nodeModules, { withFileTypes: true })
    } catch {
      return
    }
    ensureDir(nodeModules)
    for (const entry of entriesOf) {
      const path = join(nodeModules, entry.name)
      if (entry.name === '.bin' || entry.name === '.pnpm' || entry.name.startsWith('.')) continue
      if (entry.isDirectory() && entry.name.startsWith('@')) {
        mirrorNodeModules(path, queue, only && new Set([...only].filter((n) => n.startsWith(`${entry.name}/`)).map((n) => n.slice(entry.name.length + 1))))
      } else if (only && !only.has(entry.name)) {
        continue
      } else if (entry.isSymbolicLink()) {
        if (!seenDirs.has(path)) symlinkSync(readlinkSync(path), to(path))
        seenDirs.add(path)
        queue.push(realpathSync(path))
      } else if (entry.isDirectory()) {
        queue.push(path)
      }
    }
  }

  const queue = entries.map((e) => resolve(root, e))
  while (queue.length) {
    const pkg = queue.pop()
    if (seenPackages.has(pkg) || !inside(pkg)) continue
    seenPackages.add(pkg)
    mirrorTree(pkg)
    // A workspace package's own node_modules (its production dependencies only), and the folder
    // an installed package sits in (pnpm: its dependencies are its siblings).
    mirrorNodeModules(join(pkg, 'node_modules'), queue, productionDependencies(pkg))
    const parent = dirname(pkg)
    const holder = parent.endsWith(`${sep}node_modules`) ? parent : dirname(parent).endsWith(`${sep}node_modules`) ? dirname(parent) : undefined
    if (holder) mirrorNodeModules(holder, queue)
  }
  return { files, packages: seenPackages.size }
}
