/**
 * What Lambda's SQS event source does, locally: polls a {@link LocalQueue} for due messages and
 * invokes a handler with them as an SQS event (up to `batchSize` at once, one batch at a time).
 * Messages the handler reports in `batchItemFailures`, or all of them when it throws, become
 * visible again after the queue's visibility timeout; the rest are deleted. After the queue's
 * maxReceiveCount a message goes to its dead-letter queue.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { lambdaContext } from './lambda';
import type { LocalQueue, QueuedMessage } from './local-aws';

/** One invocation of the handler with a batch. */
export interface Delivery {
  /** `performance.now()` when the handler was called and when it returned. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly messages: readonly QueuedMessage[];
  /** Message ids reported failed (all, when the handler threw). */
  readonly failed: readonly string[];
  readonly error?: unknown;
}

/** A running consumer. */
export interface QueueConsumer {
  /** Every delivery so far (each listed after its `onDelivery` hook returned). */
  readonly deliveries: Delivery[];
  /** Stops polling; resolves once the batch in flight (if any) is done. */
  stop(): Promise<void>;
}

type Handler = (event: SQSEvent, context: never) => Promise<unknown>;

/** Options of {@link consumeQueue}. */
export interface ConsumeOptions {
  /** Messages per invocation (the event source's batchSize). @default 100 */
  readonly batchSize?: number;
  /** Longest pause between two polls of an idle queue. @default 50 */
  readonly pollMs?: number;
  /**
   * How long to gather messages once one is due, unless `batchSize` are (the event source's
   * maximumBatchingWindow). @default 0
   */
  readonly batchingWindowMs?: number;
  /** Told each delivery once the handler returned. */
  readonly onDelivery?: (delivery: Delivery) => void | Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The SQS event Lambda builds from received messages. */
export function sqsEventOf(queue: LocalQueue, messages: readonly QueuedMessage[]): SQSEvent {
  const name = queue.url.split('/').pop()!;
  return {
    Records: messages.map((m) => ({
      messageId: m.messageId,
      receiptHandle: `${m.messageId}#${m.receiveCount}`,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sentAt),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.md5,
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:${name}`,
      awsRegion: 'us-east-1',
    })),
  };
}

/**
 * Starts delivering the queue's due messages to `handler`.
 *
 * @example
 * const consumer = consumeQueue(aws.queue(url), functions.follow);
 * await consumer.stop();
 */
export function consumeQueue(queue: LocalQueue, handler: Handler, options: ConsumeOptions = {}): QueueConsumer {
  const deliveries: Delivery[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const window = options.batchingWindowMs ?? 0;
      const firstDue = queue.nextVisibleAt();
      if (window > 0 && firstDue !== undefined && firstDue <= Date.now()) {
        const due = () => queue.messages.filter((m) => m.visibleAt <= Date.now()).length;
        while (running && due() < (options.batchSize ?? 100) && Date.now() < firstDue + window)
          await sleep(Math.min(options.pollMs ?? 50, firstDue + window - Date.now()));
      }
      const messages = queue.receive(options.batchSize ?? 100);
      if (messages.length === 0) {
        const next = queue.nextVisibleAt();
        await sleep(Math.max(1, Math.min(options.pollMs ?? 50, next === undefined ? Infinity : next - Date.now())));
        continue;
      }
      const startedAt = performance.now();
      let failed: string[];
      let error: unknown;
      try {
        const response = (await handler(sqsEventOf(queue, messages), lambdaContext('follow', 20_000) as never)) as
          | SQSBatchResponse
          | undefined;
        failed = (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
      } catch (err) {
        error = err;
        failed = messages.map((m) => m.messageId);
      }
      for (const m of messages) if (!failed.includes(m.messageId)) queue.delete(m.messageId);
      const delivery: Delivery = { startedAt, endedAt: performance.now(), messages, failed, error };
      // Listed once its hook is done, so whoever reads `deliveries` sees what the hook recorded.
      await options.onDelivery?.(delivery);
      deliveries.push(delivery);
    }
  })();
  return {
    deliveries,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
