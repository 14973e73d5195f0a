// The boot script of a service's instance: Docker, the service's secrets, the edge's published values and its
// sign-in settings into an env file only root reads, then the service's container, restarted by Docker if it stops.
import type { Duty } from '@kms-share/policy'
import { EDGE_PARAMETER_PATH, SERVICE_PORTS, USES_REDIS, edgeParameter, secretName, signInParameter, type WebDuty } from './names.js'

export interface BootScriptProps {
  duty: Duty
  /** The container image: a full reference, or `repository:tag` in this account's ECR. */
  image: string
  accountId: string
  region: string
  urlSuffix: string
  /** Plain settings (not secrets); values may be CloudFormation tokens. */
  environment: Record<string, string>
}

const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`

export function bootScript(props: BootScriptProps): string[] {
  const { duty } = props
  const env = `/etc/kms-share/${duty}.env`
  const port = duty === 'audit' ? undefined : SERVICE_PORTS[duty]
  const web = duty !== 'audit'
  const lines = [
    'set -euo pipefail',
    'dnf install -y docker jq',
    'systemctl enable --now docker',
    `export AWS_REGION=${props.region}`,
    'install -d -m 0700 /etc/kms-share',
    `umask 077`,
    `: > ${env}`,
    ...Object.entries({ AWS_REGION: props.region, ...props.environment, ...(port ? { HOST: '0.0.0.0', PORT: String(port) } : {}) })
      .map(([k, v]) => `echo ${k}=${quote(v)} >> ${env}`),
    // What the edge stack published (URLs, Redis); absent before it is deployed.
    `edge=$(aws ssm get-parameters-by-path --path ${EDGE_PARAMETER_PATH} --query 'Parameters' --output json || echo '[]')`,
    `param() { echo "$edge" | jq -r --arg n "$1" '.[] | select(.Name == $n) | .Value'; }`,
  ]
  const otherUrl = (name: string, other: 'upload' | 'download') =>
    `url=$(param ${edgeParameter.publicUrl(other)}); if [ -n "$url" ]; then echo "${name}=$url" >> ${env}; fi`
  if (duty === 'upload') lines.push(otherUrl('DOWNLOAD_PUBLIC_URL', 'download'))
  if (duty === 'download') lines.push(otherUrl('UPLOAD_PUBLIC_URL', 'upload'))
  if (web) {
    lines.push(`aws secretsmanager get-secret-value --secret-id ${secretName.service(duty)} --query SecretString --output text | jq -r 'to_entries[] | select(.value != "") | "\\(.key)=\\(.value)"' >> ${env}`)
  }
  if (duty !== 'audit') lines.push(...signInLines(duty, env))
  if (USES_REDIS[duty]) {
    lines.push(
      `redis=$(param ${edgeParameter.redisEndpoint})`,
      `if [ -n "$redis" ]; then redis_auth=$(aws secretsmanager get-secret-value --secret-id ${secretName.redis} --query SecretString --output text | jq -r .password); echo "REDIS_URL=rediss://:$redis_auth@$redis" >> ${env}; fi`,
    )
  }
  const registry = `${props.accountId}.dkr.ecr.${props.region}.${props.urlSuffix}`
  lines.push(
    `image=${quote(props.image)}`,
    // repository:tag without a registry host means this account's ECR.
    `case "\${image%%/*}" in *.*|*:*|localhost) ;; *) image="${registry}/$image"; aws ecr get-login-password | docker login --username AWS --password-stdin ${registry} ;; esac`,
  )
  const volumes = duty === 'download' ? '-v /var/cache/kms-share:/cache ' : ''
  if (duty === 'download') lines.push('install -d -m 0700 -o 1000 -g 1000 /var/cache/kms-share', `echo CACHE_DIR=/cache >> ${env}`)
  const oidcMount = web ? '$oidc_mount ' : ''
  lines.push(`docker run -d --name kms-share-${duty} --restart unless-stopped --env-file ${env} ${port ? `-p ${port}:${port} ` : ''}${volumes}${oidcMount}--log-driver journald "$image"`)
  return lines
}

/** Where the container finds its OIDC client secret (OIDC_CLIENT_SECRET_FILE), mounted read-only from the instance. */
export const OIDC_SECRET_IN_CONTAINER = '/run/secrets/oidc-client-secret'

/**
 * People's sign-in, where the sign-in stack is deployed: the service's own OIDC settings (an SSM parameter, JSON)
 * into the env file, its own client secret into a file only the container's user reads, mounted into the container.
 */
function signInLines(duty: WebDuty, env: string): string[] {
  const file = `/etc/kms-share/${duty}-oidc-client-secret`
  return [
    "oidc_mount=''",
    // Absent (ParameterNotFound) before the sign-in stack is deployed, or in the lab: tokens only then.
    `oidc=$(aws ssm get-parameter --name ${signInParameter.environment(duty)} --query Parameter.Value --output text 2>/dev/null || true)`,
    `if [ -n "$oidc" ]; then`,
    `  echo "$oidc" | jq -r 'to_entries[] | select(.value != "") | "\\(.key)=\\(.value)"' >> ${env}`,
    `  aws secretsmanager get-secret-value --secret-id ${secretName.oidcClient(duty)} --query SecretString --output text > ${file}`,
    // The image runs as node (uid 1000).
    `  chown 1000:1000 ${file} && chmod 0400 ${file}`,
    `  echo OIDC_CLIENT_SECRET_FILE=${OIDC_SECRET_IN_CONTAINER} >> ${env}`,
    `  oidc_mount="-v ${file}:${OIDC_SECRET_IN_CONTAINER}:ro"`,
    'fi',
  ]
}
