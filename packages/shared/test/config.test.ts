import t from 'tap'
import { Type } from 'typebox'
import { EnvBoolean, loadConfig, portProperty, serviceConfigProperties } from '../src/index.js'

const Schema = Type.Object({ ...serviceConfigProperties, PORT: portProperty(3001), FLAG: EnvBoolean(false, 'a flag'), MAX: Type.Integer({ default: 10 }) })

t.test('defaults and coercion', async (t) => {
  const c = loadConfig(Schema, { env: { BUCKET: 'kmsworkshop-111122223333', PORT: '0', FLAG: 'true', MAX: '', UNRELATED: 'x' } })
  t.equal(c.HOST, '127.0.0.1')
  t.equal(c.PORT, 0)
  t.equal(c.FLAG, true)
  t.equal(c.MAX, 10, 'empty means unset')
  t.equal(c.LOG_LEVEL, 'info')
  t.notOk('UNRELATED' in c, 'only schema variables kept')
})

t.test('missing and invalid values are refused with their names', async (t) => {
  t.throws(() => loadConfig(Schema, { env: {} }), /invalid configuration: .*BUCKET/)
  t.throws(() => loadConfig(Schema, { env: { BUCKET: 'b-1', PORT: 'eighty' } }), /PORT/)
  t.throws(() => loadConfig(Schema, { env: { BUCKET: 'b-1', LOG_LEVEL: 'loud' } }), /LOG_LEVEL/)
})

t.test('the schema is not mutated', async (t) => {
  loadConfig(Schema, { env: { BUCKET: 'bucket' } })
  t.notOk('additionalProperties' in Schema)
})
