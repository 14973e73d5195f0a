// Following a `pnpm start` (scripts/start.mjs) the tests spawn: its output as it grows, whether it
// reported ready, and its exit; killed at teardown whatever the test did.
import type { ChildProcess } from 'node:child_process'
import type { Test } from 'tap'

export interface FollowedStart {
  /** It printed `[start] ready:` within the time allowed, before exiting. */
  ready: boolean
  /** Everything it printed so far (stdout and stderr), still growing. */
  readonly output: string
  exited: Promise<number | null>
}

/** Waits for `[start] ready:` (120 s at most); when it never comes, the test says so and shows the output. */
export async function followStart(t: Pick<Test, 'teardown' | 'ok' | 'comment'>, child: ChildProcess, timeoutMs = 120_000): Promise<FollowedStart> {
  let output = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('[start] ready:')) { clearTimeout(timer); resolve(true) }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    void exited.then(() => resolve(false))
  })
  t.ok(ready, 'the stack reports ready')
  if (!ready) t.comment(output)
  return { ready, exited, get output() { return output } }
}
