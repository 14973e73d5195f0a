// The seed's service roles take their identity policies from @kms-share/policy's SERVICE_ROLES: one
// definition, rendered with the seed's account, region and bucket, read back through IAM as AWS stores it.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html (PolicyDocument is URL-encoded)
import t from 'tap'
import { GetRoleCommand, GetRolePolicyCommand, IAMClient, ListRolePoliciesCommand } from '@aws-sdk/client-iam'
import { SERVICE_ROLES } from '@kms-share/policy'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const iam = new IAMClient(lab.clientConfig('admin'))
t.teardown(() => iam.destroy())
const names = { accountId: lab.accountId, region: lab.region, bucket: `kmsworkshop-${lab.accountId}` }

t.test("each service role holds exactly its duty's policy from roles.ts", async (t) => {
  for (const def of SERVICE_ROLES) {
    const role = await iam.send(new GetRoleCommand({ RoleName: def.roleName }))
    t.equal(role.Role?.Description, def.description, `${def.roleName}: description`)
    const listed = await iam.send(new ListRolePoliciesCommand({ RoleName: def.roleName }))
    t.same(listed.PolicyNames, [def.policyName], `${def.roleName}: one inline policy`)
    const got = await iam.send(new GetRolePolicyCommand({ RoleName: def.roleName, PolicyName: def.policyName }))
    t.same(JSON.parse(decodeURIComponent(got.PolicyDocument ?? '')), def.document(names), `${def.roleName}: the definition's document`)
  }
})

t.test('a seed role whose name does not match its duty is refused at start', async (t) => {
  await t.rejects(
    startTestLab(t, { seed: (text) => text.replace('- name: kms-share-uploader\n    duty: upload', '- name: uploader-renamed\n    duty: upload') }),
    /seed role uploader-renamed has duty upload, whose role is named kms-share-uploader/,
  )
})
