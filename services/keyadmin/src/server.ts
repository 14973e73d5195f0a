// Production entry: config from the environment → app → listen → graceful shutdown.
import closeWithGrace from 'close-with-grace'
import { GUARDED_PROCESS_EVENTS, guardProcess } from '@kms-share/shared'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'

const config = loadConfig()
const app = await buildApp(config)

// An error no request handled answers its request 500 and is logged; close-with-grace leaves it to the guard.
guardProcess(app.log)
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS, skip: GUARDED_PROCESS_EVENTS }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error')
  else app.log.info({ signal }, 'closing')
  await app.close()
})

await app.listen({ port: config.PORT, host: config.HOST })
