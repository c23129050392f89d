// How started-task events reach the register function, chosen by the `ingest` parameter:
//
//   direct (default)  EventBridge invokes register once per event (asynchronous invocation).
//   sqs               EventBridge sends the events to a queue and register consumes it in batches
//                     (up to `ingestBatchSize` per invocation, at most `ingestMaxConcurrency`
//                     invocations at once), reporting failed messages only (ReportBatchItemFailures).
//                     For fleets that start hundreds of tasks at once: one invocation registers a
//                     whole batch, and the queue absorbs bursts beyond that.
//
// serverless.yml uses `events` for the register function and adds `resources` to the template.

const INGEST = ['direct', 'sqs'];

async function settings(resolveVariable) {
  const ingest = String((await resolveVariable('param:ingest')) ?? 'direct');
  if (!INGEST.includes(ingest)) throw new Error(`ingest: expected one of ${INGEST.join(', ')}, got "${ingest}"`);
  const int = async (name, min, max) => {
    const raw = String(await resolveVariable(`param:${name}`));
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max)
      throw new Error(`${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
    return value;
  };
  return {
    ingest,
    batchSize: await int('ingestBatchSize', 1, 10000),
    maxConcurrency: await int('ingestMaxConcurrency', 2, 1000),
    pattern: await resolveVariable('self:custom.registerPattern'),
  };
}

/** The register function's trigger. */
async function events({ resolveVariable }) {
  const { ingest, batchSize, maxConcurrency, pattern } = await settings(resolveVariable);
  if (ingest === 'direct')
    return [
      {
        eventBridge: {
          pattern,
          retryPolicy: { maximumEventAge: 86400, maximumRetryAttempts: 185 },
          deadLetterQueueArn: { 'Fn::GetAtt': ['RegisterDeadLetterQueue', 'Arn'] },
        },
      },
    ];
  return [
    {
      sqs: {
        arn: { 'Fn::GetAtt': ['RegisterIngestQueue', 'Arn'] },
        batchSize,
        // SQS requires a batching window of at least 1 s for batches above 10; it is also the
        // most a registration waits for its batch to fill.
        maximumBatchingWindow: batchSize > 10 ? 1 : 0,
        functionResponseType: 'ReportBatchItemFailures',
        maximumConcurrency: maxConcurrency,
      },
    },
  ];
}

/** The queue, its dead letters, the rule that feeds it, and their alarms (sqs only). */
async function resources({ resolveVariable }) {
  const { ingest, pattern } = await settings(resolveVariable);
  if (ingest === 'direct') return { Resources: {} };
  const service = await resolveVariable('self:service');
  const stage = await resolveVariable('sls:stage');
  const ruleName = `${service}-${stage}-register-ingest`;
  const alarm = (name, description, metric, threshold) => ({
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: `${service}-${stage}-${name}`,
      AlarmDescription: description,
      Namespace: 'AWS/SQS',
      MetricName: metric.name,
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [metric.queue, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: metric.periods ?? 1,
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    },
  });
  return {
    Resources: {
      RegisterIngestQueue: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          QueueName: `${service}-${stage}-register-ingest`,
          // Six times the function's timeout, as Lambda advises for queues it consumes.
          VisibilityTimeout: 120,
          MessageRetentionPeriod: 86400, // EventBridge's own retry horizon
          SqsManagedSseEnabled: true,
          RedrivePolicy: {
            deadLetterTargetArn: { 'Fn::GetAtt': ['RegisterIngestDeadLetterQueue', 'Arn'] },
            maxReceiveCount: 5,
          },
        },
      },
      RegisterIngestDeadLetterQueue: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          QueueName: `${service}-${stage}-register-ingest-dlq`,
          MessageRetentionPeriod: 1209600, // 14 days: time to look, fix, redrive
          SqsManagedSseEnabled: true,
          RedriveAllowPolicy: {
            redrivePermission: 'byQueue',
            sourceQueueArns: [{ 'Fn::GetAtt': ['RegisterIngestQueue', 'Arn'] }],
          },
        },
      },
      RegisterIngestQueuePolicy: {
        Type: 'AWS::SQS::QueuePolicy',
        Properties: {
          Queues: [{ Ref: 'RegisterIngestQueue' }],
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: 'events.amazonaws.com' },
                Action: 'sqs:SendMessage',
                Resource: { 'Fn::GetAtt': ['RegisterIngestQueue', 'Arn'] },
                Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': ['RegisterIngestRule', 'Arn'] } } },
              },
            ],
          },
        },
      },
      RegisterIngestRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          Name: ruleName,
          Description: 'Started ECS tasks to the register queue',
          EventPattern: pattern,
          Targets: [
            {
              Id: 'register-ingest',
              Arn: { 'Fn::GetAtt': ['RegisterIngestQueue', 'Arn'] },
              RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
              DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['RegisterDeadLetterQueue', 'Arn'] } },
            },
          ],
        },
      },
      RegisterIngestDeadLetterAlarm: alarm(
        'register-ingest-dead-letters',
        'Started-task messages that failed every delivery to register (5 receives). Their tasks are missing from etcd until the next renew tick repairs them; read the messages, fix the cause, redrive the queue (docs/operations.md).',
        { name: 'ApproximateNumberOfMessagesVisible', queue: 'RegisterIngestDeadLetterQueue' },
        0,
      ),
      RegisterIngestLagAlarm: alarm(
        'register-ingest-lagging',
        'For 5 minutes the oldest started-task message waited more than 2 minutes: register does not keep up (concurrency, etcd latency). New tasks become routable late; renew still repairs them every minute.',
        { name: 'ApproximateAgeOfOldestMessage', queue: 'RegisterIngestQueue', periods: 5 },
        120,
      ),
    },
    Outputs: {
      RegisterIngestQueueUrl: { Value: { Ref: 'RegisterIngestQueue' } },
      RegisterIngestDeadLetterQueueUrl: { Value: { Ref: 'RegisterIngestDeadLetterQueue' } },
    },
  };
}

module.exports = { events, resources };
