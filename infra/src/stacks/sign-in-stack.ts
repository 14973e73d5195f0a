// People's sign-in (AWS only, the lab has its own OpenID Provider): the Cognito user pool, its groups, domain and
// app clients. A stack of its own beside the edge stack, whose template would otherwise pass CloudFormation's
// 51,200-byte inline limit. It reads the services' URLs the edge stack published (SSM-typed parameters), and
// publishes each service's OIDC settings and client secret for its instances; the compute stack references none
// of it, its instances read them by name at boot.
import { CfnCondition, CfnOutput, CfnParameter, Fn, Stack, type StackProps } from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { ShareSignIn } from '../constructs/share-sign-in.js'
import { capitalise, edgeParameter, type WebDuty } from '../names.js'

const WEB_DUTIES = ['upload', 'download', 'keyadmin'] as const satisfies readonly WebDuty[]

export class SignInStack extends Stack {
  readonly signIn: ShareSignIn

  constructor(scope: Construct, id: string, props: StackProps) {
    super(scope, id, props)
    const mfa = new CfnParameter(this, 'UserMfa', {
      type: 'String',
      default: 'required',
      allowedValues: ['required', 'optional'],
      description: 'required: every person signs in with a TOTP app; optional: each person may set one up (step-up still asks for it on sensitive key operations)',
    })
    const prefix = new CfnParameter(this, 'SignInDomainPrefix', {
      type: 'String',
      default: '',
      allowedPattern: '^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)?$',
      description: 'The sign-in pages at https://<prefix>.auth.<region>.amazoncognito.com (unique in the region; no "aws", "amazon" or "cognito"); empty: kms-share-<account id>',
    })
    const acr = new CfnParameter(this, 'StepUpAcrValues', {
      type: 'String',
      default: '',
      allowedPattern: '^[A-Za-z0-9:._/ -]*$',
      description: 'acr_values the services ask Cognito for at step-up (OIDC_STEP_UP_ACR_VALUES), e.g. one of your pool\'s ACR levels; empty: max_age=0 only',
    })
    const serviceUrls = {} as Record<WebDuty, string>
    for (const duty of WEB_DUTIES) {
      serviceUrls[duty] = new CfnParameter(this, `${capitalise(duty)}Url`, {
        type: 'AWS::SSM::Parameter::Value<String>',
        default: edgeParameter.publicUrl(duty),
        description: `The ${duty} service's public URL, as the edge stack published it (its callback and sign-out URLs are under it)`,
      }).valueAsString
    }
    const mfaRequired = new CfnCondition(this, 'MfaRequired', { expression: Fn.conditionEquals(mfa.valueAsString, 'required') })
    const defaultPrefix = new CfnCondition(this, 'DefaultDomainPrefix', { expression: Fn.conditionEquals(prefix.valueAsString, '') })
    const domainPrefix = Fn.conditionIf(defaultPrefix.logicalId, Fn.join('-', ['kms-share', this.account]), prefix.valueAsString).toString()

    this.signIn = new ShareSignIn(this, 'SignIn', { serviceUrls, mfaRequired, domainPrefix, stepUpAcrValues: acr.valueAsString })
    const { signIn } = this
    new CfnOutput(this, 'UserPoolId', { value: signIn.pool.userPoolId, description: 'Invite people here (admin-create-user) and put them in groups (admin-add-user-to-group)' })
    new CfnOutput(this, 'Issuer', { value: signIn.issuer, description: 'OIDC_ISSUER of the services' })
    const baseUrl = Fn.join('', ['https://', domainPrefix, '.auth.', this.region, '.amazoncognito.com'])
    new CfnOutput(this, 'SignInUrl', { value: baseUrl, description: 'The managed sign-in pages' })
    new CfnOutput(this, 'TokenEndpoint', { value: `${baseUrl}/oauth2/token`, description: "Scripts: client-credentials tokens (each service's scripts client)" })
    for (const duty of WEB_DUTIES) {
      new CfnOutput(this, `${capitalise(duty)}ClientId`, { value: signIn.clients[duty].userPoolClientId, description: `The ${duty} page's app client` })
      new CfnOutput(this, `${capitalise(duty)}ScriptsClientId`, {
        value: signIn.scriptClients[duty].userPoolClientId,
        description: `Scripts calling ${duty}: client-credentials client (its secret: aws cognito-idp describe-user-pool-client)`,
      })
    }
  }
}
