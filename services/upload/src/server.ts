// The upload service's process: config → app → listen → close-with-grace.
import closeWithGrace from 'close-with-grace'
import { GUARDED_PROCESS_EVENTS, guardProcess } from '@kms-share/shared'
import { buildApp } from './app.js'
import { createAuditProducer } from './audit-producer.js'
import { loadUploadConfig } from './config.js'
import { UploadErrors } from './errors.js'

const config = loadUploadConfig()
const audit = createAuditProducer(config)
const app = await buildApp(config, audit ? { onUploaded: audit.onUploaded } : {})
app.addHook('onClose', async () => audit?.producer.close())

// An error no request handled answers its request 500 and is logged; close-with-grace leaves it to the guard.
guardProcess(app.log)
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS + 5_000, skip: GUARDED_PROCESS_EVENTS }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error')
  else app.log.info({ signal, inFlight: app.inFlightUploads.size }, 'closing: letting in-flight uploads finish')
  // After the grace period, abort what is still running so multipart uploads are aborted, not left behind.
  const timer = setTimeout(() => app.inFlightUploads.abortAll(new UploadErrors.SHUTTING_DOWN()), config.SHUTDOWN_GRACE_MS)
  await app.close()
  clearTimeout(timer)
})

await app.listen({ host: config.HOST, port: config.PORT })
