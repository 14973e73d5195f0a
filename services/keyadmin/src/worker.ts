// The audit worker's own process (as the auditor role): config from the environment → worker →
// sweep and readers on their intervals → on SIGTERM, worker.close() lets the jobs in progress finish.
import { writeFile } from 'node:fs/promises'
import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { GUARDED_PROCESS_EVENTS, guardProcess, loggerOptions } from '@kms-share/shared'
import { loadAuditWorkerConfig } from './audit/config.js'
import { createAuditWorker } from './audit/worker.js'

const config = loadAuditWorkerConfig()
const log = pino(loggerOptions(config, 'audit-worker'))
const audit = await createAuditWorker(config, { log })
log.info({ bucket: config.BUCKET, concurrency: config.AUDIT_CONCURRENCY, sweepIntervalSeconds: config.AUDIT_SWEEP_INTERVAL }, 'audit worker started')

// Alive means: the process runs and Redis answers it.
const heartbeat = config.AUDIT_HEARTBEAT_FILE
const beat = async () => {
  if (!heartbeat) return
  try {
    await audit.store.stats()
    await writeFile(heartbeat, new Date().toISOString())
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'audit worker: Redis did not answer; heartbeat not written')
  }
}
void beat()
const heartbeatTimer = heartbeat ? setInterval(() => void beat(), 10_000) : undefined

// A job's stray error is logged (BullMQ fails the job itself); it never stops the worker.
guardProcess(log)
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS, skip: GUARDED_PROCESS_EVENTS }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'closing after an error')
  else log.info({ signal }, 'closing: letting the jobs in progress finish')
  clearInterval(heartbeatTimer)
  await audit.close()
})
