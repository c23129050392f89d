/**
 * Renews many leases by ID from a short-lived process. etcd3's `Lease` class always grants a new
 * lease, so this drives the raw `LeaseKeepAlive` stream: a few shared streams, each with a bounded
 * number of requests in flight (a stream per lease is ~5x slower). An expired lease answers with
 * TTL 0 rather than an error. etcd3 opens a stream on one member and never retries it elsewhere,
 * so with several members the streams are opened on chosen members and fail over (see
 * {@link keepAliveLeases}).
 */
import type { Etcd3 } from 'etcd3';
import { errorMessage } from '../errors';
import { callDeadline, EtcdClient } from './client';

/** Options for {@link keepAliveLeases}. */
export interface KeepAliveOptions {
  /** Streams opened in parallel. @default 4 */
  readonly streams?: number;
  /** Requests in flight per stream. @default 128 */
  readonly inFlight?: number;
  /**
   * Give up on a stream that gets no answer for this long. A round of 100,000 leases takes longer
   * than any fixed per-call timeout, so the bound is on progress; the whole round is still bounded
   * by the invocation's deadline. @default 10000
   */
  readonly timeoutMs?: number;
  /**
   * Give up on a stream whose first answer has not come after this long: a member that accepts
   * the stream and never answers is found within one round trip's bound, not the progress bound.
   * @default timeoutMs
   */
  readonly firstAnswerMs?: number;
}

/** Per-lease outcome of a keepalive round. */
export interface KeepAliveResult {
  /** Renewed leases and the TTL etcd granted. */
  readonly alive: Map<string, number>;
  /** Leases etcd no longer knows (expired or revoked): their keys are gone. */
  readonly expired: Set<string>;
  /** Leases whose renewal failed (stream error, timeout), with why. */
  readonly failed: Map<string, string>;
}

interface KeepAliveStream {
  write(req: { ID: string }): unknown;
  on(event: 'data', cb: (res: { ID: string; TTL: string }) => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  on(event: 'end', cb: () => void): unknown;
  end(): unknown;
  cancel?(): void;
}

/** Longest a keepalive round may last when the invocation sets no deadline. */
const ROUND_LIMIT_MS = 15 * 60_000;

/** How long a stream may wait, and how much it may ask at once. */
interface StreamBounds {
  readonly inFlight: number;
  readonly timeoutMs: number;
  readonly firstAnswerMs: number;
}

/** How a stream ended: the leases it left without an answer, and why. */
interface StreamEnd {
  readonly left: string[];
  readonly reason?: string;
  /** The stream got no answer within the bound (a silent member), rather than an error. */
  readonly timedOut: boolean;
}

async function runStream(
  client: Etcd3,
  ids: readonly string[],
  bounds: StreamBounds,
  result: KeepAliveResult,
): Promise<StreamEnd> {
  const { inFlight, timeoutMs, firstAnswerMs } = bounds;
  let stream: KeepAliveStream;
  try {
    // The stream lives until the round ends (at the latest the invocation's deadline); a stalled
    // stream is ended by the idle timer below.
    stream = (await client.leaseClient.leaseKeepAlive({
      deadline: callDeadline(ROUND_LIMIT_MS),
    })) as unknown as KeepAliveStream;
  } catch (err) {
    return { left: [...ids], reason: `keepalive stream: ${errorMessage(err)}`, timedOut: false };
  }
  return new Promise<StreamEnd>((resolve) => {
    let next = 0;
    const pending = new Set<string>();
    let finished = false;
    const finish = (reason?: string, timedOut = false) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      const left = [...pending, ...ids.slice(next)];
      try {
        stream.end();
        stream.cancel?.();
      } catch {
        // already closed
      }
      resolve({ left, reason: left.length > 0 ? (reason ?? 'keepalive stream closed') : undefined, timedOut });
    };
    const idle = (ms: number) => () => finish(`no keepalive answer within ${ms} ms`, true);
    let timer = setTimeout(idle(firstAnswerMs), firstAnswerMs);
    const progressed = () => {
      clearTimeout(timer);
      timer = setTimeout(idle(timeoutMs), timeoutMs);
    };
    const pump = () => {
      while (pending.size < inFlight && next < ids.length) {
        const id = ids[next++]!;
        pending.add(id);
        stream.write({ ID: id });
      }
      if (pending.size === 0 && next >= ids.length) finish();
    };
    stream.on('data', (res) => {
      const id = String(res.ID);
      if (!pending.delete(id)) return;
      progressed();
      const ttl = Number(res.TTL);
      if (ttl > 0) result.alive.set(id, ttl);
      else result.expired.add(id);
      pump();
    });
    stream.on('error', (err) => finish(`keepalive stream: ${errorMessage(err)}`));
    stream.on('end', () => finish('keepalive stream ended'));
    pump();
  });
}

/**
 * Renews one shard: on the shared client when it is not an {@link EtcdClient} of several members;
 * else on a chosen member, and whatever a failed stream left unanswered again on the next member
 * not tried yet (answering members first), until every member was tried. A member whose stream
 * timed out or failed is marked in the client's {@link MemberHealth}, so the rest of the round and
 * the invocation's unary calls avoid it.
 */
async function renewShard(
  client: Etcd3,
  ids: readonly string[],
  shard: number,
  bounds: StreamBounds,
  result: KeepAliveResult,
): Promise<void> {
  const members = client instanceof EtcdClient && client.health.endpoints.length > 1 ? client : undefined;
  if (!members) {
    const end = await runStream(client, ids, bounds, result);
    for (const id of end.left) result.failed.set(id, end.reason!);
    return;
  }
  const { health } = members;
  const tried = new Set<string>();
  let left: readonly string[] = ids;
  const reasons: string[] = [];
  while (left.length > 0) {
    // Shards start on different members, so a round spreads its streams over the cluster.
    const untried = health.endpoints.filter((e) => !tried.has(e));
    const answering = health.usable().filter((e) => !tried.has(e));
    const choices = answering.length > 0 ? answering : untried;
    const endpoint = choices[shard % Math.max(1, choices.length)];
    if (endpoint === undefined) break;
    tried.add(endpoint);
    const end = await runStream(members.member(endpoint), left, bounds, result);
    if (end.left.length === 0) {
      health.answered(endpoint);
      return;
    }
    if (end.timedOut) health.timedOut(endpoint);
    else health.failed(endpoint);
    reasons.push(`${endpoint}: ${end.reason}`);
    left = end.left;
  }
  for (const id of left) result.failed.set(id, reasons.join('; '));
}

/**
 * Sends one keepalive for each lease and reports which are alive, expired or failed.
 * Never throws for a single lease: per-lease results let renew decide per task. With an
 * {@link EtcdClient} of several members, leases a member failed to renew are renewed on another
 * one within the same round (see {@link renewShard}).
 *
 * @example
 * const { alive, expired, failed } = await keepAliveLeases(client, ['7587869512471142666']);
 */
export async function keepAliveLeases(
  client: Etcd3,
  leaseIds: readonly string[],
  options: KeepAliveOptions = {},
): Promise<KeepAliveResult> {
  const result: KeepAliveResult = { alive: new Map(), expired: new Set(), failed: new Map() };
  const ids = [...new Set(leaseIds)];
  if (ids.length === 0) return result;
  const inFlight = options.inFlight ?? 128;
  const streams = Math.max(1, Math.min(options.streams ?? 4, Math.ceil(ids.length / inFlight)));
  const shards: string[][] = Array.from({ length: streams }, () => []);
  for (const [i, id] of ids.entries()) shards[i % streams]!.push(id);
  // A random first member per round, so single-stream rounds do not all go to the same one.
  const offset = Math.floor(Math.random() * 1024);
  const timeoutMs = options.timeoutMs ?? 10000;
  const bounds = { inFlight, timeoutMs, firstAnswerMs: Math.min(timeoutMs, options.firstAnswerMs ?? timeoutMs) };
  await Promise.all(shards.map((shard, i) => renewShard(client, shard, offset + i, bounds, result)));
  return result;
}

/**
 * Reads the remaining TTL of each lease without renewing it (for dry runs): the same result shape
 * as {@link keepAliveLeases}, with `alive` holding the remaining TTL.
 */
export async function probeLeases(
  client: Etcd3,
  leaseIds: readonly string[],
  concurrency: number,
): Promise<KeepAliveResult> {
  const result: KeepAliveResult = { alive: new Map(), expired: new Set(), failed: new Map() };
  const ids = [...new Set(leaseIds)];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        const ttl = Number((await client.leaseClient.leaseTimeToLive({ ID: id })).TTL);
        if (ttl > 0) result.alive.set(id, ttl);
        else result.expired.add(id);
      } catch (err) {
        result.failed.set(id, `lease TTL: ${errorMessage(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, ids.length)) }, worker));
  return result;
}
