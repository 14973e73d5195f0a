// The AWS part of a service's config schema: the standard variables and the client limits,
// apart from config.ts and aws.ts so that both import it and neither imports the other.
import { Type, type Static, type TObject, type TProperties } from 'typebox'

/**
 * The AWS standard variables. The SDK honours them itself; they are in the schema so that
 * a config can be validated and passed explicitly (several apps with different identities
 * can then share one process, as the tests do) and so compose files can be checked.
 */
export const awsConfigProperties = {
  AWS_REGION: Type.Optional(Type.String({ minLength: 1, description: 'AWS region; when unset the SDK reads it from the profile.' })),
  AWS_PROFILE: Type.Optional(Type.String({ minLength: 1, description: 'Profile in the shared credentials/config files.' })),
  AWS_SHARED_CREDENTIALS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  AWS_CONFIG_FILE: Type.Optional(Type.String({ minLength: 1 })),
  AWS_ENDPOINT_URL: Type.Optional(Type.String({ minLength: 1, description: 'Endpoint for every AWS service (the lab); unset for real AWS.' })),
  AWS_ENDPOINT_URL_S3: Type.Optional(Type.String({ minLength: 1 })),
  AWS_ENDPOINT_URL_KMS: Type.Optional(Type.String({ minLength: 1 })),
  AWS_EC2_METADATA_SERVICE_ENDPOINT: Type.Optional(Type.String({ minLength: 1 })),
  // Read by Node itself at start, never by the code: listed so a deployment's environment validates.
  NODE_EXTRA_CA_CERTS: Type.Optional(Type.String({ minLength: 1, description: 'Extra CA certificates Node trusts (PEM file), e.g. the lab\'s CA when it serves HTTPS.' })),
} satisfies TProperties

export type AwsConfig = { [K in keyof typeof awsConfigProperties]?: string }

export const awsClientLimitProperties = {
  AWS_CLIENT_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 3_000, description: 'Time to open a TCP (and TLS) connection to AWS.' }),
  AWS_CLIENT_SOCKET_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 60_000, description: 'An AWS call whose socket moves no bytes for this long fails.' }),
  AWS_CLIENT_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 900_000, description: 'Longest AWS call, request and response together (a service may give one call longer).' }),
  AWS_CLIENT_MAX_SOCKETS: Type.Integer({ minimum: 1, maximum: 10_000, default: 50, description: 'Sockets per AWS client (per service and endpoint); callers beyond wait for a free one.' }),
}

export type AwsClientLimitsConfig = Static<TObject<typeof awsClientLimitProperties>>

export const AWS_CLIENT_LIMIT_DEFAULTS: AwsClientLimitsConfig = {
  AWS_CLIENT_CONNECT_TIMEOUT_MS: 3_000,
  AWS_CLIENT_SOCKET_TIMEOUT_MS: 60_000,
  AWS_CLIENT_REQUEST_TIMEOUT_MS: 900_000,
  AWS_CLIENT_MAX_SOCKETS: 50,
}
