// The service roles and their instance profiles (lab-deployable: IAM only). They name the bucket and the
// account's keys, never the key itself, so they come first and the key policy can name them.
import { Stack, type StackProps } from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { SERVICE_ROLES, type Duty } from '@kms-share/policy'
import { ServiceIdentity } from '../constructs/service-identity.js'
import { capitalise } from '../names.js'

export interface IdentityStackProps extends StackProps {
  bucketName: string
}

export class IdentityStack extends Stack {
  readonly identities: Record<Duty, ServiceIdentity>

  constructor(scope: Construct, id: string, props: IdentityStackProps) {
    super(scope, id, props)
    this.identities = {} as Record<Duty, ServiceIdentity>
    for (const definition of SERVICE_ROLES) {
      this.identities[definition.duty] = new ServiceIdentity(this, capitalise(definition.duty), { definition, bucketName: props.bucketName })
    }
  }
}
