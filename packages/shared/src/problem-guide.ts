// What a person should read when a request fails: a sentence for each problem code and the next
// step, instead of problem+json. One catalogue for the server's HTML error pages (a navigation that
// ends in a problem) and the pages' script (assets/frame.js gets it as window.kmsGuide). Services add
// their own codes (keyadmin's KADM_ ones) with `guideFor`'s extra entries. {field} is filled from the
// problem's own members (action, missingGroups …); an entry without a value for a field falls back.
// How an entry is filled is written once, in assets/problem-explain.js, which the pages run too.

import { explainProblem as explainWith, type Explained, type GuideEntry, type ProblemLike } from '../assets/problem-explain.js'

export type { Explained, GuideEntry, ProblemLike }

export const PROBLEM_GUIDE: Record<string, GuideEntry> = {
  SHR_UNAUTHENTICATED: { title: 'You are not signed in (or your session ended).', next: 'Sign in again; you come back to this page.' },
  SHR_INVALID_CREDENTIALS: { title: 'The sign-in was refused.', next: 'Check that the token is complete and made for this service, or ask for a new one.' },
  SHR_MISSING_SCOPE: { title: 'You are signed in, but not allowed to do this here.', next: 'Ask whoever manages kms-share to add you to {missingGroups}, then sign in again.' },
  SHR_CROSS_SITE: { title: 'The request came from another site and was refused.', next: 'Use the page of this service itself.' },
  SHR_CSRF: { title: 'The page is out of date (its security token expired).', next: 'Reload the page and try again.' },
  SHR_STEP_UP_REQUIRED: { title: 'This change needs a recent sign-in with your second factor.', next: 'Sign in again with your authenticator code; the page comes back to the change.' },
  SHR_OIDC_UNAVAILABLE: { title: 'The sign-in service does not answer.', next: 'Try again in a minute.' },
  SHR_VALIDATION: { title: 'Some input is not valid.', next: 'Correct what the message names and try again.' },
  SHR_BAD_REQUEST: { title: 'The request could not be read.', next: 'Reload the page and try again.' },
  SHR_NOT_FOUND: { title: 'There is no such page here.', next: 'Go back to the list and follow a link from there.' },
  SHR_PAYLOAD_TOO_LARGE: { title: 'What you sent is too large.', next: 'Send something smaller.' },
  SHR_BAD_CURSOR: { title: 'The list changed or its page is out of date.', next: 'Go back to the first page of the list.' },
  SHR_AWS_ACCESS_DENIED: { title: 'AWS refused {action} to this service.', next: 'Ask a key administrator to check the key policy and this service\'s role; the message names the policy that denied it.' },
  SHR_AWS_NO_SUCH_KEY: { title: 'This object does not exist (any more).', next: 'It was deleted or renamed: go back to the list of objects.' },
  SHR_AWS_KMS_KEY_UNAVAILABLE: { title: 'The KMS key that protects this object cannot be used now.', next: 'Ask a key administrator: the key may be disabled, pending deletion or missing its material.' },
  SHR_AWS_CREDENTIALS: { title: 'AWS refused this service\'s own credentials.', next: 'Tell the operators: the service\'s role or instance profile needs attention.' },
  SHR_AWS_NO_SUCH_BUCKET: { title: 'The bucket this service is configured with does not exist.', next: 'Tell the operators (BUCKET).' },
  SHR_AWS_THROTTLED: { title: 'AWS is busy.', next: 'Try again in a few seconds.' },
  SHR_AWS_UNAVAILABLE: { title: 'AWS did not answer as expected.', next: 'Try again; if it goes on, tell the operators.' },
  SHR_AWS_CONFLICT: { title: 'Another change to this object is in progress.', next: 'Try again in a moment.' },
  SHR_REQUEST_TIMEOUT: { title: 'The request took too long.', next: 'Check your connection and try again.' },
  SHR_SHUTTING_DOWN: { title: 'The service is restarting.', next: 'Try again in a moment.' },
  SHR_UNAVAILABLE: { title: 'The service is not ready.', next: 'Try again in a moment.' },
  SHR_INTERNAL: { title: 'Something went wrong in the service.', next: 'Try again; if it goes on, give the operators the request id below.' },
  UPL_OBJECT_EXISTS: { title: 'An object with this name already exists.', next: 'Choose another name, or tick "Replace an existing object".' },
  UPL_TOO_LARGE: { title: 'The file is larger than this service accepts.', next: 'Upload a smaller file, or ask the operators to raise MAX_UPLOAD_BYTES.' },
  UPL_INVALID_NAME: { title: 'This name cannot be used for an object.', next: 'Choose another name: the message says what is wrong with it.' },
  UPL_CLIENT_DISCONNECTED: { title: 'The upload was cut off; nothing was stored.', next: 'Upload the file again.' },
  UPL_IDLE_TIMEOUT: { title: 'The upload stalled; nothing was stored.', next: 'Check your connection and upload the file again.' },
  UPL_SHUTTING_DOWN: { title: 'The service restarted during the upload; nothing was stored.', next: 'Upload the file again in a moment.' },
  UPL_MULTIPART_NEEDS_DECRYPT: { title: 'AWS refused to assemble this large upload.', next: 'Ask a key administrator to give the uploader kms:Decrypt through S3 only (kms:ViaService).' },
  DWN_INVALID_KEY: { title: 'This is not a valid object name.', next: 'Go back to the list of objects.' },
  DWN_RANGE_NOT_SATISFIABLE: { title: 'The part of the file asked for does not exist.', next: 'Download the whole file.' },
}

/** The guide for a problem (or a bare status when the answer was not problem+json). */
export function explainProblem(problem: ProblemLike, guide: Record<string, GuideEntry> = PROBLEM_GUIDE): Explained {
  return explainWith(problem, guide)
}
