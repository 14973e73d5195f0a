// The contract between the lab's core (router, SigV4, authorisation, CloudTrail recording)
// and its services (KMS, STS, IAM, CloudTrail, S3). A service's model never sees an HTTP
// request: it gets an input object and an OperationContext.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { NamedPolicy, RequestContext, RequestPrincipal } from '@kms-share/policy'

/** An AWS error as the API returns it; each protocol writes it in its own format. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** Extra fields some protocols carry (S3 XML elements such as `Key`, `BucketName`). */
    readonly fields: Record<string, string> = {},
  ) {
    super(message)
    this.name = code
  }
}

/** Who is calling, resolved from the access key by SigV4 verification. */
export interface Caller {
  principal: RequestPrincipal
  accessKeyId: string
  /** `AIDA…` for a user, `AROA…:session` for a role session, the account id for root. */
  userId: string
  userName?: string
  roleName?: string
  sessionName?: string
  /** Set for sessions from GetSessionToken/AssumeRole with a valid MFA code. */
  mfaAuthenticated: boolean
  /** Epoch ms of the MFA authentication, for aws:MultiFactorAuthAge. */
  mfaAuthTime?: number
  /** Epoch ms the session credentials were issued (for CloudTrail sessionContext). */
  sessionIssuedAt?: number
  /** Set for role credentials delivered through instance metadata (ec2:SourceInstanceARN, ec2:RoleDelivery). */
  ec2?: { sourceInstanceArn: string; roleDelivery: string }
  /** The identity policies that apply (user's inline + attached + groups, or the role's). Resolved per request. */
  identityPolicies: NamedPolicy[]
}

/** Facts about the request that condition keys and CloudTrail need. */
export interface RequestMeta {
  requestId: string
  time: Date
  sourceIp: string
  userAgent: string
  secureTransport: boolean
  /** Set on plain-HTTP requests when the lab also serves HTTPS: S3 then refuses SSE-KMS as AWS does. */
  plainHttpRefusesSseKms?: boolean
  region: string
  /** The VPC endpoint the call came through (lab: chosen by endpoint URL host/path, see router). */
  sourceVpce?: string
  sourceVpc?: string
  /** The caller's private address in that VPC (aws:VpcSourceIp). */
  vpcSourceIp?: string
  /** Set when another service calls on the caller's behalf (forward access session): `s3.eu-west-1.amazonaws.com`. */
  viaService?: string
  /** CloudTrail `userIdentity.invokedBy`, e.g. `fas.s3.amazonaws.com`. */
  invokedBy?: string
  /** What SigV4 verification established, for S3's chunk signatures and payload-hash checks. */
  sigv4?: SigV4Result
}

export interface SigV4Result {
  accessKeyId: string
  /** The derived signing key (HMAC chain of date/region/service), for verifying aws-chunked chunk signatures. */
  signingKey: Buffer
  /** The request's signature: the seed for chunk signatures. */
  seedSignature: string
  /** `20261128/eu-west-1/s3/aws4_request`. */
  scope: string
  /** `20261128T171400Z`. */
  amzDate: string
  /** The x-amz-content-sha256 claim (a hex hash, `UNSIGNED-PAYLOAD`, `STREAMING-…`); the body is checked against it by whoever reads it. */
  payloadHash: string
  /** True when the signature came in the query string (presigned URL). */
  presigned: boolean
  /** 2 for a legacy Signature Version 2 request (S3 only); absent for SigV4. */
  signatureVersion?: 2
}

/** One authorisation question an operation asks before it runs. */
export interface AuthCheck {
  action: string
  /** Resource ARN or `*`. */
  resource: string
  resourcePolicy?: NamedPolicy
  resourceAccount?: string
  /** True for KMS keys: the key policy must allow (directly or via the account root). */
  resourcePolicyRequired?: boolean
  /** Operation-specific condition keys (kms:EncryptionContext:*, aws:RequestTag/*, aws:ResourceTag/*, s3:…). Global keys are added by the core. */
  context?: RequestContext
}

/** Lab state, persisted atomically (temporary file, fsync, rename) so it survives kill -9. */
export interface StateStore {
  /** The section's state object, created with `init` on first use. Mutate it, then call save(). */
  section<T extends object>(name: string, init: () => T): T
  /** Persist a section now (atomic). */
  save(name: string): void
  /** The lab's data folder, for services that keep files (S3 objects). */
  readonly dataDir: string
}

/** What other services may ask of IAM without going through the API. */
export interface IamDirectory {
  /** Whether a principal ARN in a policy names something that exists (account root, user, role; `*` and service principals are fine). */
  principalExists(arn: string): boolean
  accountId: string
}

/** An untyped wire member (parsed XML or query) as text, as String() gives it: a malformed nested value reads '[object Object]', as before. */
export function text(value: unknown): string {
  return String(value)
}

export interface OperationContext {
  caller: Caller
  meta: RequestMeta
  state: StateStore
  iam: IamDirectory
  /** Call another lab operation as the same caller (S3 → KMS), e.g. with `viaService` set. Goes through authorisation and CloudTrail. */
  invoke<O = unknown>(service: string, operation: string, input: unknown, metaOverrides?: Partial<RequestMeta>): Promise<O>
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a service's table holds operations of differing input/output types
export interface Operation<I = any, O = any> {
  /** The authorisation checks for this input; runs before `run`, may read state (resolve key ids, read policies). Return [] for none. */
  authorize: (input: I, ctx: OperationContext) => AuthCheck[] | Promise<AuthCheck[]>
  run: (input: I, ctx: OperationContext) => O | Promise<O>
  /** CloudTrail: the requestParameters to record (default: the input minus secrets such as Plaintext). */
  requestParameters?: (input: I) => Record<string, unknown> | null
  /** CloudTrail: the responseElements AWS records for this call, read-only or not (default: write answers minus secrets). */
  responseElements?: (output: O, input: I) => Record<string, unknown> | null
  /** CloudTrail: read-only calls are still recorded; this marks them. */
  readOnly?: boolean
}

export interface ServiceDefinition {
  /** Short name used by invoke(): `kms`, `sts`, `iam`, `cloudtrail`, `s3`. */
  name: string
  /** SigV4 signing name in the credential scope. */
  signingName: string
  /** CloudTrail eventSource, e.g. `kms.amazonaws.com`. */
  eventSource: string
  /** Wire error code and status for an authorisation denial (KMS: AccessDeniedException/400; IAM/STS/S3: AccessDenied/403). */
  accessDenied: { code: string; status: number }
  operations: Record<string, Operation>
}

/** A parsed wire call: which service and operation, with what input. */
export interface ParsedCall {
  service: string
  operation: string
  input: unknown
}

/** One per wire protocol (JSON 1.1, query, REST-XML); the router asks each in turn whether it handles a request. */
export interface ProtocolHandler {
  /** Decide from the method, path and headers alone (the body is not read yet). */
  matches(req: IncomingMessage): boolean
  /** 'buffer': the router reads the whole (small) body before SigV4 and parse; 'stream': the body stays a stream (S3). */
  bodyMode: 'buffer' | 'stream'
  parse(req: IncomingMessage, body: Buffer | Readable): ParsedCall | Promise<ParsedCall>
  writeResult(res: ServerResponse, call: ParsedCall, output: unknown): void | Promise<void>
  writeError(res: ServerResponse, call: ParsedCall | undefined, err: AwsError, requestId: string): void
}
