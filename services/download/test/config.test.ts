import t from 'tap'
import { loadConfig } from '../src/config.js'

t.test('defaults: port 3002 on 127.0.0.1, a bounded cache', async (t) => {
  const config = loadConfig({ BUCKET: 'kmsworkshop-111122223333' })
  t.match(config, { PORT: 3002, HOST: '127.0.0.1', CACHE_DIR: '.cache/download', CACHE_MAX_BYTES: 1024 ** 3, UPLOAD_PUBLIC_URL: 'http://127.0.0.1:3001' })
})

t.test('values come from the given environment, coerced', async (t) => {
  const config = loadConfig({ BUCKET: 'b-1', PORT: '0', CACHE_MAX_BYTES: '2048', AWS_PROFILE: 'downloader', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' })
  t.match(config, { PORT: 0, CACHE_MAX_BYTES: 2048, AWS_PROFILE: 'downloader', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' })
})

t.test('a missing bucket or a bad number stops the boot', async (t) => {
  t.throws(() => loadConfig({}), /invalid configuration/)
  t.throws(() => loadConfig({ BUCKET: 'b-1', CACHE_MAX_BYTES: 'lots' }), /invalid configuration/)
})
