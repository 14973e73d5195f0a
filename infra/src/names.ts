// The names the stacks share. What the AWS-only edge stack publishes and the instances read at boot are fixed
// names instead of cross-stack references, so the stacks the lab deploys never depend on the edge stack.
import { serviceRole, type Duty } from '@kms-share/policy'

/**
 * Each service's instances' Name tag: its role's name without the project prefix (`uploader`, `downloader`,
 * `keyadmin`, `auditor`; download shard n > 0 `downloader-n`) — the names the lab's profiles, endpoints.json and
 * the workshop's commands use, stable across deployments while instance ids are not.
 */
export function instanceName(duty: Duty, shard = 0): string {
  const base = serviceRole(duty).roleName.replace(/^kms-share-/, '')
  return shard > 0 ? `${base}-${shard}` : base
}

/** Every service with its own role, instances and security group. */
export const DUTIES: readonly Duty[] = ['upload', 'download', 'keyadmin', 'audit']

/** The services people use through a page (each an OIDC client); the audit worker has none. */
export type WebDuty = Exclude<Duty, 'audit'>

export const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

/** SSM parameter path under which the edge stack publishes URLs, the Redis endpoint and target group ARNs. */
export const EDGE_PARAMETER_PATH = '/kms-share/edge'

export const edgeParameter = {
  publicUrl: (duty: 'upload' | 'download' | 'keyadmin') => `${EDGE_PARAMETER_PATH}/${duty}-url`,
  redisEndpoint: `${EDGE_PARAMETER_PATH}/redis-endpoint`,
  targetGroup: (name: string) => `${EDGE_PARAMETER_PATH}/target-group/${name}`,
}

/** Secrets Manager names: one JSON secret per service (SESSION_SECRET, AUTH_TOKENS), one for Redis (password). */
export const secretName = {
  service: (duty: Duty) => `kms-share/${duty}`,
  redis: 'kms-share/redis',
  /** The service's OIDC client secret (the sign-in stack), written to the file OIDC_CLIENT_SECRET_FILE names. */
  oidcClient: (duty: WebDuty) => `kms-share/${duty}/oidc-client`,
}

/** SSM parameters the sign-in stack publishes, one per service, read by that service's instances only. */
export const signInParameter = {
  /** A JSON object of the service's OIDC settings (OIDC_ISSUER, OIDC_CLIENT_ID, …), no secret among them. */
  environment: (duty: WebDuty) => `/kms-share/sign-in/${duty}/environment`,
}

/** The HTTP port each service listens on (the design's contract), and which use the audit queue. */
export const SERVICE_PORTS: Record<'upload' | 'download' | 'keyadmin', number> = { upload: 3001, download: 3002, keyadmin: 3003 }
export const USES_REDIS: Record<Duty, boolean> = { upload: true, download: false, keyadmin: true, audit: true }

/** Target group names: one per web service, one per download shard. */
export function targetGroupNames(downloadShards: number): Array<{ name: string; duty: 'upload' | 'download' | 'keyadmin'; shard?: number }> {
  return [
    { name: 'upload', duty: 'upload' },
    ...Array.from({ length: downloadShards }, (_, shard) => ({ name: `download-${shard}`, duty: 'download' as const, shard })),
    { name: 'keyadmin', duty: 'keyadmin' },
  ]
}
