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

const CellStateSchema = Type.Object({
  access: Type.Union([Type.Literal('always'), Type.Literal('conditional'), Type.Literal('never')]),
  conditions: Type.Array(Type.String()),
})

export const AccessChangeSchema = Type.Object({
  principal: Type.String({ description: 'Role, user or root ARN, * or a grantee.' }),
  name: Type.String({ description: 'The principal as people say it (kms-share-downloader, userA, the account root).' }),
  action: Type.String(),
  category: Type.String({ description: 'use, administration or read' }),
  change: Type.Union([Type.Literal('gains'), Type.Literal('loses'), Type.Literal('widens'), Type.Literal('narrows'), Type.Literal('changes')]),
  before: CellStateSchema,
  after: CellStateSchema,
  gained: Type.Array(Type.String(), { description: 'Circumstances allowed after and not before ("always" when it becomes unconditional).' }),
  lost: Type.Array(Type.String(), { description: 'Circumstances allowed before and not after.' }),
  newAccess: Type.Boolean({ description: 'The principal can do something it could not do before.' }),
  sentence: Type.String({ description: 'e.g. "kms-share-downloader loses kms:Decrypt".' }),
})

export const AccessChangesSchema = Type.Object({
  comparedWith: Type.Union([Type.Literal('current'), Type.Literal('reference')]),
  changes: Type.Array(AccessChangeSchema, { description: 'Every cell of who-can-do-what that differs, judged with identity policies and grants.' }),
  newAccess: Type.Array(AccessChangeSchema, { description: 'The changes that give someone an action or circumstance they lacked.' }),
})

export const PutPolicyResultSchema = Type.Object({
  keyId: Type.String(),
  applied: Type.Boolean(),
  findings: Type.Array(FindingSchema),
  lockout: LockoutSchema,
  diff: Type.String({ description: 'Unified diff of the current policy and the proposed one.' }),
  access: Type.Optional(Type.Intersect([AccessChangesSchema], { description: 'Dry run: who gains and who loses each action on the key.' })),
})

export const CheckNoNewAccessBodySchema = Type.Object({
  policy: Type.String({ minLength: 1, maxLength: 32768, description: 'The proposed key policy (JSON text).' }),
  referencePolicy: Type.Optional(Type.String({ minLength: 1, maxLength: 32768, description: "Compare with this policy instead of the key's current one (e.g. the policy on your main branch)." })),
}, { additionalProperties: false })

export const CheckNoNewAccessResultSchema = Type.Intersect([AccessChangesSchema, Type.Object({
  keyId: Type.String(),
  result: Type.Literal('PASS'),
  message: Type.String(),
})])

// Bounded like the policy values they are matched against (packages/policy caps those at 2048 characters).
const ContextString = Type.String({ maxLength: 4096 })
const ContextValue = Type.Union([ContextString, Type.Array(ContextString, { maxItems: 64 })])

export const SimulateBodySchema = Type.Object({
  policy: Type.Optional(Type.String({ minLength: 1, maxLength: 32768, description: 'A key policy to simulate; else the key\'s current policy.' })),
  key: Type.Optional(Type.String({ minLength: 1, description: 'The key (id, ARN or alias): its policy and ARN.' })),
  principal: Type.String({ minLength: 1, description: 'Role, role session, user or root ARN, or an account id.' }),
  action: Type.String({ minLength: 1, description: 'One KMS action, e.g. kms:Decrypt.' }),
  context: Type.Optional(Type.Record(Type.String(), ContextValue, { maxProperties: 64, description: 'Condition keys to set or override (e.g. kms:ViaService, aws:SourceVpce; at most 64, each value at most 4096 characters); keys AWS never sets are refused.' })),
  encryptionContext: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 384 }), Type.String({ maxLength: 384 }), { description: 'The request\'s encryption context: sets kms:EncryptionContext:<key> and kms:EncryptionContextKeys.' })),
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
