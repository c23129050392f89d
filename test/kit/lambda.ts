/**
 * Lambda contexts for calling handlers directly, as Lambda would (tests, benchmarks, the demo,
 * `npm run invoke`, the local SQS delivery), and the non-ECS events the functions get.
 */
import type { Context, SQSEvent } from 'aws-lambda';

/**
 * A Lambda context whose remaining time counts down from `timeoutMs` (never below 0, as Lambda's).
 * Make one per invocation: the countdown starts when it is made.
 */
export function lambdaContext(functionName: string, timeoutMs = 30_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A scheduled EventBridge event, as the renew schedule sends it. */
export const scheduledEvent = {
  version: '0',
  id: '89d1a02d-5ec7-412e-82f5-13505f849b41',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-11-22T12:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/renew'],
  detail: {},
};

/** An SQS batch as Lambda delivers it from the register queue: one message per body (events are sent as JSON). */
export function sqsEvent(bodies: readonly unknown[]): SQSEvent {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `msg-${i}-${Math.random().toString(16).slice(2, 10)}`,
      receiptHandle: `receipt-${i}`,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '1795354200000',
        SenderId: 'AIDAEVENTBRIDGE',
        ApproximateFirstReceiveTimestamp: '1795354200100',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:ecs-etcd-registrar-ci-register-ingest',
      awsRegion: 'us-east-1',
    })),
  };
}
