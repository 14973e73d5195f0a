// The KADM_ errors of keyadmin's network side and key-material import (merged into the README's
// "Errors" table; codes do not clash with src/errors.ts).
import createError from '@fastify/error'

export const NetworkErrors = {
  METADATA_UNAVAILABLE: createError('KADM_METADATA_UNAVAILABLE', 'Instance metadata did not answer (%s): keyadmin is not on an EC2 instance, or AWS_EC2_METADATA_SERVICE_ENDPOINT is wrong', 503),
  VPC_ENDPOINT_NOT_FOUND: createError('KADM_VPC_ENDPOINT_NOT_FOUND', 'No such VPC endpoint: %s', 404),
  EC2_REJECTED: createError('KADM_EC2_REJECTED', 'EC2 rejected the request: %s', 400),
  IMPORT_MATERIAL: createError('KADM_IMPORT_MATERIAL', '%s', 400),
} as const
