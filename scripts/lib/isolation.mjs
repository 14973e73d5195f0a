// Who each process of `pnpm start` runs as, and the files only it may read. Run as root on Linux,
// every service (and the private redis-server) gets a user of its own — bare numeric uids with no
// /etc/passwd entry: nothing to create or clean up, no home, no shell, no way to log in as them —
// and the lab serves each instance's metadata to that user alone (LAB_IMDS_OWNERS). Anywhere else
// every process runs as whoever started the stack, and start.mjs says so.
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The processes that get a user of their own, each uid = base + offset (offsets follow the metadata ports 4511–4514). */
export const SERVICE_USERS = { 'upload': 1, 'download': 2, 'keyadmin': 3, 'audit-worker': 4, 'redis': 5 }
export const DEFAULT_UID_BASE = 64_510

/**
 * How this start isolates its processes: `users` when it can run each as its own uid (root on
 * Linux, where /proc/net/tcp tells the lab who connects), else `shared` with the reason.
 */
export function isolationPlan(env, uid = process.getuid?.()) {
  const base = Number(env.KMS_SHARE_UID_BASE || DEFAULT_UID_BASE)
  const linux = process.platform === 'linux' && existsSync('/proc/net/tcp')
  if (!linux) return { mode: 'shared', ownerCheck: false, reason: `no /proc/net/tcp on ${process.platform}: the lab cannot tell which process asks for an instance's metadata, so any local process can read any instance's credentials, and every service runs as you and can read the others' secrets` }
  if (uid !== 0) return { mode: 'shared', ownerCheck: true, uid, reason: `not root: every service runs as you (uid ${uid}), so any process of yours can read any instance's metadata and every service's secrets (other users of this machine cannot); run as root for one user per service` }
  if (!Number.isInteger(base) || base < 1000 || base > 4_294_967_000) throw new Error(`KMS_SHARE_UID_BASE must be a uid of 1000 or more, got ${JSON.stringify(env.KMS_SHARE_UID_BASE)}`)
  const users = Object.fromEntries(Object.entries(SERVICE_USERS).map(([name, offset]) => [name, { uid: base + offset, gid: base + offset }]))
  const taken = Object.values(users).map((u) => u.uid).filter((id) => spawnSync('getent', ['passwd', String(id)]).status === 0)
  if (taken.length) throw new Error(`uid ${taken.join(', ')} belongs to an existing user: choose another range with KMS_SHARE_UID_BASE (each service runs as base+1 … base+5)`)
  return { mode: 'users', ownerCheck: true, users }
}

/** A folder for this run's homes and secrets: root-owned, traversable but not listable by others. */
export function makeRunDir() {
  const dir = mkdtempSync(join(tmpdir(), 'kms-share-run-'))
  chmodSync(dir, 0o711)
  return dir
}

/** `dir` (made if missing) owned by `user` (undefined: whoever runs this), mode 0700. */
export function ownDir(dir, user) {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (user) chownSync(dir, user.uid, user.gid)
  chmodSync(dir, 0o700)
  return dir
}

/** A file only `user` can read (0600). */
export function secretFile(file, content, user) {
  writeFileSync(file, content, { mode: 0o600 })
  chmodSync(file, 0o600)
  if (user) chownSync(file, user.uid, user.gid)
  return file
}

/** Gives a data folder (cache, Redis) to its service's user, with what is inside (left by an earlier run as someone else). */
export function giveTree(dir, user) {
  ownDir(dir, user)
  if (!user) return
  const walk = (path) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name)
      if (lstatSync(child).uid !== user.uid) chownSync(child, user.uid, user.gid)
      if (entry.isDirectory()) walk(child)
    }
  }
  walk(dir)
}

/** Whether `user` can run `nodePath` and read `files` (every folder above them must let it through). */
export function reachable(user, nodePath, files) {
  const probe = spawnSync('/bin/sh', ['-c', 'test -x "$1" || exit 1; shift; for f; do test -r "$f" || exit 1; done', 'sh', nodePath, ...files], { uid: user.uid, gid: user.gid, cwd: '/', env: {}, stdio: 'ignore' })
  return probe.status === 0
}

/**
 * An open folder a process of another user can reach whatever the folders above it allow: the
 * child gets it as a file descriptor and names it /proc/self/fd/N (a magic link: the kernel goes
 * straight to the folder, checking only the folder itself).
 */
export function openFolder(dir) {
  return openSync(dir, 'r')
}
export { closeSync }

/** The lines of an AWS shared-credentials file that make up one profile (`[name]` and its keys). */
export function profileSection(credentialsText, profile) {
  const lines = credentialsText.split('\n')
  const start = lines.findIndex((l) => l.trim() === `[${profile}]`)
  if (start < 0) return undefined
  const end = lines.findIndex((l, i) => i > start && /^\s*\[/.test(l))
  return `${lines.slice(start, end < 0 ? undefined : end).join('\n').trim()}\n`
}

export function readText(file) {
  return readFileSync(file, 'utf8')
}
