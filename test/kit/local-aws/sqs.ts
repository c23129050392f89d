/**
 * The local SQS: queues with per-message delays, visibility timeouts and a redrive to a dead-letter
 * queue, as SQS does them, and SendMessage / SendMessageBatch over SQS's JSON protocol
 * (`x-amz-target: AmazonSQS.<Operation>`, as SDK v3 speaks it). `../local-sqs.ts` delivers the due
 * messages to a handler.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { CallGate, Json, Send } from './endpoint';

/** One message held by a {@link LocalQueue}. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5: string;
  /** Epoch ms when it was sent. */
  readonly sentAt: number;
  /** Epoch ms from which it can be received (its delay, then its visibility timeout). */
  visibleAt: number;
  /** Times it was received. */
  receiveCount: number;
}

/** A local SQS queue: delays, visibility timeouts and a redrive to a dead-letter queue, as SQS does them. */
export class LocalQueue {
  /** Messages not deleted yet, received or not. */
  readonly messages: QueuedMessage[] = [];
  /** Messages ever sent to the queue. */
  sent = 0;

  constructor(
    readonly url: string,
    /** A message received this many times goes to `deadLetter` instead of an `maxReceiveCount + 1`th receive. */
    readonly redrive?: { readonly deadLetter: LocalQueue; readonly maxReceiveCount: number },
    /** How long a received message stays invisible (SQS: the queue's VisibilityTimeout). */
    readonly visibilityTimeoutMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds a message, visible after `delaySeconds`. */
  send(body: string, delaySeconds = 0): QueuedMessage {
    const now = this.now();
    const message: QueuedMessage = {
      messageId: randomUUID(),
      body,
      md5: createHash('md5').update(body).digest('hex'),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    };
    this.messages.push(message);
    this.sent++;
    return message;
  }

  /** Receives up to `max` visible messages, hiding them for the visibility timeout (or moving them to the dead letters). */
  receive(max: number): QueuedMessage[] {
    const now = this.now();
    const out: QueuedMessage[] = [];
    for (const message of [...this.messages].sort((a, b) => a.visibleAt - b.visibleAt)) {
      if (out.length >= max || message.visibleAt > now) break;
      if (this.redrive && message.receiveCount >= this.redrive.maxReceiveCount) {
        this.delete(message.messageId);
        this.redrive.deadLetter.messages.push({ ...message, visibleAt: now });
        this.redrive.deadLetter.sent++;
        continue;
      }
      message.receiveCount++;
      message.visibleAt = now + this.visibilityTimeoutMs;
      out.push(message);
    }
    return out;
  }

  /** Deletes a received message (the consumer handled it). */
  delete(messageId: string): void {
    const i = this.messages.findIndex((m) => m.messageId === messageId);
    if (i >= 0) this.messages.splice(i, 1);
  }

  /** Epoch ms at which the next message becomes visible, or undefined when the queue is empty. */
  nextVisibleAt(): number | undefined {
    return this.messages.length === 0 ? undefined : Math.min(...this.messages.map((m) => m.visibleAt));
  }
}

/** The queues of the local SQS and its answers. */
export class LocalSqs {
  /** SQS queues by URL. */
  readonly queues = new Map<string, LocalQueue>();

  /** Creates a queue at `<endpoint>/123456789012/<name>`, with a redrive when `deadLetter` is given. */
  createQueue(
    endpoint: string,
    name: string,
    options: {
      readonly deadLetter?: string;
      readonly maxReceiveCount?: number;
      readonly visibilityTimeoutMs?: number;
    },
  ): string {
    const url = `${endpoint}/123456789012/${name}`;
    const deadLetter = options.deadLetter === undefined ? undefined : this.queue(options.deadLetter);
    this.queues.set(
      url,
      new LocalQueue(
        url,
        deadLetter && { deadLetter, maxReceiveCount: options.maxReceiveCount ?? 3 },
        options.visibilityTimeoutMs,
      ),
    );
    return url;
  }

  /** The queue at `url`. */
  queue(url: string): LocalQueue {
    const queue = this.queues.get(url);
    if (!queue) throw new Error(`no local queue ${url}`);
    return queue;
  }

  /** Answers one SQS call (after counting it and its faults at `gate`). */
  answer(operation: string, input: Json, gate: CallGate, send: Send): void {
    const fault = gate.enter(operation);
    if (fault)
      return send(fault.status ?? 400, {
        __type: `com.amazonaws.sqs#${fault.code}`,
        message: `injected ${fault.code}`,
      });
    const queue = this.queues.get(String(input.QueueUrl));
    if (!queue)
      return send(400, {
        __type: 'com.amazonaws.sqs#QueueDoesNotExist',
        message: 'The specified queue does not exist.',
      });
    switch (operation) {
      case 'SendMessage': {
        if (typeof input.MessageBody !== 'string' || input.MessageBody === '')
          return send(400, { __type: 'com.amazonaws.sqs#MissingParameter', message: 'MessageBody is required' });
        if (badDelay(input.DelaySeconds))
          return send(400, {
            __type: 'com.amazonaws.sqs#InvalidParameterValue',
            message: 'DelaySeconds must be 0-900',
          });
        const message = queue.send(input.MessageBody, delayOf(input.DelaySeconds));
        return send(200, { MessageId: message.messageId, MD5OfMessageBody: message.md5 });
      }
      case 'SendMessageBatch':
        return sendBatch(queue, (input.Entries as Json[]) ?? [], send);
      default:
        return send(400, {
          __type: 'com.amazonaws.sqs#UnsupportedOperation',
          message: `local endpoint does not implement ${operation}`,
        });
    }
  }
}

const delayOf = (value: unknown) => (value === undefined ? 0 : Number(value));
const badDelay = (value: unknown) => !Number.isInteger(delayOf(value)) || delayOf(value) < 0 || delayOf(value) > 900;

function sendBatch(queue: LocalQueue, entries: Json[], send: Send): void {
  if (entries.length === 0 || entries.length > 10)
    return send(400, {
      __type: 'com.amazonaws.sqs#TooManyEntriesInBatchRequest',
      message: 'a batch holds 1 to 10 entries',
    });
  const Successful: Json[] = [];
  const Failed: Json[] = [];
  for (const entry of entries) {
    if (typeof entry.MessageBody !== 'string' || entry.MessageBody === '' || badDelay(entry.DelaySeconds)) {
      Failed.push({
        Id: entry.Id,
        SenderFault: true,
        Code: 'InvalidParameterValue',
        Message: 'MessageBody required, DelaySeconds 0-900',
      });
      continue;
    }
    const message = queue.send(entry.MessageBody, delayOf(entry.DelaySeconds));
    Successful.push({ Id: entry.Id, MessageId: message.messageId, MD5OfMessageBody: message.md5 });
  }
  return send(200, { Successful, Failed });
}
