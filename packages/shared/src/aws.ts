// The AWS client factory: the standard credential chain and standard endpoint variables,
// taken from a validated config so one process can hold clients for several identities.
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import { IAMClient, type IAMClientConfig } from '@aws-sdk/client-iam'
import { STSClient, type STSClientConfig } from '@aws-sdk/client-sts'
import { fromNodeProviderChain } from '@aws-sdk/credential-providers'
import { loadConfig as loadSdkConfig, NODE_REGION_CONFIG_FILE_OPTIONS, NODE_REGION_CONFIG_OPTIONS } from '@smithy/core/config'
import { AWS_CLIENT_LIMIT_DEFAULTS, type AwsClientLimitsConfig, type AwsConfig } from './aws-config.js'

/** The limits from a config, defaults for what it leaves out (configs built by hand, raw env strings). */
export function awsClientLimits(config: Partial<Record<keyof AwsClientLimitsConfig, number | string>>): AwsClientLimitsConfig {
  const limits = { ...AWS_CLIENT_LIMIT_DEFAULTS }
  for (const name of Object.keys(limits) as (keyof AwsClientLimitsConfig)[]) {
    const value = Number(config[name])
    if (config[name] !== undefined && config[name] !== '' && Number.isInteger(value) && value > 0) limits[name] = value
  }
  return limits
}

/**
 * The NodeHttpHandler options for an AWS client: `connectionTimeout` (connect), `socketTimeout`
 * (idle socket), `requestTimeout` with `throwOnRequestTimeout` (whole call; without the flag the
 * SDK only warns), and keep-alive agents with a bounded pool.
 */
export function awsRequestHandlerOptions(config: Partial<Record<keyof AwsClientLimitsConfig, number | string>>) {
  const limits = awsClientLimits(config)
  const agent = { keepAlive: true, maxSockets: limits.AWS_CLIENT_MAX_SOCKETS }
  return {
    connectionTimeout: limits.AWS_CLIENT_CONNECT_TIMEOUT_MS,
    socketTimeout: limits.AWS_CLIENT_SOCKET_TIMEOUT_MS,
    requestTimeout: limits.AWS_CLIENT_REQUEST_TIMEOUT_MS,
    throwOnRequestTimeout: true,
    httpAgent: agent,
    httpsAgent: agent,
  }
}

/** What the client factories take: the standard variables and, when the config has them, the client limits. */
export type AwsClientConfig = AwsConfig & Partial<Record<keyof AwsClientLimitsConfig, number | string>>

interface CommonClientConfig {
  region: string | (() => Promise<string>)
  profile?: string
  credentials: ReturnType<typeof fromNodeProviderChain>
  requestHandler: ReturnType<typeof awsRequestHandlerOptions>
}

function commonClientConfig(config: AwsClientConfig): CommonClientConfig {
  const files = {
    ...(config.AWS_PROFILE ? { profile: config.AWS_PROFILE } : {}),
    ...(config.AWS_SHARED_CREDENTIALS_FILE ? { filepath: config.AWS_SHARED_CREDENTIALS_FILE } : {}),
    ...(config.AWS_CONFIG_FILE ? { configFilepath: config.AWS_CONFIG_FILE } : {}),
  }
  const common: CommonClientConfig = {
    // The SDK's own region lookup ignores a config-file path given in code, so resolve it here from the same files.
    region: config.AWS_REGION ?? loadSdkConfig(NODE_REGION_CONFIG_OPTIONS, { ...NODE_REGION_CONFIG_FILE_OPTIONS, ...files }),
    // The default chain (env keys, SSO, shared files, web identity, container, IMDS) with the config's files and profile.
    // Instance metadata gets 3 s and two retries (the SDK's default is 1 s, once): a loaded host must not lose its role.
    credentials: fromNodeProviderChain({ ...files, timeout: 3_000, maxRetries: 2 }),
    // Connect, idle-socket and whole-call limits and a sized pool, so a stalled peer never holds sockets forever.
    requestHandler: awsRequestHandlerOptions(config),
  }
  if (config.AWS_PROFILE) common.profile = config.AWS_PROFILE
  return common
}

/** The S3 endpoint from the config (service-specific first), or undefined for real AWS. */
export function s3Endpoint(config: AwsConfig): string | undefined {
  return config.AWS_ENDPOINT_URL_S3 ?? config.AWS_ENDPOINT_URL
}

export function kmsEndpoint(config: AwsConfig): string | undefined {
  return config.AWS_ENDPOINT_URL_KMS ?? config.AWS_ENDPOINT_URL
}

/** An S3 client; path-style whenever an endpoint is set, since the lab has no virtual-host DNS. */
export function createS3Client(config: AwsClientConfig, overrides: Partial<S3ClientConfig> = {}): S3Client {
  const endpoint = s3Endpoint(config)
  return new S3Client({
    ...commonClientConfig(config),
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...overrides,
  })
}

export function createKmsClient(config: AwsClientConfig, overrides: Partial<KMSClientConfig> = {}): KMSClient {
  const endpoint = kmsEndpoint(config)
  return new KMSClient({
    ...commonClientConfig(config),
    ...(endpoint ? { endpoint } : {}),
    ...overrides,
  })
}

/** An IAM client; IAM is global, so only the generic endpoint variable applies. */
export function createIamClient(config: AwsClientConfig, overrides: Partial<IAMClientConfig> = {}): IAMClient {
  return new IAMClient({
    ...commonClientConfig(config),
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    ...overrides,
  })
}

export function createStsClient(config: AwsClientConfig, overrides: Partial<STSClientConfig> = {}): STSClient {
  return new STSClient({
    ...commonClientConfig(config),
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    ...overrides,
  })
}
