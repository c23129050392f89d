/**
 * The follow-up message: one per pending task, on the follow queue, delayed until its next check.
 * Validated at the edge like an ECS event: a malformed message is an {@link InvalidEventError}.
 */
import * as z from 'zod/mini';
import { InvalidEventError } from '../errors';
import { TASK_DEFINITION_ARN } from '../ecs/arn';
import { taskRefFromArns } from '../ecs/event';
import type { TaskRef } from '../etcd/registry';
import { MAX_FOLLOW_CHECKS } from './plan';

/** Marks a message body as a follow-up (and its layout's version). */
export const FOLLOW_MESSAGE_TYPE = 'ecs-etcd-registrar/follow-pending@1';

/** Largest message body accepted (a real one is about 400 bytes). */
const MAX_BODY_BYTES = 4096;

/** What a follow-up message carries. */
export interface FollowMessage {
  readonly type: typeof FOLLOW_MESSAGE_TYPE;
  readonly taskArn: string;
  readonly clusterArn: string;
  readonly taskDefinitionArn: string;
  /** Seconds between checks. */
  readonly checkEverySeconds: number;
  /** Epoch ms after which the follow-up stops. */
  readonly giveUpAt: number;
  /** 1 for the first check, then one more per check. */
  readonly attempt: number;
}

/** A message that passed validation, with the task's registry identity. */
export interface ParsedFollowMessage extends FollowMessage {
  readonly ref: TaskRef;
}

const schema = z.object({
  type: z.literal(FOLLOW_MESSAGE_TYPE, `expected "${FOLLOW_MESSAGE_TYPE}"`),
  taskArn: z.string().check(z.maxLength(512)),
  clusterArn: z.string().check(z.maxLength(512)),
  taskDefinitionArn: z
    .string()
    .check(z.maxLength(512), z.regex(TASK_DEFINITION_ARN, 'expected an ECS task definition ARN')),
  checkEverySeconds: z.int().check(z.minimum(1), z.maximum(900)),
  giveUpAt: z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
  attempt: z.int().check(z.minimum(1), z.maximum(MAX_FOLLOW_CHECKS)),
});

/**
 * Validates the body of a follow-up message.
 *
 * @throws {InvalidEventError} saying what is wrong (not JSON, a missing or bad field).
 * @example
 * const message = parseFollowMessage(record.body);
 */
export function parseFollowMessage(body: string): ParsedFollowMessage {
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES)
    throw new InvalidEventError(`follow-up message body is over ${MAX_BODY_BYTES} bytes`, 'body');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new InvalidEventError('follow-up message body is not JSON', 'body');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new InvalidEventError('follow-up message body is not a JSON object', 'body');
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidEventError(`follow-up message: ${issue.message}`, ['body', ...issue.path.map(String)].join('.'));
  }
  const ref = taskRefFromArns(parsed.data.taskArn, parsed.data.clusterArn, 'body.');
  return { ...parsed.data, ref };
}

/** The body of the next message about the same task. */
export function nextMessage(message: FollowMessage): FollowMessage {
  const { type, taskArn, clusterArn, taskDefinitionArn, checkEverySeconds, giveUpAt, attempt } = message;
  return { type, taskArn, clusterArn, taskDefinitionArn, checkEverySeconds, giveUpAt, attempt: attempt + 1 };
}
