/**
 * The follow function's work for one SQS batch of follow-up messages: read what etcd holds of each
 * task, ask ECS about the ones still pending (one DescribeTasks per cluster and 100 tasks, through
 * the same reader, retries and budget as the rest), then per task publish, withdraw, stop, give up
 * or send the message again for the next check. The decisions are `lib/follow/plan.ts`'s.
 *
 * Errors: a malformed message or one naming a task etcd does not know is permanent: acknowledged
 * (never retried), reported as `rejected`. A failure of etcd, ECS or SQS is retryable: the message
 * is reported in `batchItemFailures`, so SQS delivers it again and, after the queue's
 * maxReceiveCount, moves it to the dead-letter queue.
 */
import pLimit from 'p-limit';
import { WriteSource } from '../decide';
import type { EcsReader } from '../ecs/reader';
import type { TaskSnapshot } from '../ecs/task';
import { errorMessage, InvalidEventError, type RegistrarError } from '../errors';
import type { Registry, TaskState } from '../etcd/registry';
import type { Log } from '../log';
import type { Registrar } from '../registrar';
import { nextMessage, parseFollowMessage, type ParsedFollowMessage } from './message';
import { decideFollowUp, decideWithoutEcs, type FollowDecision } from './plan';
import type { FollowQueue, Outgoing } from './queue';

/** etcd reads and writes in flight at once within one batch. */
const IN_FLIGHT = 16;

/** One message of the batch (an SQS record's id and body). */
export interface FollowRecord {
  readonly messageId: string;
  readonly body: string;
}

/** What became of one message. */
export interface FollowResult {
  readonly messageId: string;
  readonly taskArn?: string;
  /**
   * `published`/`withdrawn`: written from ECS's answer; `again`: sent back for the next check;
   * `done`: nothing left to do; `give-up`: past its bound, renew in charge; `rejected`: bad input,
   * acknowledged; `failed`: retryable, reported to SQS.
   */
  readonly outcome: 'published' | 'withdrawn' | 'again' | 'done' | 'give-up' | 'rejected' | 'failed';
  readonly reason?: string;
  readonly attempt?: number;
  /** For `rejected` and `failed`. */
  readonly error?: RegistrarError | Error;
}

/** Dependencies of {@link followMessages}. */
export interface FollowDeps {
  readonly registry: Pick<Registry, 'readTask'>;
  readonly ecs: Pick<EcsReader, 'describeTasks'>;
  readonly registrar: Pick<Registrar, 'register'>;
  readonly queue: FollowQueue;
  readonly log: Log;
  /** Decide and report, write and send nothing (`DRY_RUN`). @default false */
  readonly dryRun?: boolean;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Work {
  readonly record: FollowRecord;
  readonly message: ParsedFollowMessage;
  state?: TaskState;
  described?: TaskSnapshot | 'missing';
}

/**
 * Follows up one batch of messages.
 *
 * @returns one result per message, and the messages SQS must deliver again.
 * @example
 * const { batchItemFailures } = await followMessages(event.Records, deps);
 */
export async function followMessages(
  records: readonly FollowRecord[],
  deps: FollowDeps,
): Promise<{ results: FollowResult[]; batchItemFailures: { itemIdentifier: string }[] }> {
  const batch: Batch = { deps, now: deps.now ?? Date.now, limit: pLimit(IN_FLIGHT), results: [] };
  const work = parseRecords(records, batch.results);
  const toAsk = await readEtcd(work, batch);
  const decided = await askEcs(toAsk, batch);
  const outgoing = await writeDecided(decided, batch);
  await sendAgain(outgoing, batch);
  return {
    results: batch.results,
    batchItemFailures: batch.results
      .filter((r) => r.outcome === 'failed')
      .map((r) => ({ itemIdentifier: r.messageId })),
  };
}

/** What the stages of one batch share: results are pushed in the order each message settles. */
interface Batch {
  readonly deps: FollowDeps;
  readonly now: () => number;
  readonly limit: ReturnType<typeof pLimit>;
  readonly results: FollowResult[];
}

/** Validates; a task named twice in one batch (SQS delivers at least once) is followed once. */
function parseRecords(records: readonly FollowRecord[], results: FollowResult[]): Work[] {
  const work: Work[] = [];
  const seen = new Set<string>();
  for (const record of records) {
    let message: ParsedFollowMessage;
    try {
      message = parseFollowMessage(record.body);
    } catch (err) {
      results.push({
        messageId: record.messageId,
        outcome: 'rejected',
        error: err as Error,
        reason: errorMessage(err),
      });
      continue;
    }
    if (seen.has(message.taskArn)) {
      results.push({
        messageId: record.messageId,
        taskArn: message.taskArn,
        attempt: message.attempt,
        outcome: 'done',
        reason: 'another message of this batch follows the same task',
      });
      continue;
    }
    seen.add(message.taskArn);
    work.push({ record, message });
  }
  return work;
}

/** What etcd holds: only tasks still pending are worth an ECS read; the others settle here. */
async function readEtcd(work: readonly Work[], batch: Batch): Promise<Work[]> {
  const toAsk: Work[] = [];
  await Promise.all(
    work.map((w) =>
      batch.limit(async () => {
        try {
          w.state = await batch.deps.registry.readTask(w.message.ref);
        } catch (err) {
          return fail(batch.results, w, err);
        }
        const decision = decideWithoutEcs({ ...facts(w), nowMs: batch.now() });
        if (decision) settle(batch.results, w, decision);
        else toAsk.push(w);
      }),
    ),
  );
  return toAsk;
}

/** What ECS says, one cluster at a time through the shared reader (100 tasks per call). */
async function askEcs(toAsk: readonly Work[], batch: Batch): Promise<{ w: Work; decision: FollowDecision }[]> {
  const { deps } = batch;
  const byCluster = new Map<string, Work[]>();
  for (const w of toAsk) byCluster.set(w.message.clusterArn, [...(byCluster.get(w.message.clusterArn) ?? []), w]);
  const decided: { w: Work; decision: FollowDecision }[] = [];
  for (const [cluster, group] of byCluster) {
    let answer: Awaited<ReturnType<typeof deps.ecs.describeTasks>>;
    try {
      answer = await deps.ecs.describeTasks(
        cluster,
        group.map((w) => w.message.taskArn),
      );
    } catch (err) {
      deps.log.warn('follow-up: ECS failed for cluster; its messages will be delivered again', {
        cluster,
        error: errorMessage(err),
      });
      for (const w of group) fail(batch.results, w, err);
      continue;
    }
    const byArn = new Map(answer.tasks.map((t) => [t.taskArn, t]));
    for (const w of group) {
      // MISSING (or an answer this code does not trust) is no evidence of anything: ask again.
      w.described = byArn.get(w.message.taskArn) ?? 'missing';
      decided.push({ w, decision: decideFollowUp({ ...facts(w), described: w.described, nowMs: batch.now() }) });
    }
  }
  return decided;
}

/** Writes what ECS's answer decided; returns the messages to send again for the next check. */
async function writeDecided(
  decided: readonly { w: Work; decision: FollowDecision }[],
  batch: Batch,
): Promise<{ w: Work; out: Outgoing }[]> {
  const { deps, results } = batch;
  const outgoing: { w: Work; out: Outgoing }[] = [];
  await Promise.all(
    decided.map(({ w, decision }) => {
      if (decision.action === 'again') {
        outgoing.push({ w, out: { body: nextMessage(w.message), delaySeconds: decision.delaySeconds } });
        return undefined;
      }
      if (decision.action !== 'write') return settle(results, w, decision);
      return batch.limit(async () => {
        const health = decision.health === 'ready' ? 'HEALTHY' : 'UNHEALTHY';
        if (deps.dryRun)
          return settle(results, w, { action: 'done', reason: `dry run: ECS says ${health}, would write it` });
        try {
          const outcome = await deps.registrar.register(w.described as TaskSnapshot, {
            source: WriteSource.PendingCheck,
            known: w.state,
          });
          const reason = `ECS says ${health}: ${outcome.action}${outcome.reason ? ` (${outcome.reason})` : ''}`;
          if (outcome.action === 'registered' || outcome.action === 'empty')
            results.push(result(w, 'published', reason));
          else if (outcome.action === 'withdrawn') results.push(result(w, 'withdrawn', reason));
          else results.push(result(w, 'done', reason));
        } catch (err) {
          if (err instanceof InvalidEventError)
            return settle(results, w, {
              action: 'give-up',
              reason: `ECS's answer cannot be registered: ${err.message}`,
            });
          fail(results, w, err);
        }
      });
    }),
  );
  return outgoing;
}

/** Sends the still-pending messages back for the next check, in one batch. */
async function sendAgain(outgoing: readonly { w: Work; out: Outgoing }[], batch: Batch): Promise<void> {
  const { deps, results } = batch;
  if (outgoing.length === 0) return;
  if (deps.dryRun) {
    for (const { w } of outgoing) results.push(result(w, 'done', 'dry run: still pending, would check again'));
    return;
  }
  let failed: ReadonlyMap<number, string>;
  try {
    failed = new Map((await deps.queue.send(outgoing.map((o) => o.out))).failed.map((f) => [f.index, f.error]));
  } catch (err) {
    failed = new Map(outgoing.map((_, i) => [i, errorMessage(err)]));
  }
  outgoing.forEach(({ w, out }, i) => {
    const error = failed.get(i);
    if (error !== undefined) fail(results, w, new Error(`sending the next follow-up failed: ${error}`));
    else results.push(result(w, 'again', `still pending: next check in ${out.delaySeconds} s`));
  });
}

function fail(results: FollowResult[], w: Pick<Work, 'record' | 'message'>, err: unknown): void {
  results.push({
    messageId: w.record.messageId,
    taskArn: w.message.taskArn,
    attempt: w.message.attempt,
    outcome: 'failed',
    error: err instanceof Error ? err : new Error(String(err)),
  });
}

/** Reports a decision taken without ECS's answer. */
function settle(results: FollowResult[], w: Work, decision: FollowDecision): void {
  switch (decision.action) {
    case 'done':
      results.push(result(w, 'done', decision.reason));
      return;
    case 'give-up':
      results.push(result(w, 'give-up', decision.reason));
      return;
    case 'unknown': {
      const error = new InvalidEventError(
        `follow-up names an unknown task ${w.message.taskArn}: ${decision.reason}`,
        'body.taskArn',
      );
      results.push({ ...result(w, 'rejected', decision.reason), error });
      return;
    }
    default:
      throw new Error(`unexpected decision ${decision.action} without ECS`);
  }
}

function facts(w: Work) {
  return {
    checkEverySeconds: w.message.checkEverySeconds,
    giveUpAt: w.message.giveUpAt,
    attempt: w.message.attempt,
    record: w.state?.record?.record,
    tombstoned: Boolean(w.state?.tombstone),
  };
}

function result(w: Work, outcome: FollowResult['outcome'], reason: string): FollowResult {
  return { messageId: w.record.messageId, taskArn: w.message.taskArn, attempt: w.message.attempt, outcome, reason };
}
