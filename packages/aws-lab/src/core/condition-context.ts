// The global condition keys AWS fills from the request, in one place: the router authorises with
// them, and KMS's lockout check judges a caller's future PutKeyPolicy with them.
import type { RequestContext } from '@kms-share/policy'
import { isoSeconds } from './arn.js'
import type { Caller, RequestMeta } from './types.js'

/** Global condition keys filled from the caller and the request (and kms:CallerAccount/kms:ViaService for KMS). */
export function globalContext(caller: Caller, meta: RequestMeta, service: string): RequestContext {
  const p = caller.principal
  const ctx: RequestContext = {
    'aws:PrincipalArn': p.type === 'assumed-role' && p.roleArn ? p.roleArn : p.arn,
    'aws:PrincipalAccount': p.accountId,
    'aws:PrincipalType': p.type === 'assumed-role' ? 'AssumedRole' : p.type === 'root' ? 'Account' : 'User',
    'aws:userid': caller.userId,
    'aws:CurrentTime': isoSeconds(meta.time),
    'aws:EpochTime': String(Math.floor(meta.time.getTime() / 1000)),
    'aws:SecureTransport': String(meta.secureTransport),
    'aws:UserAgent': meta.userAgent,
    'aws:RequestedRegion': meta.region,
    'aws:ViaAWSService': String(Boolean(meta.viaService)),
  }
  // Credentials from instance metadata name their instance, as EC2's do.
  if (caller.ec2) {
    ctx['ec2:SourceInstanceARN'] = caller.ec2.sourceInstanceArn
    ctx['ec2:RoleDelivery'] = caller.ec2.roleDelivery
  }
  if (p.type === 'user' && caller.userName) ctx['aws:username'] = caller.userName
  // Long-term access keys carry no MFA key at all; temporary credentials say true or false.
  if (caller.sessionIssuedAt !== undefined || caller.mfaAuthenticated) ctx['aws:MultiFactorAuthPresent'] = String(caller.mfaAuthenticated)
  if (caller.mfaAuthenticated && caller.mfaAuthTime !== undefined) {
    ctx['aws:MultiFactorAuthAge'] = String(Math.max(0, Math.floor((meta.time.getTime() - caller.mfaAuthTime) / 1000)))
  }
  if (meta.viaService) {
    const principal = meta.viaService.replace(/\.[a-z0-9-]+\.amazonaws\.com$/, '.amazonaws.com')
    ctx['aws:CalledVia'] = [principal]
    ctx['aws:CalledViaFirst'] = principal
    ctx['aws:CalledViaLast'] = principal
  } else if (meta.sourceVpce) {
    // Through a VPC endpoint AWS sees the caller's private address (aws:VpcSourceIp), never a public one (aws:SourceIp).
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceip
    ctx['aws:SourceVpce'] = meta.sourceVpce
    if (meta.sourceVpc) ctx['aws:SourceVpc'] = meta.sourceVpc
    if (meta.vpcSourceIp) ctx['aws:VpcSourceIp'] = meta.vpcSourceIp
  } else {
    // A service acting for the caller does not present the caller's network origin.
    ctx['aws:SourceIp'] = meta.sourceIp
  }
  if (service === 'kms') {
    ctx['kms:CallerAccount'] = p.accountId
    // kms:ViaService names a regional service endpoint (s3.eu-west-1.amazonaws.com); CloudFormation acting for a caller sets none.
    if (meta.viaService && /^[a-z0-9-]+\.[a-z0-9-]+\.amazonaws\.com$/.test(meta.viaService)) ctx['kms:ViaService'] = meta.viaService
  }
  return ctx
}
