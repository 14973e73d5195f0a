// VPC flow logs, kept as configuration only: CreateFlowLogs, DescribeFlowLogs and DeleteFlowLogs answer as
// EC2 does, but the lab carries no packets, so no record is ever delivered to the destination.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFlowLogs.html
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_FlowLog.html
import { AwsError, text, type AuthCheck, type Operation } from '../core/types.js'
import { ec2Id, type Ec2Model, type Ec2State } from './model.js'
import { specTags } from './network.js'

type Input = Record<string, unknown>

export interface FlowLogRecord {
  FlowLogId: string
  ResourceId: string
  TrafficType: 'ACCEPT' | 'REJECT' | 'ALL'
  LogDestinationType: 'cloud-watch-logs' | 's3' | 'kinesis-data-firehose'
  LogDestination?: string
  LogGroupName?: string
  DeliverLogsPermissionArn?: string
  MaxAggregationInterval: number
  CreationTime: string
  Tags: Record<string, string>
}

const DEFAULT_FORMAT = '${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}'
const TRAFFIC = ['ACCEPT', 'REJECT', 'ALL'] as const
const DESTINATIONS = ['cloud-watch-logs', 's3', 'kinesis-data-firehose'] as const

/** The flow log table (absent in data folders made before it). */
export function flowLogs(ec2: Ec2Model): Record<string, FlowLogRecord> {
  const s = ec2.state as Ec2State & { flowLogs?: Record<string, FlowLogRecord> }
  s.flowLogs ??= {}
  return s.flowLogs
}

const list = (value: unknown): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map((v) => text(v)) : [text(value)])
const invalid = (message: string) => new AwsError('InvalidParameterValue', message, 400)

function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string, fallback?: T): T {
  if (value === undefined && fallback) return fallback
  const v = text(value ?? '')
  if (!(allowed as readonly string[]).includes(v)) throw invalid(`Value (${v}) for parameter ${name} is invalid. Valid values: ${allowed.join(', ')}`)
  return v as T
}

/** The monitored resource exists, or the item EC2 lists under `unsuccessful`. */
function resourceError(ec2: Ec2Model, type: string, id: string): { code: string; message: string } | undefined {
  if (type === 'VPC' && !ec2.state.vpcs[id]) return { code: 'InvalidVpcID.NotFound', message: `The vpc ID '${id}' does not exist` }
  if (type === 'Subnet' && !ec2.state.subnets[id]) return { code: 'InvalidSubnetID.NotFound', message: `The subnet ID '${id}' does not exist` }
  if (type !== 'VPC' && type !== 'Subnet') return { code: 'InvalidParameterValue', message: `Resource type ${type} is not supported by aws-lab (VPC and Subnet are)` }
  return undefined
}

export function flowLogOperations(ec2: Ec2Model): Record<string, Operation> {
  const { accountId, region } = ec2
  const arn = (type: string, id: string) => `arn:aws:ec2:${region}:${accountId}:${type}/${id}`
  const check = (action: string, resource = '*'): AuthCheck[] => [{ action: `ec2:${action}`, resource }]
  const out = (f: FlowLogRecord) => ({
    creationTime: new Date(f.CreationTime),
    deliverLogsStatus: 'SUCCESS',
    flowLogId: f.FlowLogId,
    flowLogStatus: 'ACTIVE',
    resourceId: f.ResourceId,
    trafficType: f.TrafficType,
    logDestinationType: f.LogDestinationType,
    logDestination: f.LogDestination,
    logGroupName: f.LogGroupName,
    deliverLogsPermissionArn: f.DeliverLogsPermissionArn,
    logFormat: DEFAULT_FORMAT,
    maxAggregationInterval: f.MaxAggregationInterval,
    tagSet: Object.entries(f.Tags).map(([key, value]) => ({ key, value })),
  })
  return {
    CreateFlowLogs: {
      authorize: (i: Input) => [...check('CreateFlowLogs', arn('vpc-flow-log', '*')), ...list(i.ResourceId).flatMap((id) => check('CreateFlowLogs', arn(text(i.ResourceType ?? '').toLowerCase(), id)))],
      run: (i: Input) => {
        const ids = list(i.ResourceId)
        if (!ids.length) throw new AwsError('MissingParameter', 'The request must contain the parameter ResourceId', 400)
        const type = oneOf(i.ResourceType, ['VPC', 'Subnet', 'NetworkInterface', 'TransitGateway', 'TransitGatewayAttachment'] as const, 'ResourceType')
        const traffic = i.TrafficType === undefined ? 'ALL' : oneOf(i.TrafficType, TRAFFIC, 'TrafficType')
        const destinationType = oneOf(i.LogDestinationType, DESTINATIONS, 'LogDestinationType', 'cloud-watch-logs')
        const destination = i.LogDestination === undefined ? undefined : text(i.LogDestination)
        if (destinationType === 's3' && !/^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(destination ?? '')) throw invalid(`LogDestination: ${destination ?? ''} is not a valid S3 bucket ARN`)
        if (destinationType === 'cloud-watch-logs' && !destination && i.LogGroupName === undefined) throw invalid('Either LogDestination or LogGroupName must be specified for cloud-watch-logs')
        const interval = Number(i.MaxAggregationInterval ?? 600)
        if (interval !== 60 && interval !== 600) throw invalid(`Value (${interval}) for parameter MaxAggregationInterval is invalid. Valid values: 60, 600`)
        const created: string[] = []
        const unsuccessful: Array<{ error: { code: string; message: string }; resourceId: string }> = []
        for (const id of ids) {
          const error = resourceError(ec2, type, id)
          if (error) {
            unsuccessful.push({ error, resourceId: id })
            continue
          }
          const f: FlowLogRecord = { FlowLogId: ec2Id('fl'), ResourceId: id, TrafficType: traffic, LogDestinationType: destinationType, LogDestination: destination, LogGroupName: i.LogGroupName === undefined ? undefined : text(i.LogGroupName), DeliverLogsPermissionArn: i.DeliverLogsPermissionArn === undefined ? undefined : text(i.DeliverLogsPermissionArn), MaxAggregationInterval: interval, CreationTime: new Date().toISOString(), Tags: specTags(i, 'vpc-flow-log') }
          flowLogs(ec2)[f.FlowLogId] = f
          created.push(f.FlowLogId)
        }
        ec2.save()
        return { clientToken: i.ClientToken === undefined ? undefined : text(i.ClientToken), flowLogIdSet: created, unsuccessful }
      },
    },
    DeleteFlowLogs: {
      authorize: (i: Input) => list(i.FlowLogId).flatMap((id) => check('DeleteFlowLogs', arn('vpc-flow-log', id))),
      run: (i: Input) => {
        const ids = list(i.FlowLogId)
        if (!ids.length) throw new AwsError('MissingParameter', 'The request must contain the parameter FlowLogId', 400)
        const unsuccessful = ids.filter((id) => !flowLogs(ec2)[id]).map((id) => ({ error: { code: 'InvalidFlowLogId.NotFound', message: `Flow log ${id} does not exist` }, resourceId: id }))
        for (const id of ids) delete flowLogs(ec2)[id]
        ec2.save()
        return { unsuccessful }
      },
    },
    DescribeFlowLogs: {
      readOnly: true,
      authorize: () => check('DescribeFlowLogs'),
      run: (i: Input) => {
        const ids = list(i.FlowLogId)
        const all = Object.values(flowLogs(ec2))
        return { flowLogSet: (ids.length ? all.filter((f) => ids.includes(f.FlowLogId)) : all).map(out) }
      },
    },
  }
}

/** A VPC's or subnet's flow logs go with it, as in EC2. */
export function dropFlowLogsOf(ec2: Ec2Model, resourceId: string): void {
  for (const f of Object.values(flowLogs(ec2))) if (f.ResourceId === resourceId) delete flowLogs(ec2)[f.FlowLogId]
}
