export * from './types.js'
export { parsePolicy, positionOf } from './parse.js'
export { normalizePolicy, PolicyGrammarError } from './normalize.js'
export { validatePolicy, assertValidPolicy, formatFindings, type ValidateOptions } from './validate.js'
export { FINDING_CODES, ERROR_CODES, PolicyInputError, PolicyInvalidError, UnknownDutyError, type FindingCode, type InvalidPolicyError } from './errors.js'
export { expandAction, findConditionKey, conditionKeyCandidates, closest, type CatalogConditionKey } from './catalog.js'
export { evaluate } from './evaluate.js'
export { wildcardMatcher, MAX_PATTERN_LENGTH, MAX_PATTERN_WILDCARDS, type WildcardMatcher } from './wildcard.js'
export {
  POLICY_TEMPLATES, findTemplate, renderTemplate, TemplateParameterError,
  type PolicyTemplate, type TemplateParameter, type TemplateParameterType, type TemplateValues,
} from './templates.js'
export { SERVICE_ROLES, serviceRole, MFA_KEY_ADMINISTRATOR, type DeploymentNames, type Duty, type ServiceRoleDefinition, type PersonPolicyDefinition } from './roles.js'
export { KEY_USE_ACTIONS, KEY_CRYPTO_ACTIONS, KEY_ADMIN_ACTIONS, MFA_SENSITIVE_ACTIONS, KEY_READ_ACTIONS } from './kms-actions.js'
export { permissionsTable, permissionBlocks, readPermissionBlocks, README_NAMES } from './roles-doc.js'
