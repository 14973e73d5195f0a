// cdk-nag findings acknowledged one by one, each with its reason, where the construct that causes them is built.
import { Validations } from 'aws-cdk-lib'
import type { IConstruct } from 'constructs'

/** `{ 'AwsSolutions-IAM5[Resource::*]': 'why' }`: each finding id (with its detail, if the rule gives one) and its reason. */
export type Acknowledgments = Record<string, string>

export function acknowledge(construct: IConstruct, findings: Acknowledgments): void {
  for (const [id, reason] of Object.entries(findings)) Validations.of(construct).acknowledge({ id, reason })
}
