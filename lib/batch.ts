/**
 * Started-task events delivered in batches through an SQS queue (EventBridge → SQS → register), for
 * fleets that start tasks faster than one invocation per event keeps up with. Each message body is
 * an EventBridge event, registered as the direct path registers it; only the messages that failed
 * are reported back (Powertools' partial batch response), so SQS retries just those and one bad
 * message never fails the batch.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import pLimit from 'p-limit';
import { InvalidEventError } from './errors';

/**
 * Messages of one batch registered at once. Enough to keep etcd busy from one invocation; low
 * enough that the register function's reserved concurrency times this stays a modest number of
 * requests in flight on etcd.
 */
export const MESSAGES_IN_FLIGHT = 16;

/** What became of one message. */
export type MessageResult<T> =
  | { readonly messageId: string; readonly taskArn?: string; readonly eventId?: string; readonly outcome: T }
  | { readonly messageId: string; readonly taskArn?: string; readonly eventId?: string; readonly error: unknown };

/** Options for {@link registerMessages}. */
export interface RegisterMessagesOptions<T> {
  /** The Lambda context, handed to Powertools. */
  readonly context?: Context;
  /** Told the result of every message (for logs and metrics). */
  readonly report?: (result: MessageResult<T>) => void;
  /** Messages registered at once. @default {@link MESSAGES_IN_FLIGHT} */
  readonly inFlight?: number;
}

/** True for an event SQS delivered (every record from `aws:sqs`). */
export function isSqsEvent(event: unknown): event is SQSEvent {
  const records = (event as { Records?: unknown } | null)?.Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every((r) => (r as { eventSource?: unknown } | null)?.eventSource === 'aws:sqs')
  );
}

/** The EventBridge event a message carries; a body that is not JSON is a malformed event. */
function eventOf(record: SQSRecord): unknown {
  try {
    return JSON.parse(record.body);
  } catch {
    throw new InvalidEventError(`SQS message ${record.messageId} does not carry a JSON event`, 'body');
  }
}

function field(value: unknown, ...path: string[]): string | undefined {
  for (const key of path) value = (value as Record<string, unknown> | null | undefined)?.[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Registers the event of every message of an SQS batch with `register`, at most `inFlight` at
 * once, and returns the messages that failed. Messages about the same task are registered one
 * after the other, in the order SQS delivered them: any order would end in the same state (the
 * registry orders a task's writes by version), but one at a time they do not race each other.
 *
 * @example
 * return registerMessages(event, (e) => registrar.registerEvent(e), { context });
 */
export async function registerMessages<T>(
  event: SQSEvent,
  register: (event: unknown) => Promise<T>,
  options: RegisterMessagesOptions<T> = {},
): Promise<SQSBatchResponse> {
  const limit = pLimit(options.inFlight ?? MESSAGES_IN_FLIGHT);
  const lastOfTask = new Map<string, Promise<unknown>>();
  const handle = async (record: SQSRecord): Promise<T> => {
    let body: unknown;
    try {
      body = eventOf(record);
    } catch (error) {
      options.report?.({ messageId: record.messageId, error });
      throw error;
    }
    const ids = { messageId: record.messageId, taskArn: field(body, 'detail', 'taskArn'), eventId: field(body, 'id') };
    const before = ids.taskArn === undefined ? undefined : lastOfTask.get(ids.taskArn);
    // Wait for the task's previous message outside the limiter, so waiting holds no slot.
    const done = (before ?? Promise.resolve()).catch(() => undefined).then(() => limit(() => register(body)));
    if (ids.taskArn !== undefined) lastOfTask.set(ids.taskArn, done);
    try {
      const outcome = await done;
      options.report?.({ ...ids, outcome });
      return outcome;
    } catch (error) {
      options.report?.({ ...ids, error });
      throw error;
    }
  };
  return processPartialResponse(event, handle, new BatchProcessor(EventType.SQS), { context: options.context });
}
