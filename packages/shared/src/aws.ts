// The AWS client factory: the standard credential chain and standard endpoint variables,
// taken from a validated config so one process can hold clients for several identities.
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import { IAMClient, type IAMClientConfig } from '@aws-sdk/client-iam'
import { STSClient, type STSClientConfig } from '@aws-sdk/client-sts'
import { fromNodeProviderChain } from '@aws-sdk/credential-providers'
import { loadConfig as loadSdkConfig, NODE_REGION_CONFIG_FILE_OPTIONS, NODE_REGION_CONFIG_OPTIONS } from '@smithy/core/config'
import type { AwsConfig } from './config.js'

interface CommonClientConfig {
  region: string | (() => Promise<string>)
  profile?: string
  credentials: ReturnType<typeof fromNodeProviderChain>
}

function commonClientConfig(config: AwsConfig): CommonClientConfig {
  const files = {
    ...(config.AWS_PROFILE ? { profile: config.AWS_PROFILE } : {}),
    ...(config.AWS_SHARED_CREDENTIALS_FILE ? { filepath: config.AWS_SHARED_CREDENTIALS_FILE } : {}),
    ...(config.AWS_CONFIG_FILE ? { configFilepath: config.AWS_CONFIG_FILE } : {}),
  }
  const common: CommonClientConfig = {
    // The SDK's own region lookup ignores a config-file path given in code, so resolve it here from the same files.
    region: config.AWS_REGION ?? loadSdkConfig(NODE_REGION_CONFIG_OPTIONS, { ...NODE_REGION_CONFIG_FILE_OPTIONS, ...files }),
    // The default chain (env keys, SSO, shared files, web identity, container, IMDS) with the config's files and profile.
    credentials: fromNodeProviderChain(files),
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
export function createS3Client(config: AwsConfig, overrides: Partial<S3ClientConfig> = {}): S3Client {
  const endpoint = s3Endpoint(config)
  return new S3Client({
    ...commonClientConfig(config),
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...overrides,
  })
}

export function createKmsClient(config: AwsConfig, overrides: Partial<KMSClientConfig> = {}): KMSClient {
  const endpoint = kmsEndpoint(config)
  return new KMSClient({
    ...commonClientConfig(config),
    ...(endpoint ? { endpoint } : {}),
    ...overrides,
  })
}

/** An IAM client; IAM is global, so only the generic endpoint variable applies. */
export function createIamClient(config: AwsConfig, overrides: Partial<IAMClientConfig> = {}): IAMClient {
  return new IAMClient({
    ...commonClientConfig(config),
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    ...overrides,
  })
}

export function createStsClient(config: AwsConfig, overrides: Partial<STSClientConfig> = {}): STSClient {
  return new STSClient({
    ...commonClientConfig(config),
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    ...overrides,
  })
}

/** An error thrown by an AWS SDK v3 client (a service answer, not a network failure). */
export interface AwsServiceError extends Error {
  name: string
  message: string
  Code?: string
  $fault?: 'client' | 'server'
  $metadata: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string }
}

export function isAwsServiceError(err: unknown): err is AwsServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<AwsServiceError>).$metadata === 'object' &&
    (err as Partial<AwsServiceError>).$metadata !== null
  )
}

/** The AWS error code: the SDK puts it in `name` (and S3 sometimes in `Code`). */
export function awsErrorCode(err: AwsServiceError): string {
  return err.Code ?? err.name
}
