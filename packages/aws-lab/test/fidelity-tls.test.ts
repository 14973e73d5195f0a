// HTTPS: the lab generates a CA into its data folder and answers TLS and plain HTTP on one port;
// over TLS aws:SecureTransport is true, and SSE-KMS over plain HTTP is refused as AWS refuses it.
// Driven through the AWS SDK v3 (trusting the CA) and AWS CLI v2 (ca_bundle in the lab's config file).
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html ("must be made over a secure connection")
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-securetransport
import { execFile } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { Agent } from 'node:https'
import { rootCertificates } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { promisify } from 'node:util'
import { CreateBucketCommand, GetObjectCommand, PutBucketPolicyCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms'
import t from 'tap'
import { startLab } from '../src/app.js'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const exec = promisify(execFile)
const dataDir = t.testdir()
const lab = await startTestLab(t, { ...WITHOUT_STACKS, dataDir, tls: true, defaultKeyPolicy: true })
const BUCKET = `kmsworkshop-${lab.accountId}`
const ca = readFileSync(lab.caFile!)
const overTls = (profile: string) => new S3Client(lab.clientConfig(profile, { requestHandler: { httpsAgent: new Agent({ ca }) } }))
const overHttp = (profile: string) => new S3Client(lab.clientConfig(profile, { endpoint: lab.httpEndpoint }))
// This machine exports AWS_CA_BUNDLE (the system bundle), which would override the config file's ca_bundle.
const { AWS_CA_BUNDLE: _systemBundle, ...cliEnv } = lab.cliEnv()
const cli = (args: string[]) =>
  exec('/usr/bin/aws', ['--profile', 'admin', '--output', 'json', ...args], { env: cliEnv, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
  )

t.test('the CA and the server certificate', async (t) => {
  t.match(lab.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/)
  t.equal(lab.httpEndpoint, lab.endpoint.replace('https:', 'http:'), 'one port, both schemes')
  const cert = new X509Certificate(ca)
  t.ok(cert.ca, 'a CA certificate')
  t.equal(statSync(`${dataDir}/tls/ca-key.pem`).mode & 0o777, 0o600, 'the CA key is private')
  t.match(readFileSync(lab.configFile, 'utf8'), `ca_bundle = ${lab.caFile}`)
  // Containers that share no volume with the lab fetch the (public) CA certificate from it.
  t.equal(await (await fetch(`${lab.httpEndpoint}/_lab/ca.pem`, { signal: AbortSignal.timeout(10_000) })).text(), ca.toString())
  const server = new X509Certificate(readFileSync(`${dataDir}/tls/server.pem`))
  t.ok(server.verify(cert.publicKey), 'the server certificate is signed by the CA')
  t.match(server.subjectAltName, /DNS:localhost/)
  t.match(server.subjectAltName, /IP Address:127\.0\.0\.1/)
  // Over TLS with the CA trusted, KMS answers.
  const kms = new KMSClient(lab.clientConfig('admin', { requestHandler: { httpsAgent: new Agent({ ca }) } }))
  t.ok((await kms.send(new ListAliasesCommand({}))).Aliases?.length)
  // Without the CA (only Node's public roots; startTestLab made this process trust the lab), a client refuses the certificate.
  const untrusting = new KMSClient(lab.clientConfig('admin', { requestHandler: { httpsAgent: new Agent({ ca: [...rootCertificates] }) } }))
  await t.rejects(untrusting.send(new ListAliasesCommand({})), /self[- ]signed|unable to (get|verify)|certificate/i)
})

t.test('SSE-KMS over HTTPS works; over plain HTTP S3 refuses it as AWS does; SSE-S3 over HTTP still works', async (t) => {
  const put = await overTls('admin').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tls.txt', Body: 'over tls', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
  t.equal(put.ServerSideEncryption, 'aws:kms')
  const refused = { name: 'InvalidArgument', message: 'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.', $metadata: { httpStatusCode: 400 } }
  await t.rejects(overHttp('admin').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'http.txt', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' })), refused)
  await t.rejects(overHttp('admin').send(new GetObjectCommand({ Bucket: BUCKET, Key: 'tls.txt' })), refused, 'reading an SSE-KMS object too')
  t.equal(await (await overTls('admin').send(new GetObjectCommand({ Bucket: BUCKET, Key: 'tls.txt' }))).Body!.transformToString(), 'over tls')
  await overHttp('admin').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'sse-s3.txt', Body: 'x', ServerSideEncryption: 'AES256' }))
})

t.test('aws:SecureTransport is true over TLS: a bucket policy denying insecure transport lets HTTPS through', async (t) => {
  const bucket = 'lab-secure-transport'
  await overTls('admin').send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: lab.region as 'eu-west-1' } }))
  await overTls('admin').send(new PutBucketPolicyCommand({
    Bucket: bucket,
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } }] }),
  }))
  await overTls('admin').send(new PutObjectCommand({ Bucket: bucket, Key: 'a', Body: 'x' }))
  await t.rejects(overHttp('admin').send(new PutObjectCommand({ Bucket: bucket, Key: 'b', Body: 'x' })), { name: 'AccessDenied', message: /with an explicit deny in a resource-based policy/ })
})

t.test('AWS CLI v2 uses the ca_bundle the lab writes; over --endpoint-url http:// SSE-KMS is refused', async (t) => {
  // Debian's CLI (2.9) predates endpoint_url in the config file: the endpoint goes on the command line, the CA comes from ca_bundle.
  const ok = await cli(['--endpoint-url', lab.endpoint, 's3api', 'put-object', '--bucket', BUCKET, '--key', 'cli.txt', '--body', lab.configFile, '--server-side-encryption', 'aws:kms', '--ssekms-key-id', 'alias/ImportedCMK'])
  t.equal(ok.code, 0, ok.stderr)
  t.equal(JSON.parse(ok.stdout).ServerSideEncryption, 'aws:kms')
  const refused = await cli(['--endpoint-url', lab.httpEndpoint, 's3api', 'put-object', '--bucket', BUCKET, '--key', 'cli-http.txt', '--body', lab.configFile, '--server-side-encryption', 'aws:kms'])
  t.not(refused.code, 0)
  t.match(refused.stderr, '(InvalidArgument) when calling the PutObject operation: Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.')
})

t.test('a restart keeps the CA', async (t) => {
  await lab.close()
  const again = await startLab({ dataDir, seedFile: WITHOUT_STACKS.seedFile, port: 0, quiet: true, tls: true })
  t.teardown(() => again.close())
  t.equal(readFileSync(again.caFile!, 'utf8'), ca.toString(), 'same CA: clients keep trusting it')
})
