// Systems Manager Parameter Store (JSON 1.1, `AmazonSSM.*`): what CloudFormation's parameter types
// read and what a person sets — GetParameter(s), GetParametersByPath, PutParameter, DeleteParameter.
// SecureString values are encrypted with the lab's KMS as the caller, as SSM does.
// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_Operations.html
import { AwsError, type Operation, type OperationContext, type ServiceDefinition } from '../core/types.js'
import { parameterNotFound, type ParameterRecord, type SsmModel } from './model.js'

type Input = {
  Name?: string
  Names?: string[]
  Path?: string
  Recursive?: boolean
  WithDecryption?: boolean
  Value?: string
  Type?: string
  Overwrite?: boolean
  Description?: string
  DataType?: string
  KeyId?: string
}

const TYPES = ['String', 'StringList', 'SecureString']

export function createSsmService(ssm: SsmModel): ServiceDefinition {
  const via = { viaService: `ssm.${ssm.region}.amazonaws.com`, invokedBy: 'ssm.amazonaws.com' }
  const name = (i: Input): string => {
    if (typeof i.Name !== 'string' || i.Name === '') throw new AwsError('ValidationException', "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null", 400)
    return i.Name
  }

  /** A parameter as the API returns it; SecureString values decrypted (through KMS, as the caller) only when asked. */
  const out = async (p: ParameterRecord, decrypt: boolean, ctx: OperationContext) => {
    let value = p.Value
    if (p.Type === 'SecureString' && decrypt) {
      const plain = await ctx.invoke<{ Plaintext: Buffer }>('kms', 'Decrypt', { CiphertextBlob: p.Value, EncryptionContext: { PARAMETER_ARN: ssm.arn(p.Name) } }, via)
      value = Buffer.from(plain.Plaintext).toString('utf8')
    }
    return { Name: p.Name, Type: p.Type, Value: value, Version: p.Version, LastModifiedDate: new Date(p.LastModifiedDate), ARN: ssm.arn(p.Name), DataType: p.DataType }
  }

  const operations: Record<string, Operation<Input, unknown>> = {
    GetParameter: {
      readOnly: true,
      authorize: (i) => [{ action: 'ssm:GetParameter', resource: ssm.arn(name(i)) }],
      run: async (i, ctx) => {
        const p = ssm.find(name(i))
        if (!p) throw parameterNotFound()
        return { Parameter: await out(p, i.WithDecryption === true, ctx) }
      },
    },
    GetParameters: {
      readOnly: true,
      authorize: (i) => (i.Names ?? []).map((n) => ({ action: 'ssm:GetParameters', resource: ssm.arn(n) })),
      run: async (i, ctx) => {
        const names = i.Names ?? []
        if (!Array.isArray(names) || names.length < 1 || names.length > 10) throw new AwsError('ValidationException', "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10", 400)
        const found = names.map((n) => ssm.find(n)).filter((p): p is ParameterRecord => p !== undefined)
        return { Parameters: await Promise.all(found.map((p) => out(p, i.WithDecryption === true, ctx))), InvalidParameters: names.filter((n) => !ssm.find(n)) }
      },
    },
    GetParametersByPath: {
      readOnly: true,
      authorize: (i) => [{ action: 'ssm:GetParametersByPath', resource: ssm.arn(String(i.Path ?? '/')) }],
      run: async (i, ctx) => ({ Parameters: await Promise.all(ssm.byPath(String(i.Path ?? '/'), i.Recursive === true).map((p) => out(p, i.WithDecryption === true, ctx))) }),
    },
    PutParameter: {
      authorize: (i) => [{ action: 'ssm:PutParameter', resource: ssm.arn(name(i)) }],
      // The value is never recorded (a SecureString's plaintext must not reach CloudTrail).
      requestParameters: (i) => ({ name: i.Name, type: i.Type, overwrite: i.Overwrite, ...(i.KeyId ? { keyId: i.KeyId } : {}) }),
      run: async (i, ctx) => {
        const parameterName = name(i)
        const existing = ssm.find(parameterName)
        const type = i.Type ?? existing?.Type ?? 'String'
        if (!TYPES.includes(type)) throw new AwsError('ValidationException', `1 validation error detected: Value '${type}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]`, 400)
        if (typeof i.Value !== 'string' || i.Value === '') throw new AwsError('ValidationException', "1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null", 400)
        if (i.Value.length > 4096) throw new AwsError('ValidationException', 'Parameter value exceeds the maximum length of 4096 characters for a standard parameter.', 400)
        ssm.checkWritable(parameterName)
        if (existing && i.Overwrite !== true) throw new AwsError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.', 400)
        let value = i.Value
        let keyId: string | undefined
        if (type === 'SecureString') {
          keyId = i.KeyId ?? 'alias/aws/ssm'
          const sealed = await ctx.invoke<{ CiphertextBlob: Buffer; KeyId: string }>('kms', 'Encrypt', { KeyId: keyId, Plaintext: Buffer.from(value).toString('base64'), EncryptionContext: { PARAMETER_ARN: ssm.arn(parameterName) } }, via)
          value = Buffer.from(sealed.CiphertextBlob).toString('base64')
          keyId = sealed.KeyId
        }
        if (type === 'StringList' && value.split(',').some((v) => v === '')) throw new AwsError('ValidationException', 'Parameter value for a StringList cannot contain empty items.', 400)
        const record = ssm.put({ Name: parameterName, Type: type as ParameterRecord['Type'], Value: value, Description: i.Description, DataType: i.DataType ?? 'text', KeyId: keyId, LastModifiedUser: ctx.caller.principal.arn }, i.Overwrite === true)
        return { Version: record.Version, Tier: 'Standard' }
      },
    },
    DeleteParameter: {
      authorize: (i) => [{ action: 'ssm:DeleteParameter', resource: ssm.arn(name(i)) }],
      run: (i) => {
        ssm.delete(name(i))
        return {}
      },
    },
  }
  return { name: 'ssm', signingName: 'ssm', eventSource: 'ssm.amazonaws.com', accessDenied: { code: 'AccessDeniedException', status: 400 }, operations }
}
