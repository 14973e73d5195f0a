// People's sign-in on AWS: a Cognito user pool (TOTP MFA, a strong password policy, threat protection), a
// group per duty whose names the services' OIDC_SCOPE_MAP maps to scopes, the managed-login domain, one
// confidential app client per web service (authorization code with PKCE, refresh tokens) and one
// client-credentials client per service for scripts, limited to that service's scopes. Each service's
// client secret is copied into its own Secrets Manager secret, and its OIDC settings into its own SSM
// parameter; its instances read both at boot (user-data.ts), and nothing else of another service.
import { Aws, Duration, Fn, RemovalPolicy, SecretValue, Stack, type CfnCondition } from 'aws-cdk-lib'
import * as cognito from 'aws-cdk-lib/aws-cognito'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import * as ssm from 'aws-cdk-lib/aws-ssm'
import { Construct } from 'constructs'
import { serviceRole } from '@kms-share/policy'
import { capitalise, secretName, signInParameter, type WebDuty } from '../names.js'
import { acknowledge } from '../nag.js'

/** The groups people are put in, and the scopes each gives (the services' default OIDC_SCOPE_MAP; a test holds them equal). */
export const PERSON_GROUPS = [
  { name: 'uploaders', scopes: ['upload'], description: 'Upload files (the upload page)' },
  { name: 'downloaders', scopes: ['download'], description: 'Download files (the download page)' },
  { name: 'keyadmins', scopes: ['keys:read', 'keys:admin'], description: "Administer the share's key and its policy (keyadmin); never reads files" },
  { name: 'auditors', scopes: ['keys:read', 'audit:read'], description: 'Read the key, its policy and the audit verdicts (keyadmin)' },
  { name: 'admins', scopes: ['keys:read', 'audit:read', 'cache:admin'], description: 'Operate the service: read keys and audits, empty the download cache' },
] as const

/** Each web service's scopes, which its scripts' client-credentials client may ask for (nothing of another service). */
export const SERVICE_SCOPES: Record<WebDuty, readonly string[]> = {
  upload: ['upload'],
  download: ['download', 'cache:admin'],
  keyadmin: ['keys:read', 'keys:admin', 'audit:read'],
}

/** The resource server's identifier: Cognito writes a custom scope as `<identifier>/<scope>`. */
export const RESOURCE_SERVER = 'kms-share'

/** OIDC_SCOPE_MAP as the services read it: group=scope+scope,… */
export const SCOPE_MAP = PERSON_GROUPS.map((g) => `${g.name}=${g.scopes.join('+')}`).join(',')

export interface ShareSignInProps {
  /** Each web service's public URL (https://upload.DOMAIN), which its callback and sign-out URLs are under. */
  serviceUrls: Record<WebDuty, string>
  /** MFA: where this condition holds, every person must use TOTP; otherwise each may set it up (OPTIONAL). */
  mfaRequired: CfnCondition
  /** The managed-login domain's prefix (<prefix>.auth.<region>.amazoncognito.com). */
  domainPrefix: string
  /** acr_values the services ask for at step-up ('' for none). */
  stepUpAcrValues: string
}

export class ShareSignIn extends Construct {
  readonly pool: cognito.UserPool
  readonly domain: cognito.UserPoolDomain
  readonly clients = {} as Record<WebDuty, cognito.UserPoolClient>
  readonly scriptClients = {} as Record<WebDuty, cognito.UserPoolClient>
  readonly clientSecrets = {} as Record<WebDuty, secretsmanager.Secret>
  readonly environments = {} as Record<WebDuty, ssm.StringParameter>
  /** The OpenID Provider's issuer: https://cognito-idp.<region>.amazonaws.com/<pool id>. */
  readonly issuer: string

  constructor(scope: Construct, id: string, props: ShareSignInProps) {
    super(scope, id)
    this.pool = new cognito.UserPool(this, 'Pool', {
      userPoolName: 'kms-share',
      // People are invited by an administrator (admin-create-user), never sign themselves up.
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false, email: false },
      passwordPolicy: {
        minLength: 14,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
        passwordHistorySize: 5,
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      // Plus: threat protection (compromised credentials, adaptive authentication) enforced, and acr/amr for step-up.
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: true,
      // People's accounts and their MFA devices outlive the stack, as the key and the bucket do.
      removalPolicy: RemovalPolicy.RETAIN,
    })
    const cfnPool = this.pool.node.defaultChild as cognito.CfnUserPool
    cfnPool.mfaConfiguration = Fn.conditionIf(props.mfaRequired.logicalId, 'ON', 'OPTIONAL').toString()
    acknowledge(this.pool, {
      'AwsSolutions-COG2': 'MFA is ON (TOTP) unless the deployer sets the UserMfa parameter to optional; cdk-nag cannot read the parameter, the UserMfa test does.',
    })
    // Spelled out as the services compare it with the tokens' iss (https://cognito-idp.<region>.<suffix>/<pool id>).
    this.issuer = Fn.join('', ['https://cognito-idp.', Aws.REGION, '.', Aws.URL_SUFFIX, '/', this.pool.userPoolId])

    for (const group of PERSON_GROUPS) {
      new cognito.CfnUserPoolGroup(this, `${capitalise(group.name)}Group`, {
        userPoolId: this.pool.userPoolId,
        groupName: group.name,
        description: `${group.description} — scopes ${group.scopes.join(', ')}`,
      })
    }

    this.domain = this.pool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: props.domainPrefix },
      managedLoginVersion: cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    })
    acknowledge(this.domain, { 'CloudFormation-Validate::W1030': "The prefix parameter's empty default is never the domain: Fn::If puts kms-share-<account id> in its place." })

    const scopes = [...new Set(Object.values(SERVICE_SCOPES).flat())].map((name) => new cognito.ResourceServerScope({ scopeName: name, scopeDescription: `The ${name} scope of the kms-share services` }))
    const resourceServer = this.pool.addResourceServer('Api', { identifier: RESOURCE_SERVER, userPoolResourceServerName: 'kms-share services', scopes })

    for (const duty of ['upload', 'download', 'keyadmin'] as const) {
      const url = props.serviceUrls[duty]
      const callback = Fn.join('', [url, '/auth/callback'])
      const signedOut = Fn.join('', [url, '/auth/signed-out'])
      const client = this.pool.addClient(`${capitalise(duty)}Client`, {
        userPoolClientName: `kms-share-${duty}`,
        generateSecret: true,
        // The managed login's password step (SRP) and refresh; no plain-password or custom flows through the API.
        authFlows: { userSrp: true },
        oAuth: {
          flows: { authorizationCodeGrant: true },
          scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
          callbackUrls: [callback],
          logoutUrls: [signedOut],
        },
        supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
        preventUserExistenceErrors: true,
        enableTokenRevocation: true,
        // Short access and ID tokens: a removed group or a disabled person counts at the next refresh.
        accessTokenValidity: Duration.minutes(15),
        idTokenValidity: Duration.minutes(15),
        refreshTokenValidity: Duration.hours(8),
        authSessionValidity: Duration.minutes(5),
      })
      this.clients[duty] = client
      new cognito.CfnManagedLoginBranding(this, `${capitalise(duty)}Branding`, {
        userPoolId: this.pool.userPoolId,
        clientId: client.userPoolClientId,
        useCognitoProvidedValues: true,
      }).node.addDependency(this.domain)

      const scriptClient = this.pool.addClient(`${capitalise(duty)}ScriptsClient`, {
        userPoolClientName: `kms-share-${duty}-scripts`,
        generateSecret: true,
        oAuth: {
          flows: { clientCredentials: true },
          // As tokens carry them (<identifier>/<scope>), written out so that every template reader sees them.
          scopes: SERVICE_SCOPES[duty].map((name) => cognito.OAuthScope.custom(`${RESOURCE_SERVER}/${name}`)),
        },
        supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
        accessTokenValidity: Duration.minutes(15),
        enableTokenRevocation: true,
      })
      scriptClient.node.addDependency(resourceServer)
      // Left unset, Cognito would also allow SRP and custom sign-ins of people through this client.
      ;(scriptClient.node.defaultChild as cognito.CfnUserPoolClient).explicitAuthFlows = ['ALLOW_REFRESH_TOKEN_AUTH']
      this.scriptClients[duty] = scriptClient

      // Cognito keeps the secret; CloudFormation copies it here at deploy time (GetAtt), so no template holds it.
      const secret = new secretsmanager.Secret(this, `${capitalise(duty)}ClientSecret`, {
        secretName: secretName.oidcClient(duty),
        description: `kms-share ${duty}: its Cognito app client's secret (OIDC_CLIENT_SECRET_FILE), copied by CloudFormation`,
        secretStringValue: SecretValue.resourceAttribute((client.node.defaultChild as cognito.CfnUserPoolClient).attrClientSecret),
        removalPolicy: RemovalPolicy.DESTROY,
      })
      acknowledge(secret, {
        'AwsSolutions-SMG4': "A copy of the app client's secret, which Cognito owns: it changes when the client is replaced (a deploy rewrites this copy), not by a rotation function.",
      })
      this.clientSecrets[duty] = secret

      const environment: Record<string, string> = {
        OIDC_ISSUER: this.issuer,
        OIDC_CLIENT_ID: client.userPoolClientId,
        OIDC_REDIRECT_URI: callback,
        OIDC_POST_LOGOUT_REDIRECT_URI: signedOut,
        OIDC_REQUEST_SCOPES: 'openid email profile',
        OIDC_GROUPS_CLAIM: 'cognito:groups',
        OIDC_SCOPE_MAP: SCOPE_MAP,
        // Scripts: this service's client-credentials client (Cognito access tokens name it in client_id).
        OIDC_AUDIENCE: scriptClient.userPoolClientId,
        OIDC_SCOPE_PREFIX: `${RESOURCE_SERVER}/`,
        OIDC_STEP_UP_ACR_VALUES: props.stepUpAcrValues,
      }
      this.environments[duty] = new ssm.StringParameter(this, `${capitalise(duty)}Environment`, {
        parameterName: signInParameter.environment(duty),
        stringValue: Stack.of(this).toJsonString(environment),
        description: `kms-share ${duty}: its OIDC settings (JSON, no secret), read at boot`,
      })

      // The instance reads its own client secret and settings; the other services' stay out of its reach.
      new iam.Policy(this, `${capitalise(duty)}SignInPolicy`, {
        policyName: `${serviceRole(duty).roleName}-sign-in`,
        roles: [iam.Role.fromRoleName(this, `${capitalise(duty)}Role`, serviceRole(duty).roleName)],
        statements: [
          new iam.PolicyStatement({ sid: 'OwnClientSecret', actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
          new iam.PolicyStatement({
            sid: 'OwnSignInSettings',
            actions: ['ssm:GetParameter'],
            resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${signInParameter.environment(duty)}`],
          }),
        ],
      })
    }
  }
}
