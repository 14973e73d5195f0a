// AWS::CDK::Metadata: the CDK's analytics resource. CloudFormation accepts and records it and
// creates nothing; so does the lab.
import { randomUUID } from 'node:crypto'
import type { ResourceHandler } from './types.js'

export const cdkMetadata: ResourceHandler = {
  attributes: [],
  create: async () => ({ physicalId: randomUUID(), attributes: {} }),
  update: async (_props, current) => ({ physicalId: current.physicalId, attributes: {} }),
  delete: async () => undefined,
}
