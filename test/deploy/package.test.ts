/**
 * What ships: `serverless package` (osls, offline) runs, the CloudFormation template it generates
 * has exactly the triggers, dead-letter wiring, permissions and runtime settings intended, and the
 * packaged bundle of each function — loaded by plain Node from the zip, as Lambda would — registers,
 * renews and deregisters against the real local etcd.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAws, runningFromStopped } from '../kit/local-aws';
import { loadEvent } from '../kit/events';
import { testEnv } from '../support/harness';
import { sqsEvent } from '../kit/lambda';

const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'registrar-package-'));
const packageDir = join(work, 'package');
const PARAMS = {
  etcdEndpoints: 'http://10.0.1.5:2379,http://10.0.2.5:2379',
  subnetIds: 'subnet-0a1,subnet-0b2',
  securityGroupIds: 'sg-0c3',
  // In the stack's region and account (packaging refuses others).
  clusterArns:
    'arn:aws:ecs:us-east-1:123456789012:cluster/FargateCluster,arn:aws:ecs:us-east-1:123456789012:cluster/MyCluster',
  accountId: '123456789012',
  etcdSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/etcd-AbCdEf',
};
/** The optional xDS server's parameters (infra/xds-service.cjs). */
const XDS_PARAMS = {
  xdsImage: '123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs-etcd-registrar-xds:1',
  xdsVpcId: 'vpc-0abc',
  xdsDesiredCount: '3',
};
type Json = Record<string, any>;
let resources: Record<string, Json>;
let followQueue: string;
/** The template packaged with `ingest=sqs`. */
let sqsResources: Record<string, Json>;

/** The ECS and EC2 calls each function's code makes (lib/ecs): what its role may do, exactly. */
const PUBLISH = [
  'ecs:DescribeTaskDefinition',
  'ecs:DescribeServices',
  'ecs:DescribeContainerInstances',
  'ec2:DescribeInstances',
];
const AWS_CALLS: Record<string, readonly string[]> = {
  register: ['ecs:DescribeTasks', ...PUBLISH],
  deregister: ['ecs:DescribeTasks', 'ecs:DescribeTaskDefinition', 'ecs:DescribeServices'],
  renew: ['ecs:DescribeTasks', 'ecs:ListTasks', 'ecs:DescribeClusters', ...PUBLISH],
  follow: ['ecs:DescribeTasks', ...PUBLISH],
};
/** Functions that send to the follow queue (a task recorded pending, or still pending). */
const SENDS_TO_FOLLOW_QUEUE = ['register', 'renew', 'follow'];
const FUNCTIONS = Object.keys(AWS_CALLS);

const byType = (type: string, from = resources) => Object.entries(from).filter(([, r]) => r.Type === type);
const functionNamed = (name: string) =>
  resources[`${name[0]!.toUpperCase()}${name.slice(1)}LambdaFunction`]!.Properties;
const ruleFor = (fn: string, from = resources) =>
  byType('AWS::Events::Rule', from)
    .map(([, r]) => r.Properties)
    .find((p) => p.Targets[0].Arn['Fn::GetAtt'][0] === `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`);

const alarms = (from = resources): Json[] => byType('AWS::CloudWatch::Alarm', from).map(([, r]) => r.Properties);
const roleStatements = (role: string, from = resources): Json[] =>
  from[role]!.Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement);

/** Runs `osls package` offline with the given parameters; returns the template's resources. */
async function packageService(dir: string, params: Record<string, string>): Promise<Record<string, Json>> {
  await promisify(execFile)(
    join(root, 'node_modules/.bin/osls'),
    [
      'package',
      '--stage',
      'ci',
      '--region',
      'us-east-1',
      '--package',
      dir,
      ...Object.entries(params).map(([k, v]) => `--param=${k}=${v}`),
    ],
    {
      cwd: root,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      timeout: 180_000,
    },
  );
  return (JSON.parse(readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Json).Resources;
}

beforeAll(async () => {
  // One after the other: both build in the service's .esbuild directory.
  resources = await packageService(packageDir, PARAMS);
  // The second package also turns the optional xDS service on: one osls run less.
  sqsResources = await packageService(join(work, 'package-sqs'), { ...PARAMS, ingest: 'sqs', ...XDS_PARAMS });
}, 400_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('serverless package: the CloudFormation template', () => {
  it('runs every function on nodejs22.x, arm64, in the VPC, with the configuration', () => {
    for (const name of ['register', 'deregister', 'renew', 'follow']) {
      const fn = functionNamed(name);
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Architectures).toEqual(['arm64']);
      expect(fn.Handler).toBe(`functions/${name}.handler`);
      expect(fn.VpcConfig).toEqual({
        SubnetIds: { 'Fn::Split': [',', PARAMS.subnetIds] },
        SecurityGroupIds: { 'Fn::Split': [',', PARAMS.securityGroupIds] },
      });
      expect(fn.Environment.Variables).toEqual({
        ETCD_ENDPOINTS: PARAMS.etcdEndpoints,
        // Empty: the functions' default (services/ci) or the directory an upgrade adopted.
        REGISTRY_PREFIX: '',
        STATE_PREFIX: '',
        STAGE: 'ci',
        ACCOUNT_ID: { Ref: 'AWS::AccountId' },
        LEASE_TTL_SECONDS: '210',
        VALUE_FORMAT: 'etcd-naming',
        KEY_FORMAT: 'task',
        CLUSTERS: PARAMS.clusterArns,
        DRY_RUN: 'false',
        ETCD_SECRET_ID: PARAMS.etcdSecretArn,
        ETCD_SSM_PARAMETER: '',
        POWERTOOLS_SERVICE_NAME: 'ecs-etcd-registrar-ci',
        POWERTOOLS_METRICS_NAMESPACE: 'EcsEtcdRegistrar',
        // The functions that record or follow pending tasks send to the follow queue.
        ...(name === 'deregister' ? {} : { FOLLOW_QUEUE_URL: { Ref: 'FollowQueue' } }),
      });
    }
    expect([
      functionNamed('register').ReservedConcurrentExecutions,
      functionNamed('deregister').ReservedConcurrentExecutions,
      functionNamed('renew').ReservedConcurrentExecutions,
    ]).toEqual([10, 10, 1]);
    expect(functionNamed('renew').Timeout).toBeLessThan(60); // ticks never overlap
  });

  it('triggers register on RUNNING/RUNNING and deregister on desiredStatus STOPPED, for the given clusters only', () => {
    const clusterArn = PARAMS.clusterArns.split(',');
    expect(ruleFor('register')!.EventPattern).toEqual({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { lastStatus: ['RUNNING'], desiredStatus: ['RUNNING'], clusterArn },
    });
    expect(ruleFor('deregister')!.EventPattern).toEqual({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { desiredStatus: ['STOPPED'], clusterArn },
    });
  });

  it('runs renew every minute', () => {
    expect(ruleFor('renew')!.ScheduleExpression).toBe('rate(1 minute)');
    expect(ruleFor('renew')!.EventPattern).toBeUndefined();
  });

  it('gives every EventBridge target a retry policy and a dead-letter queue, and every function an on-failure queue', () => {
    for (const name of ['register', 'deregister', 'renew']) {
      const queue = `${name[0]!.toUpperCase()}${name.slice(1)}DeadLetterQueue`;
      expect(resources[queue]?.Type).toBe('AWS::SQS::Queue');
      const target = ruleFor(name)!.Targets[0];
      expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [queue, 'Arn'] } });
      expect(target.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
      const invokeConfig = byType('AWS::Lambda::EventInvokeConfig')
        .map(([, r]) => r.Properties)
        .find((p) => p.FunctionName.Ref === `${queue.replace('DeadLetterQueue', '')}LambdaFunction`)!;
      expect(invokeConfig.DestinationConfig).toEqual({ OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } });
      const policy = byType('AWS::SQS::QueuePolicy')
        .map(([, r]) => r.Properties)
        .find((p) => p.Queues.some((q: Json) => q.Ref === queue));
      expect(policy?.PolicyDocument.Statement[0].Principal).toEqual({ Service: 'events.amazonaws.com' });
      const alarm = byType('AWS::CloudWatch::Alarm')
        .map(([, r]) => r.Properties)
        .find((p) => p.Dimensions?.[0]?.Value?.['Fn::GetAtt']?.[0] === queue);
      expect(alarm).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
    const renewErrors = alarms().find(
      (p) => p.Namespace === 'AWS/Lambda' && p.Dimensions[0].Value.Ref === 'RenewLambdaFunction',
    );
    expect(renewErrors).toMatchObject({
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'RenewLambdaFunction' } }],
    });
  });

  it('scopes metrics, log lines, alarms and the dashboard to the stage', () => {
    expect(
      alarms()
        .map((p) => p.AlarmName)
        .filter((name) => !name.startsWith('ecs-etcd-registrar-ci-')),
    ).toEqual([]);
    for (const p of alarms().filter((a) => a.Namespace === 'EcsEtcdRegistrar'))
      expect(p.Dimensions).toEqual([{ Name: 'service', Value: 'ecs-etcd-registrar-ci' }]);
    expect(
      alarms()
        .filter((a) => a.Namespace === 'EcsEtcdRegistrar')
        .map((p) => p.MetricName)
        .sort(),
    ).toEqual(['EtcdLatency', 'FailOpenRenewed']);
    expect(alarms().every((p) => p.AlarmActions[0].Ref === 'AlarmTopic')).toBe(true);
  });

  it('alarms on errors, throttles and event age of register and deregister, and on slow etcd', () => {
    for (const fn of ['Register', 'Deregister']) {
      const on = (metric: string) =>
        alarms().filter(
          (p) =>
            p.Namespace === 'AWS/Lambda' &&
            p.MetricName === metric &&
            p.Dimensions[0].Value.Ref === `${fn}LambdaFunction`,
        );
      expect(on('Errors')).toEqual([
        expect.objectContaining({ Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' }),
      ]);
      expect(on('Throttles')).toEqual([expect.objectContaining({ Statistic: 'Sum', Threshold: 0 })]);
      expect(on('AsyncEventAge')).toEqual([expect.objectContaining({ Statistic: 'Maximum', Threshold: 300_000 })]);
    }
    expect(alarms().find((p) => p.MetricName === 'EtcdLatency')).toMatchObject({
      ExtendedStatistic: 'p99',
      Threshold: 1000,
      Period: 60,
      EvaluationPeriods: 5,
    });
  });

  it('has a dashboard of the stage: renew, registrations, removals, fail-open, etcd latency, the functions', () => {
    const [dashboard] = byType('AWS::CloudWatch::Dashboard').map(([, r]) => r.Properties);
    expect(dashboard.DashboardName).toBe('ecs-etcd-registrar-ci');
    const [body, variables] = dashboard.DashboardBody['Fn::Sub'];
    expect(variables).toEqual({
      Register: { Ref: 'RegisterLambdaFunction' },
      Deregister: { Ref: 'DeregisterLambdaFunction' },
      Renew: { Ref: 'RenewLambdaFunction' },
      Follow: { Ref: 'FollowLambdaFunction' },
    });
    const widgets = (JSON.parse(body) as Json).widgets.map((w: Json) => w.properties);
    const metricsOf = (title: RegExp) =>
      widgets.find((w: Json) => title.test(w.title))!.metrics.map((m: unknown[]) => m[1]);
    expect(metricsOf(/^Renew/)).toEqual(
      expect.arrayContaining(['Renewed', 'RepairedByReconcile', 'RenewTaskFailures', 'EcsFailures']),
    );
    expect(metricsOf(/^Registrations/)).toContain('Registered');
    expect(metricsOf(/^Removals/)).toEqual(['Deregistered', 'Withdrawn']);
    expect(metricsOf(/^Fail-open/)).toEqual(['FailOpenRenewed']);
    expect(metricsOf(/^Health-checked/)).toEqual(
      expect.arrayContaining(['FollowUpPublished', 'FollowUpGaveUp', 'FollowUpRejected', 'DrainPublished']),
    );
    expect(metricsOf(/^etcd latency/)).toEqual(['EtcdLatency', 'EtcdLatency', 'EtcdLatency']);
    const own = widgets.flatMap((w: Json) => w.metrics).filter((m: unknown[]) => m[0] === 'EcsEtcdRegistrar');
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((m: unknown[]) => m[2] === 'service' && m[3] === 'ecs-etcd-registrar-ci')).toBe(true);
  });

  it('gives each function a role of its own with exactly the ECS and EC2 calls it makes, its dead-letter queue, the etcd secret, and no wildcard action', () => {
    const roles = byType('AWS::IAM::Role')
      .map(([id]) => id)
      .sort();
    expect(roles).toEqual(['DeregisterRole', 'FollowRole', 'RegisterRole', 'RenewRole']);
    for (const [name, calls] of Object.entries(AWS_CALLS)) {
      const role = `${name[0]!.toUpperCase()}${name.slice(1)}Role`;
      expect(functionNamed(name).Role).toEqual({ 'Fn::GetAtt': [role, 'Arn'] });
      const statements = roleStatements(role);
      const actions = statements.flatMap((s) => [s.Action].flat() as string[]);
      expect(actions.filter((a) => /^(ecs|ec2):/.test(a)).sort(), name).toEqual([...calls].sort());
      expect(statements.filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'))).toEqual([
        { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: PARAMS.etcdSecretArn },
      ]);
      // Its own queues only: the follow queue where it sends follow-ups, its on-failure destination
      // (its dead-letter queue), and the queue of its event source.
      const fn = role.replace('Role', '');
      expect(statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('sqs:')))).toEqual([
        ...(SENDS_TO_FOLLOW_QUEUE.includes(name)
          ? [{ Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: { 'Fn::GetAtt': ['FollowQueue', 'Arn'] } }]
          : []),
        ...(name === 'follow'
          ? [
              {
                Effect: 'Allow',
                Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
                Resource: [{ 'Fn::GetAtt': ['FollowQueue', 'Arn'] }],
              },
            ]
          : [
              {
                Effect: 'Allow',
                Action: ['sqs:SendMessage'],
                Resource: { 'Fn::GetAtt': [`${fn}DeadLetterQueue`, 'Arn'] },
              },
            ]),
      ]);
      expect(actions.filter((a) => !/^(ecs|ec2|secretsmanager|sqs):/.test(a))).toEqual([]);
      expect(actions.filter((a) => a.includes('*'))).toEqual([]);
      expect(resources[role]!.Properties.ManagedPolicyArns).toEqual([
        { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole' },
      ]);
    }
    expect(resources.IamRoleLambdaExecution).toBeUndefined(); // no role shared by every function
  });
});

describe('serverless package: deploy guards', () => {
  it('refuses clusters of another region or account than the stack’s, naming each', async () => {
    const wrong = [
      'arn:aws:ecs:eu-west-1:123456789012:cluster/prod',
      'arn:aws:ecs:us-east-1:111122223333:cluster/other',
    ];
    const failure = await packageService(join(work, 'package-wrong'), {
      ...PARAMS,
      clusterArns: wrong.join(','),
    }).catch((err: { stdout?: string; stderr?: string }) => `${err.stdout}${err.stderr}`);
    expect(failure).toContain(
      `clusterArns: "${wrong[0]}" is in region eu-west-1, but the stack deploys to us-east-1 (--region, else provider.region)`,
    );
    expect(failure).toContain(
      `"${wrong[1]}" is in account 111122223333, but the stack deploys to account 123456789012 (accountId parameter, else AWS_ACCOUNT_ID)`,
    );
  });
});

describe('serverless package: the pending-task follow-up', () => {
  it('has the follow queue (delayed messages, redrive after 3 receives) and its dead-letter queue with an alarm', () => {
    expect(resources.FollowQueue).toMatchObject({
      Type: 'AWS::SQS::Queue',
      Properties: {
        VisibilityTimeout: 120,
        MessageRetentionPeriod: 3600,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['FollowDeadLetterQueue', 'Arn'] }, maxReceiveCount: 3 },
      },
    });
    expect(resources.FollowQueue!.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(functionNamed('follow').Timeout);
    expect(resources.FollowDeadLetterQueue?.Type).toBe('AWS::SQS::Queue');
    const alarm = byType('AWS::CloudWatch::Alarm')
      .map(([, r]) => r.Properties)
      .find((p) => p.Dimensions?.[0]?.Value?.['Fn::GetAtt']?.[0] === 'FollowDeadLetterQueue');
    expect(alarm).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('feeds the follow function from the queue in batches, reporting failed messages only', () => {
    const mappings = byType('AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties);
    expect(mappings).toEqual([
      expect.objectContaining({
        EventSourceArn: { 'Fn::GetAtt': ['FollowQueue', 'Arn'] },
        FunctionName: { 'Fn::GetAtt': ['FollowLambdaFunction', 'Arn'] },
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 2 },
      }),
    ]);
    expect(functionNamed('follow').ReservedConcurrentExecutions).toBe(2);
    expect(ruleFor('follow')).toBeUndefined(); // nothing runs unless a task is pending
  });
});

describe('serverless package --param=ingest=sqs: started tasks through a queue', () => {
  const props = (id: string) => sqsResources[id]!.Properties;

  it('has no queue by default', () => {
    expect(
      byType('AWS::SQS::Queue')
        .map(([id]) => id)
        .filter((id) => id.includes('Ingest')),
    ).toEqual([]);
    expect(byType('AWS::Lambda::EventSourceMapping').filter(([, r]) => JSON.stringify(r).includes('Ingest'))).toEqual(
      [],
    );
  });

  it('sends started tasks to the queue (retried, dead-lettered) instead of invoking register', () => {
    expect(ruleFor('register', sqsResources)).toBeUndefined();
    const rule = props('RegisterIngestRule');
    expect(rule.EventPattern).toEqual(ruleFor('register')!.EventPattern);
    expect(rule.Targets).toEqual([
      {
        Id: 'register-ingest',
        Arn: { 'Fn::GetAtt': ['RegisterIngestQueue', 'Arn'] },
        RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['RegisterDeadLetterQueue', 'Arn'] } },
      },
    ]);
    const statement = props('RegisterIngestQueuePolicy').PolicyDocument.Statement;
    expect(statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': ['RegisterIngestRule', 'Arn'] } } },
      }),
    ]);
    // deregister and renew keep their own rules.
    expect(ruleFor('deregister', sqsResources)).toEqual(ruleFor('deregister'));
    expect(ruleFor('renew', sqsResources)).toEqual(ruleFor('renew'));
  });

  it('consumes the queue in batches with partial batch responses, within register’s concurrency', () => {
    const mappings = byType('AWS::Lambda::EventSourceMapping', sqsResources)
      .map(([, r]) => r.Properties)
      .filter((p) => p.EventSourceArn['Fn::GetAtt'][0] === 'RegisterIngestQueue');
    expect(mappings).toEqual([
      expect.objectContaining({
        EventSourceArn: { 'Fn::GetAtt': ['RegisterIngestQueue', 'Arn'] },
        FunctionName: { 'Fn::GetAtt': ['RegisterLambdaFunction', 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 1,
        ScalingConfig: { MaximumConcurrency: 10 },
      }),
    ]);
    const register = sqsResources.RegisterLambdaFunction!.Properties;
    expect(mappings[0].ScalingConfig.MaximumConcurrency).toBeLessThanOrEqual(register.ReservedConcurrentExecutions);
    // A message stays invisible while an invocation may still be working on it.
    expect(props('RegisterIngestQueue').VisibilityTimeout).toBeGreaterThanOrEqual(6 * register.Timeout);
  });

  it('moves a message that failed five receives to its own dead-letter queue, and alarms on it', () => {
    expect(props('RegisterIngestQueue').RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': ['RegisterIngestDeadLetterQueue', 'Arn'] },
      maxReceiveCount: 5,
    });
    expect(props('RegisterIngestDeadLetterQueue').RedriveAllowPolicy).toEqual({
      redrivePermission: 'byQueue',
      sourceQueueArns: [{ 'Fn::GetAtt': ['RegisterIngestQueue', 'Arn'] }],
    });
    const alarmOn = (queue: string, metric: string) =>
      byType('AWS::CloudWatch::Alarm', sqsResources)
        .map(([, r]) => r.Properties)
        .find((p) => p.MetricName === metric && p.Dimensions[0].Value['Fn::GetAtt']?.[0] === queue);
    expect(alarmOn('RegisterIngestDeadLetterQueue', 'ApproximateNumberOfMessagesVisible')).toMatchObject({
      Threshold: 0,
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
    expect(alarmOn('RegisterIngestQueue', 'ApproximateAgeOfOldestMessage')).toMatchObject({
      Threshold: 120,
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('lets register and follow receive and delete messages of their own queues only', () => {
    const receiving = (role: string) =>
      roleStatements(role, sqsResources).filter((s) => [s.Action].flat().includes('sqs:ReceiveMessage'));
    expect(receiving('RegisterRole')).toEqual([
      {
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: [{ 'Fn::GetAtt': ['RegisterIngestQueue', 'Arn'] }],
      },
    ]);
    expect(receiving('FollowRole')).toEqual([
      {
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: [{ 'Fn::GetAtt': ['FollowQueue', 'Arn'] }],
      },
    ]);
    expect([...receiving('DeregisterRole'), ...receiving('RenewRole')]).toEqual([]);
  });
});

describe('serverless package --param=xdsImage=...: the optional xDS server', () => {
  const props = (id: string) => sqsResources[id]!.Properties;

  it('is not in the stack by default', () => {
    expect(Object.keys(resources).filter((id) => id.startsWith('Xds'))).toEqual([]);
  });

  it('runs the image on Fargate, three tasks over the subnets, with the etcd settings of the functions', () => {
    const service = props('XdsService');
    expect(service).toMatchObject({
      LaunchType: 'FARGATE',
      DesiredCount: 3,
      Cluster: { Ref: 'XdsCluster' },
      DeploymentConfiguration: { MinimumHealthyPercent: 100, MaximumPercent: 200 },
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          AssignPublicIp: 'DISABLED',
          Subnets: PARAMS.subnetIds.split(','),
          // Its own group (the load balancer in) and the functions' (etcd out).
          SecurityGroups: [{ Ref: 'XdsTaskSecurityGroup' }, PARAMS.securityGroupIds],
        },
      },
      LoadBalancers: [{ ContainerName: 'xds', ContainerPort: 18000, TargetGroupArn: { Ref: 'XdsTargetGroup' } }],
    });
    const [container] = props('XdsTaskDefinition').ContainerDefinitions;
    expect(container.Image).toBe(XDS_PARAMS.xdsImage);
    expect(Object.fromEntries(container.Environment.map((e: Json) => [e.Name, e.Value]))).toEqual({
      ETCD_ENDPOINTS: PARAMS.etcdEndpoints,
      // Empty, with the functions' identity: it serves the directory they run with (owner record).
      REGISTRY_PREFIX: '',
      STATE_PREFIX: '',
      STAGE: 'ci',
      ACCOUNT_ID: { Ref: 'AWS::AccountId' },
      AWS_REGION: { Ref: 'AWS::Region' },
      ETCD_SECRET_ID: PARAMS.etcdSecretArn,
      ETCD_SSM_PARAMETER: '',
      XDS_PORT: '18000',
      XDS_HEALTH_PORT: '18001',
    });
    expect(container.HealthCheck.Command.join(' ')).toContain('/healthz');
    expect(container.LogConfiguration).toMatchObject({
      LogDriver: 'awslogs',
      Options: { 'awslogs-group': { Ref: 'XdsLogGroup' } },
    });
  });

  it('is reached through an internal NLB whose health check is /healthz, and may read only the etcd secret', () => {
    expect(props('XdsLoadBalancer')).toMatchObject({ Type: 'network', Scheme: 'internal' });
    expect(props('XdsTargetGroup')).toMatchObject({
      TargetType: 'ip',
      Protocol: 'TCP',
      Port: 18000,
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: '18001',
      HealthCheckPath: '/healthz',
      VpcId: XDS_PARAMS.xdsVpcId,
    });
    expect(sqsResources.XdsTaskRole!.Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement)).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: PARAMS.etcdSecretArn },
    ]);
  });
});

describe('the packaged bundles, run by plain Node', () => {
  let aws: LocalAws;
  let env: Record<string, string>;
  const bundles: Record<string, string> = {};

  beforeAll(async () => {
    for (const name of ['register', 'deregister', 'renew', 'follow']) {
      const files = unzipSync(readFileSync(join(packageDir, `${name}.zip`)));
      const dir = join(work, 'unzipped', name);
      for (const [path, data] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), data);
      }
      bundles[name] = join(dir, 'functions', `${name}.js`);
    }
    aws = (await new LocalAws().start()).putSampleTaskDefinitions();
    followQueue = aws.createQueue('follow');
    env = {
      ...process.env,
      ...aws.sdkEnv(),
      ...testEnv(),
      FOLLOW_QUEUE_URL: followQueue,
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
    } as Record<string, string>;
  });
  afterAll(async () => aws?.stop());

  /** Runs one bundle in its own Node process, with no access to the sources or node_modules. */
  function invoke(name: string, event: unknown): Promise<{ ok: boolean; value: Json }> {
    const file = join(work, `event-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(event));
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'test/support/invoke-bundle.mjs'), bundles[name]!, file], {
        cwd: work,
        env,
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', () => undefined);
      child.on('error', reject);
      child.on('exit', () => {
        const line = out.split('\n').find((l) => l.startsWith('RESULT ') || l.startsWith('ERROR '));
        if (!line) return reject(new Error(`no result from ${name}: ${out.slice(-500)}`));
        resolve({ ok: line.startsWith('RESULT '), value: JSON.parse(line.slice(line.indexOf(' ') + 1)) as Json });
      });
    });
  }

  it('carries no source file, no node_modules and no .proto file: one self-contained bundle directory', () => {
    const files = Object.keys(unzipSync(readFileSync(join(packageDir, 'register.zip'))));
    expect(files.filter((f) => !f.endsWith('.js')).sort()).toEqual(['functions/package.json']);
    expect(files.every((f) => f.startsWith('functions/'))).toBe(true);
    expect(
      JSON.parse(
        new TextDecoder().decode(unzipSync(readFileSync(join(packageDir, 'register.zip')))['functions/package.json']),
      ),
    ).toEqual({ type: 'module' });
  });

  it('ships in each zip only what its function can load: its entry and the chunks reachable from it; deregister under 450 KB', () => {
    for (const name of FUNCTIONS) {
      const files = unzipSync(readFileSync(join(packageDir, `${name}.zip`)));
      const code = Object.keys(files).filter((f) => f.endsWith('.js'));
      expect(
        code.filter((f) => f !== `functions/${name}.js` && !f.startsWith(`functions/${name}.chunks/`)),
        name,
      ).toEqual([]);
      // Every relative import (static or dynamic) of the entry, followed through the chunks.
      const reachable = new Set<string>();
      const visit = (file: string) => {
        if (reachable.has(file) || !files[file]) return;
        reachable.add(file);
        for (const [, spec] of new TextDecoder().decode(files[file]).matchAll(/["'](\.\.?\/[^"']+\.js)["']/g))
          visit(join(dirname(file), spec!));
      };
      visit(`functions/${name}.js`);
      expect(
        code.filter((f) => !reachable.has(f)),
        name,
      ).toEqual([]);
    }
    expect(statSync(join(packageDir, 'deregister.zip')).size).toBeLessThan(450 * 1024);
  });

  it('register publishes a Fargate task, a bridge task on dynamic ports, and two containers', async () => {
    const fargate = loadEvent('fargate-awsvpc-running-ecs-devguide');
    const bridge = loadEvent('ec2-bridge-running-dynamic-ports');
    const two = loadEvent('fargate-two-containers-running');
    for (const e of [fargate, bridge, two]) aws.putTaskFromDetail(e.detail);
    aws.putContainerInstance(bridge.detail.containerInstanceArn, 'i-0fedcba987654321', '172.31.40.2');

    expect(await invoke('register', fargate)).toMatchObject({
      ok: true,
      value: {
        action: 'registered',
        keys: [`${env.REGISTRY_PREFIX}/sample-fargate/c13b4cb40f1f4fe4a2971f76ae5a47ad:50051`],
      },
    });
    expect(await invoke('register', bridge)).toMatchObject({
      ok: true,
      value: {
        action: 'registered',
        keys: [`${env.REGISTRY_PREFIX}/greeter-bridge/4d590253bb114126b7afa7b58eea9221:32768`],
      },
    });
    expect(await invoke('register', two)).toMatchObject({
      ok: true,
      value: {
        action: 'registered',
        keys: [
          `${env.REGISTRY_PREFIX}/orders/5d2e8f0c1a9b4c7d8e6f0a1b2c3d4e5f:50051`,
          `${env.REGISTRY_PREFIX}/orders-admin/5d2e8f0c1a9b4c7d8e6f0a1b2c3d4e5f:9090`,
        ],
      },
    });
  });

  it('register takes an SQS batch and reports only the malformed message', async () => {
    const event = sqsEvent([
      loadEvent('fargate-two-containers-running'),
      { source: 'aws.ecs', 'detail-type': 'ECS Task State Change', id: 'x', detail: {} },
    ]);
    expect(await invoke('register', event)).toEqual({
      ok: true,
      value: { batchItemFailures: [{ itemIdentifier: event.Records[1]!.messageId }] },
    });
  });

  it('register rejects a malformed event with a clear error', async () => {
    expect(
      await invoke('register', { source: 'aws.ecs', 'detail-type': 'ECS Task State Change', id: 'x', detail: {} }),
    ).toEqual({
      ok: false,
      value: {
        name: 'InvalidEventError',
        message: 'invalid event at detail.taskArn: Invalid input: expected string, received undefined',
      },
    });
  });

  it('renew renews what register wrote; deregister removes the stopping and the Spot-interrupted tasks', async () => {
    expect(await invoke('renew', loadEvent('scheduled-event'))).toMatchObject({
      ok: true,
      value: { records: 3, renewed: 3, failed: 0 },
    });
    expect(await invoke('deregister', loadEvent('fargate-stopping-desired-stopped'))).toMatchObject({
      ok: true,
      value: { action: 'removed' },
    });
    const spot = loadEvent('fargate-spot-interruption');
    spot.detail.taskArn = loadEvent('fargate-two-containers-running').detail.taskArn;
    expect(await invoke('deregister', spot)).toMatchObject({
      ok: true,
      value: {
        action: 'removed',
        keys: [expect.stringContaining('/orders/'), expect.stringContaining('/orders-admin/')],
      },
    });
    expect(await invoke('deregister', loadEvent('fargate-stopped-essential-container-exited-fivexl'))).toMatchObject({
      ok: true,
      value: { action: 'tombstoned' },
    });
  });

  it('follow publishes a health-gated task once ECS says HEALTHY (the sample follow-up message); register queued its first check', async () => {
    const gated = loadEvent('fargate-stopped-essential-container-exited-fivexl');
    const sample = loadEvent('follow-up-sqs-batch');
    const taskArn = JSON.parse(sample.Records[0].body).taskArn as string; // another task of that definition
    const running = { ...gated, detail: runningFromStopped(gated.detail, { taskArn }) };
    aws.putTaskFromDetail(running.detail);
    expect(await invoke('register', running)).toMatchObject({ ok: true, value: { action: 'pending' } });
    expect(aws.queue(followQueue).messages.map((m) => JSON.parse(m.body).taskArn)).toEqual([taskArn]);
    aws.updateTask(taskArn, { healthStatus: 'HEALTHY' });
    expect(await invoke('follow', sample)).toEqual({ ok: true, value: { batchItemFailures: [] } });
    const etcd = new Etcd3({ hosts: env.ETCD_ENDPOINTS! });
    try {
      const keys = await etcd.getAll().prefix(`${env.REGISTRY_PREFIX}/`).keys();
      const id = taskArn.split('/').pop()!;
      // The envoy sidecar carries registrar.skip=true.
      expect(keys.filter((k) => k.includes(id))).toEqual([`${env.REGISTRY_PREFIX}/example-api-v1/${id}:8080`]);
    } finally {
      etcd.close();
    }
  });
});
