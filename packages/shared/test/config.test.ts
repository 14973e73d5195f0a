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

t.test('NAME_FILE gives NAME from a file (secrets stay out of the environment)', async (t) => {
  const dir = t.testdir({ 'session-secret': 'from-a-file-0123456789-0123456789\n', 'bucket': 'kmsworkshop-111122223333' })
  const SecretSchema = Type.Object({ ...Schema.properties, SESSION_SECRET: Type.Optional(Type.String({ minLength: 32 })) })
  const c = loadConfig(SecretSchema, { env: { BUCKET_FILE: `${dir}/bucket`, SESSION_SECRET_FILE: `${dir}/session-secret` } })
  t.equal(c.SESSION_SECRET, 'from-a-file-0123456789-0123456789', 'the trailing newline is dropped')
  t.equal(c.BUCKET, 'kmsworkshop-111122223333')
  t.notOk('SESSION_SECRET_FILE' in c)
  t.throws(() => loadConfig(SecretSchema, { env: { BUCKET: 'b-1', SESSION_SECRET: 'x'.repeat(32), SESSION_SECRET_FILE: `${dir}/session-secret` } }), /set SESSION_SECRET or SESSION_SECRET_FILE, not both/)
  t.throws(() => loadConfig(SecretSchema, { env: { BUCKET: 'b-1', SESSION_SECRET_FILE: `${dir}/missing` } }), /SESSION_SECRET_FILE: cannot read .*missing \(ENOENT\)/)
  t.notOk('UNKNOWN' in loadConfig(SecretSchema, { env: { BUCKET: 'b-1', UNKNOWN_FILE: `${dir}/bucket` } }), 'only variables of the schema are read from files')
})
