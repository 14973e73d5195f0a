#!/usr/bin/env node
// validate-policy: prints validatePolicy's findings for policy files, for the workshop and CI;
// exits 1 when any file has an ERROR, 2 on bad usage.
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { formatFindings, validatePolicy, type ValidateOptions } from './validate.js'
import type { Finding } from './types.js'

export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Reads a file, or standard input for `-`. */
  readFile: (path: string) => string
}

const USAGE = 'usage: validate-policy [--kind resource|identity|trust] [--service kms|s3|…] [--account-id 111122223333] [--json] FILE…  (- reads standard input)'

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readFile: (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
}

/** Runs the command; returns the exit code. */
export function runCli(argv: string[], io: CliIo = defaultIo): number {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'kind': { type: 'string' },
        'service': { type: 'string' },
        'account-id': { type: 'string' },
        'json': { type: 'boolean', default: false },
        'help': { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    io.stderr(`${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout(`${USAGE}\n`)
    return 0
  }
  if (positionals.length === 0) {
    io.stderr(`${USAGE}\n`)
    return 2
  }
  if (values.kind !== undefined && !['resource', 'identity', 'trust'].includes(values.kind)) {
    io.stderr(`--kind must be resource, identity or trust, not "${values.kind}"\n`)
    return 2
  }
  const options: ValidateOptions = {
    ...(values.kind ? { kind: values.kind as ValidateOptions['kind'] } : {}),
    ...(values.service ? { service: values.service } : {}),
    ...(values['account-id'] ? { accountId: values['account-id'] } : {}),
  }
  const results: Record<string, Finding[]> = {}
  let failed = false
  for (const file of positionals) {
    let text: string
    try {
      text = io.readFile(file)
    } catch (err) {
      io.stderr(`${file}: ${(err as Error).message}\n`)
      failed = true
      continue
    }
    const findings = validatePolicy(text, options)
    results[file] = findings
    if (findings.some((f) => f.severity === 'ERROR')) failed = true
    if (!values.json && findings.length > 0) io.stdout(`${formatFindings(findings, file)}\n`)
  }
  if (values.json) io.stdout(`${JSON.stringify(results, null, 2)}\n`)
  return failed ? 1 : 0
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = runCli(process.argv.slice(2))
}
