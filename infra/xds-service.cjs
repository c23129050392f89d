// The optional xDS server (`ecs-etcd-registrar xds`, the image of the Dockerfile) as an ECS service
// on Fargate behind an internal Network Load Balancer, whose DNS name is the `server_uri` of the
// clients' bootstrap file (output XdsServerAddress). Off unless the `xdsImage` parameter is set.
//
//   xdsImage          the image URI (built from the Dockerfile for linux/arm64 and pushed to ECR)
//   xdsVpcId          required with xdsImage: the VPC of the subnets
//   xdsSubnetIds      private subnets in two or more zones (default: subnetIds)
//   xdsDesiredCount   tasks, at least 2 (default 2); Fargate spreads them over the subnets' zones
//   xdsClientCidr     who may connect (default 10.0.0.0/8)
//   xdsCluster        an existing cluster name or ARN (default: a cluster of its own)
//
// The tasks use the functions' etcd settings (etcdEndpoints, registryPrefix, statePrefix,
// etcdSecretArn or etcdSsmParameter), their identity (stage, account, region: with registryPrefix
// unset they serve the directory the functions run with, read from the owner record) and their
// security groups (securityGroupIds, which reach etcd). serverless.yml adds `resources` to the template.

const PORT = 18000;
const HEALTH_PORT = 18001;

async function settings(resolveVariable) {
  const param = async (name) => String((await resolveVariable(`param:${name}`)) ?? '').trim();
  const image = await param('xdsImage');
  if (!image) return undefined;
  const vpcId = await param('xdsVpcId');
  if (!/^vpc-[0-9a-f]+$/.test(vpcId)) throw new Error(`xdsVpcId: required with xdsImage (vpc-...), got "${vpcId}"`);
  const subnets = ((await param('xdsSubnetIds')) || (await param('subnetIds')))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (subnets.length < 2)
    throw new Error(`xdsSubnetIds: the xDS service needs subnets in two or more zones, got ${subnets.length}`);
  const count = Number((await param('xdsDesiredCount')) || '2');
  if (!Number.isInteger(count) || count < 2 || count > 20)
    throw new Error(`xdsDesiredCount: expected a whole number from 2 to 20, got "${await param('xdsDesiredCount')}"`);
  const clientCidr = (await param('xdsClientCidr')) || '10.0.0.0/8';
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(clientCidr))
    throw new Error(`xdsClientCidr: expected an IPv4 CIDR, got "${clientCidr}"`);
  return {
    image,
    vpcId,
    subnets,
    count,
    clientCidr,
    cluster: await param('xdsCluster'),
    securityGroups: (await param('securityGroupIds'))
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    etcdEndpoints: await param('etcdEndpoints'),
    registryPrefix: await param('registryPrefix'),
    statePrefix: await param('statePrefix'),
    secretArn: await param('etcdSecretArn'),
    ssmParameter: await param('etcdSsmParameter'),
    service: await resolveVariable('self:service'),
    stage: await resolveVariable('sls:stage'),
  };
}

/** Read access to the etcd credentials, when they come from Secrets Manager or SSM. */
function credentialStatements(s) {
  if (s.secretArn) return [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: s.secretArn }];
  if (s.ssmParameter)
    return [
      {
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: s.ssmParameter.startsWith('arn:')
          ? s.ssmParameter
          : { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${s.ssmParameter}` },
      },
    ];
  return [];
}

/** The ECS service, its load balancer, roles, security groups and logs (none when xdsImage is unset). */
async function resources({ resolveVariable }) {
  const s = await settings(resolveVariable);
  if (!s) return { Resources: {} };
  const name = `${s.service}-${s.stage}-xds`;
  const cluster = s.cluster || { Ref: 'XdsCluster' };
  const statements = credentialStatements(s);
  const assume = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  };
  const env = {
    ETCD_ENDPOINTS: s.etcdEndpoints,
    REGISTRY_PREFIX: s.registryPrefix,
    STATE_PREFIX: s.statePrefix,
    STAGE: s.stage,
    ACCOUNT_ID: { Ref: 'AWS::AccountId' },
    AWS_REGION: { Ref: 'AWS::Region' },
    ETCD_SECRET_ID: s.secretArn,
    ETCD_SSM_PARAMETER: s.ssmParameter,
    XDS_PORT: String(PORT),
    XDS_HEALTH_PORT: String(HEALTH_PORT),
  };
  return {
    Resources: {
      ...(s.cluster ? {} : { XdsCluster: { Type: 'AWS::ECS::Cluster', Properties: { ClusterName: name } } }),
      XdsLogGroup: {
        Type: 'AWS::Logs::LogGroup',
        Properties: { LogGroupName: `/ecs/${name}`, RetentionInDays: 30 },
      },
      XdsExecutionRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: assume,
          ManagedPolicyArns: [
            { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy' },
          ],
        },
      },
      XdsTaskRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: assume,
          ...(statements.length > 0
            ? {
                Policies: [
                  { PolicyName: 'etcd-credentials', PolicyDocument: { Version: '2012-10-17', Statement: statements } },
                ],
              }
            : {}),
        },
      },
      XdsTaskDefinition: {
        Type: 'AWS::ECS::TaskDefinition',
        Properties: {
          Family: name,
          RequiresCompatibilities: ['FARGATE'],
          NetworkMode: 'awsvpc',
          Cpu: '512',
          Memory: '1024',
          RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
          ExecutionRoleArn: { 'Fn::GetAtt': ['XdsExecutionRole', 'Arn'] },
          TaskRoleArn: { 'Fn::GetAtt': ['XdsTaskRole', 'Arn'] },
          ContainerDefinitions: [
            {
              Name: 'xds',
              Image: s.image,
              Essential: true,
              PortMappings: [
                { ContainerPort: PORT, Protocol: 'tcp' },
                { ContainerPort: HEALTH_PORT, Protocol: 'tcp' },
              ],
              Environment: Object.entries(env).map(([Name, Value]) => ({ Name, Value })),
              // 200 once the first read of etcd is served (lib/xds/run.ts).
              HealthCheck: {
                Command: [
                  'CMD',
                  'node',
                  '-e',
                  `fetch('http://127.0.0.1:${HEALTH_PORT}/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`,
                ],
                Interval: 10,
                Timeout: 3,
                Retries: 3,
                StartPeriod: 15,
              },
              // SIGTERM ends every client stream; clients reconnect through the load balancer to another task.
              StopTimeout: 10,
              LogConfiguration: {
                LogDriver: 'awslogs',
                Options: {
                  'awslogs-group': { Ref: 'XdsLogGroup' },
                  'awslogs-region': { Ref: 'AWS::Region' },
                  'awslogs-stream-prefix': 'xds',
                },
              },
            },
          ],
        },
      },
      XdsLoadBalancerSecurityGroup: {
        Type: 'AWS::EC2::SecurityGroup',
        Properties: {
          GroupDescription: `${name}: gRPC clients to the xDS load balancer`,
          VpcId: s.vpcId,
          SecurityGroupIngress: [{ IpProtocol: 'tcp', FromPort: PORT, ToPort: PORT, CidrIp: s.clientCidr }],
        },
      },
      XdsTaskSecurityGroup: {
        Type: 'AWS::EC2::SecurityGroup',
        Properties: {
          GroupDescription: `${name}: the load balancer to the xDS tasks (ADS and health check)`,
          VpcId: s.vpcId,
          SecurityGroupIngress: [PORT, HEALTH_PORT].map((port) => ({
            IpProtocol: 'tcp',
            FromPort: port,
            ToPort: port,
            SourceSecurityGroupId: { Ref: 'XdsLoadBalancerSecurityGroup' },
          })),
        },
      },
      XdsLoadBalancer: {
        Type: 'AWS::ElasticLoadBalancingV2::LoadBalancer',
        Properties: {
          Name: name.slice(0, 32),
          Type: 'network',
          Scheme: 'internal',
          Subnets: s.subnets,
          SecurityGroups: [{ Ref: 'XdsLoadBalancerSecurityGroup' }],
        },
      },
      XdsTargetGroup: {
        Type: 'AWS::ElasticLoadBalancingV2::TargetGroup',
        Properties: {
          TargetType: 'ip',
          Protocol: 'TCP',
          Port: PORT,
          VpcId: s.vpcId,
          HealthCheckProtocol: 'HTTP',
          HealthCheckPort: String(HEALTH_PORT),
          HealthCheckPath: '/healthz',
          HealthCheckIntervalSeconds: 10,
          HealthyThresholdCount: 2,
          UnhealthyThresholdCount: 2,
          // A task leaving ends its streams at once; clients reconnect to the others.
          TargetGroupAttributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '10' }],
        },
      },
      XdsListener: {
        Type: 'AWS::ElasticLoadBalancingV2::Listener',
        Properties: {
          LoadBalancerArn: { Ref: 'XdsLoadBalancer' },
          Protocol: 'TCP',
          Port: PORT,
          DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: 'XdsTargetGroup' } }],
        },
      },
      XdsService: {
        Type: 'AWS::ECS::Service',
        DependsOn: ['XdsListener'],
        Properties: {
          ServiceName: name,
          Cluster: cluster,
          LaunchType: 'FARGATE',
          DesiredCount: s.count,
          TaskDefinition: { Ref: 'XdsTaskDefinition' },
          // Never below the desired count during a deploy: clients always have a server to go to.
          DeploymentConfiguration: {
            MinimumHealthyPercent: 100,
            MaximumPercent: 200,
            DeploymentCircuitBreaker: { Enable: true, Rollback: true },
          },
          HealthCheckGracePeriodSeconds: 30,
          NetworkConfiguration: {
            AwsvpcConfiguration: {
              AssignPublicIp: 'DISABLED',
              Subnets: s.subnets,
              SecurityGroups: [{ Ref: 'XdsTaskSecurityGroup' }, ...s.securityGroups],
            },
          },
          LoadBalancers: [{ ContainerName: 'xds', ContainerPort: PORT, TargetGroupArn: { Ref: 'XdsTargetGroup' } }],
        },
      },
    },
    Outputs: {
      XdsServerAddress: {
        Description: "server_uri of the clients' xDS bootstrap (ecs-etcd-registrar xds bootstrap --server ...)",
        Value: { 'Fn::Sub': `\${XdsLoadBalancer.DNSName}:${PORT}` },
      },
    },
  };
}

module.exports = { resources };
