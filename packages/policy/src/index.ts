export * from './types.js'
export { parsePolicy } from './parse.js'
export { normalizePolicy, PolicyGrammarError } from './normalize.js'
export { validatePolicy, assertValidPolicy, formatFindings, type ValidateOptions } from './validate.js'
export { FINDING_CODES, ERROR_CODES, PolicyInputError, PolicyInvalidError, UnknownDutyError, type FindingCode, type InvalidPolicyError } from './errors.js'
export { expandAction, findConditionKey, conditionKeyCandidates, closest, type CatalogConditionKey } from './catalog.js'
export { evaluate } from './evaluate.js'
export {
  POLICY_TEMPLATES, findTemplate, renderTemplate, TemplateParameterError, KEY_USE_ACTIONS, KEY_ADMIN_ACTIONS, MFA_SENSITIVE_ACTIONS,
  type PolicyTemplate, type TemplateParameter, type TemplateParameterType, type TemplateValues,
} from './templates.js'
export { SERVICE_ROLES, serviceRole, type DeploymentNames, type Duty, type ServiceRoleDefinition } from './roles.js'
