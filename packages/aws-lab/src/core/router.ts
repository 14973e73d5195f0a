// One port, many protocols: pick the protocol handler, verify SigV4, authorise every check once,
// run the operation, record it in CloudTrail, write the answer in the protocol's format.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { evaluate, type PolicyDocument, type RequestContext } from '@kms-share/policy'
import { AwsError, type AuthCheck, type Caller, type OperationContext, type ParsedCall, type ProtocolHandler, type RequestMeta, type ServiceDefinition, type StateStore } from './types.js'
import { familyOf, internalError, unknownAccessKey, unknownOperation, type Family } from './errors.js'
import { sha256Hex, verifySigV4 } from './sigv4.js'
import { globalContext } from './condition-context.js'
import { currentRequestScope } from './guard.js'
import type { CredentialResolver } from './identity.js'
import type { IamModel } from '../iam/model.js'
import { buildEvent, toRequestParameters } from '../cloudtrail/record.js'
import type { TrailStore } from '../cloudtrail/trail.js'

/** Buffered protocols (JSON, query) carry small documents; anything bigger is refused. */
const MAX_BUFFERED_BODY = 16 * 1024 * 1024
/** Services whose calls CloudTrail records as management events (S3 object calls are data events, off by default in AWS). */
const TRAILED_SERVICES = new Set(['kms', 'sts', 'iam', 'ec2', 'cloudformation', 'ssm', 'autoscaling'])
const VPCE_PATH = /^\/vpce\/(vpce-[0-9a-z]+)(\/.*)?$/

export interface VpcEndpointInfo {
  vpcEndpointId: string
  vpcId: string
  /** The lab service the endpoint serves (`kms`, `s3`); undefined = any (endpoints named in the seed). */
  service?: string
  /** The endpoint policy, checked on every call through the endpoint in addition to identity and resource policies. */
  policy?: PolicyDocument
}

export interface RouterOptions {
  accountId: string
  region: string
  state: StateStore
  iam: IamModel
  credentials: CredentialResolver
  trail: TrailStore
  /** Resolves a VPC endpoint id used in the /vpce/<id>/ path prefix; undefined = no such endpoint. */
  vpcEndpoint(id: string): VpcEndpointInfo | undefined
  /** The lab also serves HTTPS: then SSE-KMS over plain HTTP is refused, as AWS refuses it. */
  servesTls?: boolean
  /** The interface endpoint an instance's call to a service's regional name reaches through private DNS, if any. */
  privateDnsEndpoint?(caller: Caller, service: string): VpcEndpointInfo | undefined
  /** The caller's private address in the endpoint's VPC, for aws:VpcSourceIp. */
  vpcSourceIp?(caller: Caller, vpce: VpcEndpointInfo): string | undefined
  log?(line: Record<string, unknown>): void
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        reject(new AwsError('RequestEntityTooLarge', 'Request body too large', 413))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** AWS's denial sentence, as KMS, S3, IAM and STS write it. */
export function denialMessage(caller: Caller, action: string, resource: string, decision: 'ExplicitlyDenied' | 'ImplicitlyDenied', deniedBy?: string, quoteResource = false): string {
  // AWS names no resource for actions that have none (kms:CreateKey, cloudtrail:LookupEvents); S3 puts the ARN in double quotes.
  const named = quoteResource ? `"${resource}"` : resource
  const head = `User: ${caller.principal.arn} is not authorized to perform: ${action}${resource === '*' ? '' : ` on resource: ${named}`}`
  const denier = deniedBy ?? 'identity-based policy'
  // AWS: "in an identity-based policy", "in a resource-based policy", "in a VPC endpoint policy".
  if (decision === 'ExplicitlyDenied') return `${head} with an explicit deny in ${/^[aeiou]/i.test(denier) ? 'an' : 'a'} ${denier}`
  const kind = deniedBy === 'resource-based policy' || deniedBy === 'VPC endpoint policy' ? deniedBy : 'identity-based policy'
  return `${head} because no ${kind} allows the ${action} action`
}

export class Router {
  private readonly protocols: ProtocolHandler[] = []
  readonly services = new Map<string, ServiceDefinition>()

  constructor(readonly options: RouterOptions) {}

  /** Handlers are asked in order; `first` puts one ahead (an EC2 handler must precede the generic query one). */
  addProtocol(handler: ProtocolHandler, options: { first?: boolean } = {}): void {
    if (options.first) this.protocols.unshift(handler)
    else this.protocols.push(handler)
  }

  addService(service: ServiceDefinition): void {
    this.services.set(service.name, service)
  }

  /** Evaluate one check; throws the service's access-denied error with AWS's sentence. */
  authorizeCheck(service: ServiceDefinition, check: AuthCheck, caller: Caller, meta: RequestMeta): void {
    const context = { ...globalContext(caller, meta, service.name), ...(check.context ?? {}) }
    const result = evaluate({
      request: { principal: caller.principal, action: check.action, resource: check.resource, context },
      identityPolicies: caller.identityPolicies,
      resourcePolicy: check.resourcePolicy,
      resourceAccount: check.resourceAccount ?? this.options.accountId,
      resourcePolicyRequired: check.resourcePolicyRequired,
    })
    if (result.decision === 'Allowed') {
      this.authorizeEndpointPolicy(service, check, caller, meta, context)
      return
    }
    throw new AwsError(
      service.accessDenied.code,
      denialMessage(caller, check.action, check.resource, result.decision, result.deniedBy, service.name === 's3'),
      service.accessDenied.status,
    )
  }

  /** A call through a VPC endpoint must also be allowed by the endpoint's policy (which grants nothing by itself). */
  private authorizeEndpointPolicy(service: ServiceDefinition, check: AuthCheck, caller: Caller, meta: RequestMeta, context: RequestContext): void {
    if (!meta.sourceVpce) return
    const policy = this.options.vpcEndpoint(meta.sourceVpce)?.policy
    if (!policy) return
    const result = evaluate({
      request: { principal: caller.principal, action: check.action, resource: check.resource, context },
      identityPolicies: [],
      resourcePolicy: { name: `vpc-endpoint-policy/${meta.sourceVpce}`, document: policy },
      resourceAccount: check.resourceAccount ?? this.options.accountId,
      resourcePolicyRequired: true,
    })
    if (result.decision === 'Allowed') return
    throw new AwsError(service.accessDenied.code, denialMessage(caller, check.action, check.resource, result.decision, 'VPC endpoint policy'), service.accessDenied.status)
  }

  /** Run one operation as `caller`: authorise, run, record. Used by the wire path, ctx.invoke and lab.invoke. */
  async execute(call: ParsedCall, caller: Caller, meta: RequestMeta): Promise<unknown> {
    const family = familyOf(call.service)
    const service = this.services.get(call.service)
    // An operation is the service's own entry: `constructor` or `toString` is an unknown operation.
    const operation = service && Object.hasOwn(service.operations, call.operation) ? service.operations[call.operation] : undefined
    if (!service || !operation) throw unknownOperation(family, call.operation)
    const ctx: OperationContext = {
      caller,
      meta,
      state: this.options.state,
      iam: this.options.iam,
      invoke: <O>(svc: string, op: string, input: unknown, overrides: Partial<RequestMeta> = {}) => {
        // A forward access session (viaService) never carries the caller's VPC endpoint.
        const network = overrides.viaService ? { sourceVpce: undefined, sourceVpc: undefined, vpcSourceIp: undefined } : {}
        const nested: RequestMeta = { ...meta, requestId: randomUUID(), time: new Date(), sigv4: undefined, ...network, ...overrides }
        return this.execute({ service: svc, operation: op, input }, caller, nested) as Promise<O>
      },
    }
    let checks: AuthCheck[] = []
    let output: unknown
    let failure: AwsError | undefined
    try {
      checks = await operation.authorize(call.input, ctx)
      for (const check of checks) this.authorizeCheck(service, check, caller, meta)
      output = await operation.run(call.input, ctx)
      return output
    } catch (err) {
      failure = err instanceof AwsError ? err : undefined
      if (!failure) this.options.log?.({ level: 'error', msg: 'operation failed', service: call.service, operation: call.operation, err: String((err as Error)?.stack ?? err) })
      throw err
    } finally {
      if (TRAILED_SERVICES.has(service.name)) this.record(service, call, operation.readOnly ?? false, caller, meta, checks, output, failure)
    }
  }

  private record(service: ServiceDefinition, call: ParsedCall, readOnly: boolean, caller: Caller, meta: RequestMeta, checks: AuthCheck[], output: unknown, failure?: AwsError) {
    const operation = service.operations[call.operation]
    let requestParameters: Record<string, unknown> | null
    try {
      requestParameters = operation.requestParameters ? operation.requestParameters(call.input) : (toRequestParameters(call.input) as Record<string, unknown>)
    } catch {
      requestParameters = null
    }
    if (requestParameters && Object.keys(requestParameters).length === 0) requestParameters = null
    // Read-only answers are not recorded by AWS; write answers are, minus secrets.
    const responseElements =
      failure || !output || typeof output !== 'object'
        ? null
        : operation.responseElements
          ? operation.responseElements(output, call.input)
          : !readOnly
              ? (toRequestParameters(output) as Record<string, unknown>)
              : null
    this.options.trail.append(
      buildEvent({
        caller,
        meta,
        eventSource: service.eventSource,
        eventName: call.operation,
        accountId: this.options.accountId,
        readOnly,
        requestParameters,
        responseElements: responseElements && Object.keys(responseElements).length ? responseElements : null,
        checks,
        error: failure ? { code: failure.code, message: failure.message } : undefined,
      }),
    )
  }

  /** The HTTP entry point. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID()
    const time = new Date()
    res.setHeader('x-amzn-requestid', requestId)
    const originalUrl = req.url ?? '/'
    const q = originalUrl.indexOf('?')
    const rawPath = q < 0 ? originalUrl : originalUrl.slice(0, q)
    const rawQuery = q < 0 ? '' : originalUrl.slice(q + 1)

    let handler: ProtocolHandler | undefined
    let call: ParsedCall | undefined
    let family: Family = 'query'
    let bodyConsumed = false
    try {
      let vpce: VpcEndpointInfo | undefined
      const vpceMatch = VPCE_PATH.exec(rawPath)
      if (vpceMatch) {
        vpce = this.options.vpcEndpoint(vpceMatch[1])
        // The endpoint prefix is routing only: protocols see the path behind it; SigV4 checks what the client signed.
        req.url = (vpceMatch[2] ?? '/') + (q < 0 ? '' : originalUrl.slice(q))
      }
      handler = this.protocols.find((p) => p.matches(req))
      if (!handler) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('No AWS protocol matches this request\n')
        return
      }
      // An error that escapes this request (guard.ts) is answered in its protocol's format.
      const scope = currentRequestScope()
      if (scope) scope.answer = () => handler?.writeError(res, call, internalError(family), requestId)
      if (vpceMatch && !vpce) throw new AwsError('InvalidVpcEndpointId.NotFound', `The Vpc Endpoint Id '${vpceMatch[1]}' does not exist`, 400)
      let body: Buffer | IncomingMessage = req
      let bodySha256: string | undefined
      if (handler.bodyMode === 'buffer') {
        body = await readBody(req, MAX_BUFFERED_BODY)
        bodyConsumed = true
        bodySha256 = sha256Hex(body)
      }
      call = await handler.parse(req, body)
      family = familyOf(call.service)
      const sig = verifySigV4(req, { family, rawPath, rawQuery, bodySha256, now: time, lookup: (id) => this.options.credentials.lookup(id) })
      const caller = this.options.credentials.caller(sig.accessKeyId)
      // An instance calling a service's regional name reaches its VPC's endpoint when private DNS answers for it.
      if (!vpce) vpce = this.options.privateDnsEndpoint?.(caller, call.service)
      // An endpoint is a door to its own service only: its DNS name and certificate are that service's.
      if (vpce?.service && vpce.service !== call.service) {
        throw new AwsError('InvalidRequest', `The VPC endpoint ${vpce.vpcEndpointId} serves com.amazonaws.${this.options.region}.${vpce.service}, not ${call.service}.`, 400)
      }
      // AWS: GetSessionToken credentials without MFA cannot call IAM at all (the token reads as invalid).
      if (call.service === 'iam' && caller.principal.type === 'user' && caller.sessionIssuedAt !== undefined && !caller.mfaAuthenticated) {
        throw unknownAccessKey(family)
      }
      const meta: RequestMeta = {
        requestId,
        time,
        sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
        userAgent: String(req.headers['user-agent'] ?? ''),
        secureTransport: Boolean((req.socket as TLSSocket).encrypted),
        plainHttpRefusesSseKms: this.options.servesTls === true && !(req.socket as TLSSocket).encrypted,
        region: sig.region || this.options.region,
        sourceVpce: vpce?.vpcEndpointId,
        sourceVpc: vpce?.vpcId,
        vpcSourceIp: vpce ? this.options.vpcSourceIp?.(caller, vpce) : undefined,
        sigv4: sig,
      }
      const output = await this.execute(call, caller, meta)
      await handler.writeResult(res, call, output)
    } catch (err) {
      const awsError = err instanceof AwsError ? err : internalError(family)
      if (!(err instanceof AwsError)) this.options.log?.({ level: 'error', msg: 'request failed', requestId, err: String((err as Error)?.stack ?? err) })
      if (!bodyConsumed && !req.readableEnded) req.resume()
      if (res.headersSent) {
        res.destroy()
        return
      }
      if (handler) handler.writeError(res, call, awsError, requestId)
      else res.writeHead(awsError.status).end(awsError.message)
    }
  }
}
