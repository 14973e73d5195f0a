// The upload service's process: config → app → listen → close-with-grace.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { createAuditProducer } from './audit-producer.js'
import { loadUploadConfig } from './config.js'
import { UploadErrors } from './errors.js'

const config = loadUploadConfig()
const audit = createAuditProducer(config)
const app = await buildApp(config, audit ? { onUploaded: audit.onUploaded } : {})
app.addHook('onClose', async () => audit?.producer.close())

closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS + 5_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error')
  else app.log.info({ signal, inFlight: app.inFlightUploads.size }, 'closing: letting in-flight uploads finish')
  // After the grace period, abort what is still running so multipart uploads are aborted, not left behind.
  const timer = setTimeout(() => app.inFlightUploads.abortAll(new UploadErrors.SHUTTING_DOWN()), config.SHUTDOWN_GRACE_MS)
  await app.close()
  clearTimeout(timer)
})

await app.listen({ host: config.HOST, port: config.PORT })
