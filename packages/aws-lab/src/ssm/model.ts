// Parameter Store: the account's parameters (in the lab's state) and the public parameters AWS
// publishes under /aws/service/ (Amazon Linux AMI ids), which CloudFormation's SSM parameter types
// and CDK's BootstrapVersion read.
// https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-ami.html
import { hash } from 'node:crypto'
import { AwsError, type StateStore } from '../core/types.js'

export interface ParameterRecord {
  Name: string
  Type: 'String' | 'StringList' | 'SecureString'
  /** SecureString: the KMS ciphertext (base64), never the plaintext. */
  Value: string
  Version: number
  /** Epoch ms. */
  LastModifiedDate: number
  Description?: string
  DataType: string
  KeyId?: string
  LastModifiedUser?: string
}

interface SsmState {
  parameters: Record<string, ParameterRecord>
  seededAt?: string
}

/** The Amazon Linux AMI parameters AWS publishes in every region (values: the lab's own AMI ids). */
export const PUBLIC_AMI_PARAMETERS = [
  'al2023-ami-kernel-default-x86_64', 'al2023-ami-kernel-default-arm64', 'al2023-ami-kernel-6.1-x86_64', 'al2023-ami-kernel-6.1-arm64',
  'al2023-ami-minimal-kernel-default-x86_64', 'al2023-ami-minimal-kernel-default-arm64', 'al2023-ami-minimal-kernel-6.1-x86_64', 'al2023-ami-minimal-kernel-6.1-arm64',
  'amzn2-ami-hvm-x86_64-gp2', 'amzn2-ami-hvm-arm64-gp2', 'amzn2-ami-kernel-5.10-hvm-x86_64-gp2', 'amzn2-ami-kernel-5.10-hvm-arm64-gp2',
].map((name) => `/aws/service/ami-amazon-linux-latest/${name}`)

/** A stable, well-formed AMI id per public parameter name. */
export function labAmiId(name: string): string {
  return `ami-0${hash('sha256', name, 'hex').slice(0, 16)}`
}

const NAME = /^[a-zA-Z0-9_.\-/]+$/

export const parameterNotFound = () => new AwsError('ParameterNotFound', '', 400)

export class SsmModel {
  private readonly publicParameters: Record<string, ParameterRecord>

  constructor(private readonly store: StateStore, readonly accountId: string, readonly region: string) {
    const published = Date.UTC(2026, 0, 1)
    this.publicParameters = Object.fromEntries(PUBLIC_AMI_PARAMETERS.map((name) => [name, { Name: name, Type: 'String', Value: labAmiId(name), Version: 1, LastModifiedDate: published, DataType: 'aws:ec2:image' } satisfies ParameterRecord]))
  }

  private get state(): SsmState {
    const s = this.store.section<SsmState>('ssm', () => ({ parameters: {} }))
    s.parameters ??= {}
    return s
  }

  get seeded(): boolean {
    return Boolean(this.state.seededAt)
  }

  /** The seed's parameters (CDK's bootstrap version …), once per data folder. */
  seed(parameters: Record<string, string>): void {
    for (const [name, value] of Object.entries(parameters)) {
      if (!Object.hasOwn(this.state.parameters, name)) this.state.parameters[name] = { Name: name, Type: 'String', Value: String(value), Version: 1, LastModifiedDate: Date.now(), DataType: 'text' }
    }
    this.state.seededAt = new Date().toISOString()
    this.store.save('ssm')
  }

  arn(name: string): string {
    return `arn:aws:ssm:${this.region}:${this.accountId}:parameter/${name.replace(/^\//, '')}`
  }

  find(name: string): ParameterRecord | undefined {
    if (Object.hasOwn(this.publicParameters, name)) return this.publicParameters[name]
    return Object.hasOwn(this.state.parameters, name) ? this.state.parameters[name] : undefined
  }

  /** Names and paths as SSM accepts them; /aws and /ssm are AWS's. */
  checkWritable(name: string): void {
    if (!NAME.test(name) || name.length > 2048) throw new AwsError('ValidationException', `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`, 400)
    if (/^\/?(aws|ssm)/i.test(name)) throw new AwsError('ValidationException', `No access to reserved parameter name: ${name}.`, 400)
  }

  put(p: Omit<ParameterRecord, 'Version' | 'LastModifiedDate'>, overwrite: boolean): ParameterRecord {
    this.checkWritable(p.Name)
    const existing = this.state.parameters[p.Name]
    if (existing && !overwrite) throw new AwsError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.', 400)
    const record: ParameterRecord = { ...p, Version: (existing?.Version ?? 0) + 1, LastModifiedDate: Date.now() }
    this.state.parameters[p.Name] = record
    this.store.save('ssm')
    return record
  }

  delete(name: string): void {
    if (!Object.hasOwn(this.state.parameters, name)) throw parameterNotFound()
    delete this.state.parameters[name]
    this.store.save('ssm')
  }

  byPath(path: string, recursive: boolean): ParameterRecord[] {
    const prefix = path.endsWith('/') ? path : `${path}/`
    return [...Object.values(this.publicParameters), ...Object.values(this.state.parameters)]
      .filter((p) => p.Name.startsWith(prefix) && (recursive || !p.Name.slice(prefix.length).includes('/')))
      .sort((a, b) => a.Name.localeCompare(b.Name))
  }
}
