// The upload service pinned to an S3 VPC endpoint created through keyadmin (AWS_ENDPOINT_URL_S3):
// its PUTs go through, and the endpoint policy keyadmin then sets applies to them.
// AWS: https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html (endpoint policies),
// https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html (AWS_ENDPOINT_URL_<SERVICE>).
import t from 'tap'
import { buildApp as buildUploadApp, loadUploadConfig } from '@kms-share/upload'
import { aws, BUCKET, profileEnv, scopedToken, scratchDir, startKeyadminInstance, startNetworkLab } from './helpers.js'

const lab = await startNetworkLab(t, 800)
const svc = await startKeyadminInstance(t, lab)
const dir = scratchDir(t)
const admin = profileEnv(lab, 'admin', dir)

t.test('an S3 endpoint and the upload service pinned to it with AWS_ENDPOINT_URL_S3', async (t) => {
  // Private DNS for an S3 interface endpoint needs the VPC's S3 gateway endpoint (AWS refuses it otherwise, and so
  // does the lab): this endpoint is reached by its URL, as the README's example makes it.
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/privatelink-interface-endpoints.html#private-dns
  const created = await svc.call('POST', '/vpc-endpoints', { service: 's3', privateDns: false, wait: true, waitSeconds: 20 })
  t.equal(created.status, 201, JSON.stringify(created.body))
  const e = created.body
  t.match(e, { serviceName: 'com.amazonaws.eu-west-1.s3', service: 's3', state: 'available', endpointUrl: `${lab.endpoint}/vpce/${e.id}` })
  const { AUTH_TOKENS, auth } = scopedToken('upload', ['upload'])
  const config = loadUploadConfig({
    AWS_PROFILE: 'uploader', AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile, AWS_CONFIG_FILE: lab.configFile, AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint, AWS_ENDPOINT_URL_S3: e.endpointUrl, BUCKET, KMS_KEY_ID: 'alias/ImportedCMK', PORT: '0', LOG_LEVEL: 'silent', AUTH_TOKENS,
  })
  const upload = await buildUploadApp(config)
  t.teardown(() => upload.close())
  await upload.listen({ host: '127.0.0.1', port: 0 })
  const { port } = upload.server.address() as { port: number }
  const put = (name: string) => fetch(`http://127.0.0.1:${port}/files/${name}`, { method: 'PUT', headers: auth, body: 'pinned', signal: AbortSignal.timeout(30_000) })
  t.equal((await put('pinned-1.txt')).status, 201)
  const denyPut = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }, { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: '*' }] })
  t.equal((await svc.call('PATCH', `/vpc-endpoints/${e.id}`, { policy: denyPut })).status, 200)
  const refused = await put('pinned-2.txt')
  t.equal(refused.status, 403, 'the S3 endpoint policy now refuses the pinned service')
  t.match(await refused.json(), { action: 's3:PutObject' })
  const listed = await aws(['s3api', 'list-objects-v2', '--bucket', BUCKET], admin)
  t.same(listed.json.Contents.map((o: any) => o.Key), ['pinned-1.txt'])
})
