// MALLOC_TUNABLES is written in two places that cannot import each other: the constant (pnpm start
// and the bench) and the Docker image's ENV (compose, production). Both must say the same, and glibc
// must read it as meant: a malformed value is ignored silently, so the dynamic loader is asked.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { MALLOC_TUNABLES } from '../src/runtime.js'

const dockerfile = readFileSync(fileURLToPath(new URL('../../../Dockerfile', import.meta.url)), 'utf8')

t.test('the Docker image sets the same GLIBC_TUNABLES for every process it runs', async (t) => {
  t.match(dockerfile, new RegExp(`^ENV GLIBC_TUNABLES=${MALLOC_TUNABLES.replace(/\./g, '\\.')}$`, 'm'))
})

// glibc's loader prints the tunables it read from the environment (glibc 2.33 and later).
const loader = ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'].find((path) => existsSync(path))
const listsTunables = loader !== undefined && spawnSync(loader, ['--list-tunables'], { encoding: 'utf8' }).status === 0

t.test('glibc reads a 64 MiB trim threshold and a 4 MiB mmap threshold from it', { skip: !listsTunables && 'no glibc loader with --list-tunables here' }, async (t) => {
  const listed = (env: Record<string, string>) => {
    const out = spawnSync(loader!, ['--list-tunables'], { encoding: 'utf8', env }).stdout
    const value = (name: string) => Number(new RegExp(`^glibc\\.malloc\\.${name}: (0x[0-9a-f]+)`, 'm').exec(out)?.[1])
    return { trim: value('trim_threshold'), mmap: value('mmap_threshold') }
  }
  t.same(listed({ GLIBC_TUNABLES: MALLOC_TUNABLES }), { trim: 64 * 1024 * 1024, mmap: 4 * 1024 * 1024 })
  t.same(listed({}), { trim: 0, mmap: 0 }, 'without it, glibc keeps its own (dynamic) thresholds')
})
