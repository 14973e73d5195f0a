// The upload service's process: config → app (with the audit producer when Redis is set) → serve.
import { serve } from '@kms-share/shared'
import { buildApp } from './app.js'
import { createAuditProducer } from './audit-producer.js'
import { loadUploadConfig } from './config.js'
import { UploadErrors } from './errors.js'

const config = loadUploadConfig()
const audit = createAuditProducer(config)
const app = await buildApp(config, audit ? { onUploaded: audit.onUploaded } : {})
app.addHook('onClose', async () => audit?.producer.close())

await serve(app, config, {
  extraGraceMs: 5_000,
  closingMessage: 'closing: letting in-flight uploads finish',
  closingFields: () => ({ inFlight: app.inFlightUploads.size }),
  async close() {
    // After the grace period, abort what is still running so multipart uploads are aborted, not left behind.
    const timer = setTimeout(() => app.inFlightUploads.abortAll(new UploadErrors.SHUTTING_DOWN()), config.SHUTDOWN_GRACE_MS)
    await app.close()
    clearTimeout(timer)
  },
})
