// SigV4 golden vectors from AWS's documentation and test suite.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
// https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html (get-vanilla)
import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { deriveSigningKey, uriEncode, verifySigV4 } from '../src/core/sigv4.js'

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'

t.test('signing key derivation (the documentation\'s example)', async (t) => {
  t.equal(deriveSigningKey(SECRET, '20150830', 'us-east-1', 'iam').toString('hex'), 'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9')
})

function request(method: string, headers: Array<[string, string]>): IncomingMessage {
  return {
    method,
    rawHeaders: headers.flat(),
    headers: Object.fromEntries(headers.map(([k, v]) => [k.toLowerCase(), v])),
  } as unknown as IncomingMessage
}

const vanilla = (signature: string) =>
  request('GET', [
    ['Host', 'example.amazonaws.com'],
    ['X-Amz-Date', '20150830T123600Z'],
    ['Authorization', `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`],
  ])

const options = {
  family: 'json' as const,
  rawPath: '/',
  rawQuery: '',
  now: new Date('2015-08-30T12:36:00Z'),
  lookup: (id: string) => (id === 'AKIDEXAMPLE' ? { secretAccessKey: SECRET } : undefined),
}

t.test('get-vanilla verifies; one flipped hex digit does not', async (t) => {
  const good = '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'
  const result = verifySigV4(vanilla(good), options)
  t.match(result, { accessKeyId: 'AKIDEXAMPLE', scope: '20150830/us-east-1/service/aws4_request', amzDate: '20150830T123600Z', presigned: false, region: 'us-east-1', service: 'service' })
  t.throws(() => verifySigV4(vanilla(good.replace(/.$/, '0')), options), { code: 'InvalidSignatureException', message: /does not match the signature you provided/ }, 'bad signature')
  t.throws(() => verifySigV4(vanilla(good), { ...options, now: new Date('2015-08-30T12:52:00Z') }), { code: 'InvalidSignatureException', message: /^Signature expired/ }, '16 minutes late')
  t.throws(() => verifySigV4(vanilla(good), { ...options, lookup: () => undefined }), { code: 'UnrecognizedClientException' })
  t.throws(() => verifySigV4(vanilla(good), { ...options, family: 'query', lookup: () => undefined }), { code: 'InvalidClientTokenId', status: 403 })
})

t.test('URI encoding keeps only unreserved characters', async (t) => {
  t.equal(uriEncode("a b/c~d_e-f.g!'()*"), 'a%20b%2Fc~d_e-f.g%21%27%28%29%2A')
})
