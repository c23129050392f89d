/**
 * The follow queue: where follow-up messages wait for their next check. The SQS client is loaded
 * on the first send only, so a function that never records a pending task never loads it.
 * Endpoint, region, retries and credentials come from the SDK's own configuration.
 */
import { DependencyError, errorMessage } from '../errors';
import type { FollowMessage } from './message';

/** One message to send, and how long SQS keeps it invisible. */
export interface Outgoing {
  readonly body: FollowMessage;
  /** 0-900 seconds. */
  readonly delaySeconds: number;
}

/** Sends follow-up messages. */
export interface FollowQueue {
  /**
   * Sends the messages (10 per SQS call).
   *
   * @returns the indexes of the messages SQS refused (the rest were sent).
   * @throws {DependencyError} when SQS could not be reached at all.
   */
  send(
    messages: readonly Outgoing[],
  ): Promise<{ readonly failed: readonly { readonly index: number; readonly error: string }[] }>;
}

/** SendMessageBatch takes at most this many entries. */
const SEND_BATCH = 10;

type Sender = (
  entries: { Id: string; MessageBody: string; DelaySeconds: number }[],
) => Promise<{ Failed?: { Id?: string; Code?: string; Message?: string }[] }>;

async function loadSender(queueUrl: string): Promise<Sender> {
  const { SQSClient, SendMessageBatchCommand } = await import('@aws-sdk/client-sqs');
  const client = new SQSClient({});
  return (entries) => client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
}

/** {@link FollowQueue} over SQS. */
export class SqsFollowQueue implements FollowQueue {
  /** SendMessageBatch calls made so far. */
  calls = 0;
  private sender?: Promise<Sender>;

  constructor(private readonly queueUrl: string) {}

  async send(messages: readonly Outgoing[]): Promise<{ failed: { index: number; error: string }[] }> {
    this.sender ??= loadSender(this.queueUrl);
    const sender = await this.sender.catch((err: unknown) => {
      this.sender = undefined;
      throw new DependencyError('sqs', `loading the SQS client failed: ${errorMessage(err)}`, { cause: err });
    });
    const failed: { index: number; error: string }[] = [];
    const batches: Promise<void>[] = [];
    for (let i = 0; i < messages.length; i += SEND_BATCH) {
      const start = i;
      const entries = messages
        .slice(i, i + SEND_BATCH)
        .map((m, j) => ({ Id: String(start + j), MessageBody: JSON.stringify(m.body), DelaySeconds: m.delaySeconds }));
      this.calls++;
      batches.push(
        sender(entries).then(
          (out) => {
            for (const f of out.Failed ?? [])
              failed.push({ index: Number(f.Id), error: `${f.Code ?? 'Failed'}: ${f.Message ?? ''}`.trim() });
          },
          (err: unknown) => {
            for (let j = 0; j < entries.length; j++)
              failed.push({
                index: start + j,
                error: `SendMessageBatch failed: ${(err as Error)?.name ?? 'Error'}: ${errorMessage(err)}`,
              });
          },
        ),
      );
    }
    await Promise.all(batches);
    return { failed };
  }
}
