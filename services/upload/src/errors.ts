// The UPL_ catalogue: every error the upload service itself answers (documented in README.md).
import createError from '@fastify/error'

export const UploadErrors = {
  INVALID_NAME: createError('UPL_INVALID_NAME', 'Invalid object name: %s', 400),
  NO_FILE: createError('UPL_NO_FILE', 'The form has no "file" field: send the file in a field named "file"', 400),
  TOO_MANY_FILES: createError('UPL_TOO_MANY_FILES', 'The form has more than one file: send exactly one, in the field "file"', 400),
  UNEXPECTED_FIELD: createError('UPL_UNEXPECTED_FIELD', 'Unexpected form field %s: the form takes an optional "key" field first, then "file"', 400),
  KEY_AFTER_FILE: createError('UPL_KEY_AFTER_FILE', 'The "key" field came after "file": send "key" before "file" so the name is known when the upload starts', 400),
  NOT_MULTIPART: createError('UPL_NOT_MULTIPART', 'POST /files takes multipart/form-data; use PUT /files/<name> for a raw body', 415),
  LENGTH_REQUIRED: createError('UPL_LENGTH_REQUIRED', 'PUT /files/<name> needs a Content-Length header; use POST /files (multipart) when the size is unknown', 411),
  TOO_LARGE: createError('UPL_TOO_LARGE', 'The upload is larger than the limit of %s bytes', 413),
  OBJECT_EXISTS: createError('UPL_OBJECT_EXISTS', 'An object named %s already exists; add ?overwrite=true to replace it', 409),
  CLIENT_DISCONNECTED: createError('UPL_CLIENT_DISCONNECTED', 'The client disconnected before the upload finished; nothing was stored', 499),
  MULTIPART_NEEDS_DECRYPT: createError('UPL_MULTIPART_NEEDS_DECRYPT', 'AWS denied kms:Decrypt, which S3 needs to complete a multipart SSE-KMS upload', 403),
  SHUTTING_DOWN: createError('UPL_SHUTTING_DOWN', 'The service is shutting down; the upload was aborted and nothing was stored', 503),
  IDLE_TIMEOUT: createError('UPL_IDLE_TIMEOUT', 'No upload data arrived for %s ms (UPLOAD_IDLE_TIMEOUT_MS); the upload was aborted and nothing was stored: send the body without pausing', 408),
  TOO_SLOW: createError('UPL_TOO_SLOW', 'The upload arrived at %s bytes/s over the last %s ms, below the least accepted, %s bytes/s (UPLOAD_MIN_BYTES_PER_SECOND); it was aborted and nothing was stored: send the body at network speed', 408),
} as const
