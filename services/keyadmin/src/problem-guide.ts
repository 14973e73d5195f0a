// What a person reads on keyadmin's pages for each KADM_ problem: what happened and the next step
// (the frame's problem guide, with the shared codes). The service's own sentence (AWS's, when AWS
// refused) is shown under it; {field} is filled from the problem (suggestedPath, awsErrorCode …).
import type { GuideEntry } from '@kms-share/shared'

export const KEYADMIN_GUIDE: Record<string, GuideEntry> = {
  KADM_POLICY_INVALID: { title: 'The policy has errors.', next: 'Fix the findings listed under the editor (syntax errors first), then try again.' },
  KADM_POLICY_LOCKOUT: { title: 'This policy would lock the key administrators out of the key.', next: 'Keep a statement that lets them call kms:PutKeyPolicy.' },
  KADM_POLICY_UNREADABLE: { title: 'The policy cannot be read as a policy document.', next: 'Fix the JSON the findings point at.' },
  KADM_UNKNOWN_CONTEXT_KEY: { title: 'AWS never sets that condition key on a KMS request.', next: 'Use the key the message suggests.' },
  KADM_SIMULATE_INPUT: { title: 'The simulation needs a principal ARN and one KMS action.', next: 'Correct what the message names.' },
  KADM_KEY_NOT_FOUND: { title: 'There is no such key.', next: 'Pick a key from the list; it may have been deleted.' },
  KADM_NEW_ACCESS: { title: 'The proposed policy gives someone access they do not have now.', next: 'Check the list; apply it only if those gains are meant.' },
  KADM_NOT_URL_ENCODED: { title: 'A key or alias in a path must be URL-encoded.', next: 'Use {suggestedPath}.' },
  KADM_ALIAS_NOT_FOUND: { title: 'There is no such alias.', next: 'Reload the key: the alias may have been deleted or moved.' },
  KADM_ALREADY_EXISTS: { title: 'That already exists.', next: 'Choose another name.' },
  KADM_INVALID_KEY_STATE: { title: "The key's state does not allow this.", next: 'Check the state on the General tab (disabled, pending deletion or without key material).' },
  KADM_AWS_REJECTED: { title: 'AWS refused the input ({awsErrorCode}).', next: 'Correct what AWS names and try again.' },
  KADM_UNSUPPORTED_OPERATION: { title: 'This key does not support that.', next: 'See the message: imported and AWS managed keys allow less.' },
  KADM_TEMPLATE_NOT_FOUND: { title: 'There is no such policy template.', next: 'Pick one from the list.' },
  KADM_TEMPLATE_PARAMETERS: { title: 'A template parameter is missing or malformed.', next: 'Correct what the message names.' },
  KADM_TAG_LIMIT: { title: "The tags are outside AWS's limits.", next: 'Change them as the message says (50 per key, keys 1–128 characters, values up to 256, no aws: prefix).' },
  KADM_MFA_REQUIRED: { title: 'This change needs a code from the MFA device.', next: 'Enter the current code in "MFA code for sensitive changes", then try again.' },
  KADM_MFA_INVALID: { title: 'The MFA code was refused.', next: 'Enter the current code from the device (codes change every 30 seconds).' },
  KADM_MFA_REUSED: { title: 'This MFA code was already used.', next: 'Each code works once: wait for the next code (at most 30 seconds), enter it and try again.' },
  KADM_METADATA_UNAVAILABLE: { title: 'Instance metadata does not answer.', next: 'keyadmin is not on an EC2 instance, or AWS_EC2_METADATA_SERVICE_ENDPOINT is wrong: tell the operators.' },
  KADM_VPC_ENDPOINT_NOT_FOUND: { title: 'There is no such VPC endpoint.', next: 'Reload the list: it may have been deleted.' },
  KADM_EC2_REJECTED: { title: 'EC2 refused the input ({awsErrorCode}).', next: 'Correct what EC2 names and try again.' },
  KADM_IMPORT_MATERIAL: { title: 'The key material cannot be imported as given.', next: 'Give 256 bits in base64 and an expiry in the future.' },
  KADM_AUDIT_NOT_CONFIGURED: { title: 'The audit is not configured here.', next: "Set REDIS_URL for keyadmin to the audit worker's Redis." },
  KADM_AUDIT_UNAVAILABLE: { title: 'The audit results cannot be read now.', next: 'Try again in a moment.' },
  KADM_AUDIT_NO_VERDICT: { title: 'This object has no audit verdict yet.', next: 'The worker audits every upload and the sweep finds the rest: look again in a minute.' },
}
