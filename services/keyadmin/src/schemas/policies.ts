// Route schemas for key policies, validation and simulation.
import { Type } from 'typebox'

export const FindingSchema = Type.Object({
  severity: Type.Union([Type.Literal('ERROR'), Type.Literal('SECURITY_WARNING'), Type.Literal('WARNING'), Type.Literal('SUGGESTION')]),
  code: Type.String(),
  message: Type.String({ description: 'What is wrong and what to change.' }),
  path: Type.String(),
  line: Type.Integer({ description: '1-based.' }),
  column: Type.Integer({ description: '1-based.' }),
  suggestion: Type.Optional(Type.String()),
})

export const PolicyTextBodySchema = Type.Object({
  policy: Type.String({ minLength: 1, maxLength: 32768, description: 'The policy document as JSON text (it may not parse: findings say why).' }),
}, { additionalProperties: false })

export const FindingsSchema = Type.Object({ findings: Type.Array(FindingSchema) })

export const KeyPolicySchema = Type.Object({
  keyId: Type.String(),
  arn: Type.String(),
  policy: Type.String({ description: 'The key policy as KMS holds it.' }),
  findings: Type.Array(FindingSchema),
})

export const LockoutSchema = Type.Object({
  allowed: Type.Boolean(),
  principal: Type.String({ description: 'The identity that calls PutKeyPolicy (the MFA user when MFA is configured).' }),
  mfa: Type.Boolean(),
  decision: Type.String(),
  explanation: Type.Array(Type.String()),
})

export const PutPolicyQuerySchema = Type.Object({
  dryRun: Type.Boolean({ default: false, description: 'Validate, check for lockout and diff; change nothing.' }),
})

export const PutPolicyResultSchema = Type.Object({
  keyId: Type.String(),
  applied: Type.Boolean(),
  findings: Type.Array(FindingSchema),
  lockout: LockoutSchema,
  diff: Type.String({ description: 'Unified diff of the current policy and the proposed one.' }),
})

// Bounded like the policy values they are matched against (packages/policy caps those at 2048 characters).
const ContextString = Type.String({ maxLength: 4096 })
const ContextValue = Type.Union([ContextString, Type.Array(ContextString, { maxItems: 64 })])

export const SimulateBodySchema = Type.Object({
  policy: Type.Optional(Type.String({ minLength: 1, maxLength: 32768, description: 'A key policy to simulate; else the key\'s current policy.' })),
  key: Type.Optional(Type.String({ minLength: 1, description: 'The key (id, ARN or alias): its policy and ARN.' })),
  principal: Type.String({ minLength: 1, description: 'Role, role session, user or root ARN, or an account id.' }),
  action: Type.String({ minLength: 1, description: 'One KMS action, e.g. kms:Decrypt.' }),
  context: Type.Optional(Type.Record(Type.String(), ContextValue, { maxProperties: 64, description: 'Condition keys to set or override (at most 64, each value at most 4096 characters); keys AWS never sets are refused.' })),
  identityPolicies: Type.Boolean({ default: true, description: "Include the principal's IAM policies (read from IAM)." }),
}, { additionalProperties: false })

export const MatchedStatementSchema = Type.Object({
  policy: Type.String(),
  kind: Type.String(),
  statementIndex: Type.Integer(),
  sid: Type.Optional(Type.String()),
  effect: Type.String(),
  reason: Type.String(),
})

export const SimulateResultSchema = Type.Object({
  decision: Type.Union([Type.Literal('Allowed'), Type.Literal('ExplicitlyDenied'), Type.Literal('ImplicitlyDenied')]),
  statements: Type.Array(MatchedStatementSchema, { description: 'The deciding statements.' }),
  explanation: Type.Array(Type.String()),
  deniedBy: Type.Optional(Type.String()),
  resource: Type.String(),
  context: Type.Record(Type.String(), ContextValue, { description: 'The request context evaluated: filled as AWS would, with the given keys over it.' }),
  identityPolicies: Type.Array(Type.String()),
  findings: Type.Array(FindingSchema),
})
