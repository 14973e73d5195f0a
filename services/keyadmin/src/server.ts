// Production entry: config from the environment → app → serve (guard, listen, graceful shutdown).
import { serve } from '@kms-share/shared'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'

const config = loadConfig()
await serve(await buildApp(config), config)
