// Each instance's metadata only to its own instance. On EC2 only the instance reaches
// 169.254.169.254; here every metadata port is on one host, so the lab (with `imdsOwners`) serves
// an instance's metadata only to local connections owned by that instance's user, found in
// /proc/net/tcp{,6}, and (with `imdsBind`) can listen for an instance on one address only
// (compose: the lab's address on that service's own network).
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html ("only from the instance itself")
import t from 'tap'
import { execFile } from 'node:child_process'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts'
import { clientSocketOwner, normalizeAddress, parseProcAddress, parseProcNetTcp } from '../src/imds/connection-owner.js'
import { startTestLab } from './helpers/lab.js'

const isRoot = process.getuid?.() === 0
const linux = process.platform === 'linux'
// Users with no /etc/passwd entry: a process needs only a uid to be someone else.
const UPLOADER_UID = 64_601
const STRANGER_UID = 64_602
const me = process.getuid?.() ?? -1

t.test('/proc/net/tcp addresses: IPv4, IPv6 and v4-mapped, in the machine byte order', async (t) => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  64601        0 1 1 0000000000000000 20 4 30 10 -1',
    '   1: 0100007F:C350 0100007F:1F90 06 00000000:00000000 03:00000DAB 00000000     0        0 0 3 0000000000000000',
  ].join('\n')
  const entries = parseProcNetTcp(text)
  const le = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
  t.same(entries[0].local, le ? { address: '127.0.0.1', port: 8080 } : { address: '1.0.0.127', port: 8080 })
  t.equal(entries[0].uid, 64_601)
  t.equal(entries[1].state, 6, 'TIME_WAIT is read as such')
  if (le) {
    t.same(parseProcAddress('00000000000000000000000001000000:0050'), { address: '0:0:0:0:0:0:0:1', port: 80 }, '::1')
    t.same(parseProcAddress('0000000000000000FFFF00000100007F:0050'), { address: '127.0.0.1', port: 80 }, '::ffff:127.0.0.1 as IPv4')
  }
  t.equal(normalizeAddress('::1'), '0:0:0:0:0:0:0:1')
  t.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1')
  t.equal(normalizeAddress('FE80::1:0'), 'fe80:0:0:0:0:0:1:0')
})

t.test('the owner of a loopback connection is the uid that made the client socket', { skip: !linux && 'needs /proc/net/tcp (Linux)' }, async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    const server = createServer()
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(0, host, () => resolve(true))
    })
    if (!listening) {
      t.comment(`no ${host} here`)
      continue
    }
    const client = connect((server.address() as AddressInfo).port, host)
    const socket = await accepted
    t.equal(await clientSocketOwner(socket), me, `${host}: this process's uid`)
    client.destroy()
    socket.destroy()
    await new Promise((r) => server.close(r))
  }
})

/** Asks `endpoint` for its role credentials from a process of `uid` (a fresh Node with only builtins). */
function fetchCredentialsAs(uid: number, endpoint: string): Promise<{ token: number; role?: number; credentials?: Record<string, string> }> {
  const script = `
    const base = process.argv[1]
    const put = await fetch(base + 'latest/api/token', { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })
    const out = { token: put.status }
    if (put.ok) {
      const h = { 'x-aws-ec2-metadata-token': await put.text() }
      const list = await fetch(base + 'latest/meta-data/iam/security-credentials/', { headers: h })
      out.role = list.status
      if (list.ok) out.credentials = await (await fetch(base + 'latest/meta-data/iam/security-credentials/' + (await list.text()).trim(), { headers: h })).json()
    }
    process.stdout.write(JSON.stringify(out))`
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script, endpoint], { uid, gid: uid, cwd: '/', env: { PATH: '/usr/bin:/bin' }, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`))
      else resolve(JSON.parse(stdout))
    })
  })
}

t.test('with imdsOwners, an instance\'s metadata goes to its user alone', { skip: (!linux && 'needs /proc/net/tcp (Linux)') || (!isRoot && 'needs root, to run processes as other uids') }, async (t) => {
  const lab = await startTestLab(t, { imdsOwners: { uploader: UPLOADER_UID } })
  const endpoint = (name: string) => lab.instances().find((i) => i.name === name)!.metadataEndpoint

  const asUploader = await fetchCredentialsAs(UPLOADER_UID, endpoint('uploader'))
  t.equal(asUploader.token, 200, "the uploader's user gets a token")
  t.equal(asUploader.role, 200)
  const c = asUploader.credentials!
  const sts = new STSClient({ region: lab.region, endpoint: lab.endpoint, credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token } })
  t.teardown(() => sts.destroy())
  t.match((await sts.send(new GetCallerIdentityCommand({}))).Arn, /^arn:aws:sts::111122223333:assumed-role\/kms-share-uploader\/i-/, 'and the uploader role\'s credentials')

  const asStranger = await fetchCredentialsAs(STRANGER_UID, endpoint('uploader'))
  t.same(asStranger, { token: 403 }, 'another uid is refused before any token')
  const fromLab = await fetch(new URL('latest/api/token', endpoint('uploader')), { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })
  t.equal(fromLab.status, 403, "the lab's own user is refused the uploader's metadata too")
  t.match(await fromLab.text(), /403 - Forbidden/)

  // Unlisted instances belong to the lab's user: the uploader's user cannot reach them.
  for (const name of ['workshop', 'downloader', 'keyadmin', 'auditor']) {
    t.same(await fetchCredentialsAs(UPLOADER_UID, endpoint(name)), { token: 403 }, `the uploader's user is refused ${name}'s metadata`)
  }
  const own = await fetch(new URL('latest/api/token', endpoint('workshop')), { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })
  t.equal(own.status, 200, "the lab's user reaches the instances left to it")
})

t.test('with imdsBind, an instance listens on its own address only', { skip: !linux && 'loopback beyond 127.0.0.1 is Linux only' }, async (t) => {
  const lab = await startTestLab(t, { imdsBind: { uploader: '127.0.0.2' } })
  const uploader = new URL(lab.instances().find((i) => i.name === 'uploader')!.metadataEndpoint)
  const workshop = new URL(lab.instances().find((i) => i.name === 'workshop')!.metadataEndpoint)
  t.equal(uploader.hostname, '127.0.0.2', 'the endpoint names the address it listens on')
  t.equal(workshop.hostname, '127.0.0.1', 'the others stay on the lab\'s host')
  t.equal((await fetch(new URL('latest/api/token', uploader), { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).status, 200)
  const elsewhere = await fetch(`http://127.0.0.1:${uploader.port}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } }).then(() => 'answered', (err: Error) => (err.cause as NodeJS.ErrnoException)?.code)
  t.equal(elsewhere, 'ECONNREFUSED', "nothing answers on the uploader's port at another address")
})
