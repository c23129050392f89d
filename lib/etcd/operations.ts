/**
 * etcd requests and what their failures mean: the transaction compare/operation builders, the
 * paging helper, and the translation of etcd3's errors into {@link DependencyError}s an operator
 * can act on.
 */
import {
  CompareResult,
  CompareTarget,
  type Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type ICompare,
  type IRequestOp,
  type ITxnResponse,
} from 'etcd3';
import type { Config } from '../config';
import { DependencyError, errorMessage } from '../errors';

/** Most operations in one etcd transaction (etcd's default `--max-txn-ops` is 128). */
export const TXN_OPS = 100;

/** A key or value as etcd takes it. */
export const bytes = (s: string) => Buffer.from(s, 'utf8');
/** The key does not exist. */
export const absent = (key: string): ICompare => ({
  key: bytes(key),
  target: CompareTarget.Create,
  result: CompareResult.Equal,
  create_revision: 0,
});
/** The key was last modified at `rev`. */
export const modifiedAt = (key: string, rev: string): ICompare => ({
  key: bytes(key),
  target: CompareTarget.Mod,
  result: CompareResult.Equal,
  mod_revision: rev,
});
/** The key is as read: absent when `rev` is undefined, else last modified at `rev`. */
export const unchanged = (key: string, rev: string | undefined) =>
  rev === undefined ? absent(key) : modifiedAt(key, rev);
/** Puts `value` at `key`, on `lease` when given. */
export const put = (key: string, value: string, lease?: string): IRequestOp => ({
  request_put: { key: bytes(key), value: bytes(value), lease },
});
/** Reads one key. */
export const get = (key: string): IRequestOp => ({ request_range: { key: bytes(key) } });
/** Deletes one key. */
export const del = (key: string): IRequestOp => ({ request_delete_range: { key: bytes(key) } });
/** Writes `value` at `key` only when the key does not hold it yet, so an unchanged key keeps its revision. */
export const putIfChanged = (key: string, value: string): IRequestOp => ({
  request_txn: {
    compare: [{ key: bytes(key), target: CompareTarget.Value, result: CompareResult.Equal, value: bytes(value) }],
    success: [],
    failure: [put(key, value)],
  },
});
/** The key exists and hangs on `lease`. */
export const heldBy = (key: string, lease: string): ICompare => ({
  key: bytes(key),
  target: CompareTarget.Lease,
  result: CompareResult.Equal,
  lease,
});
/** Deletes a key only while it still hangs on `lease`: a newer task may own the same key (IP reuse). */
export const deleteIfOwned = (key: string, lease: string): IRequestOp => ({
  request_txn: {
    compare: [{ key: bytes(key), target: CompareTarget.Lease, result: CompareResult.Equal, lease }],
    success: [del(key)],
    failure: [],
  },
});

/** Smallest key greater than every key with this prefix. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * Says what an etcd client error means for the operator, keeping the original text. etcd3 does not
 * always type auth failures (they can arrive as plain gRPC errors), so etcd's own fixed server
 * messages are recognised too.
 */
function explainEtcdError(err: unknown): string {
  const message = errorMessage(err);
  if ((err as { isBrokenCircuitError?: boolean } | null)?.isBrokenCircuitError)
    return `etcd is unreachable: recent calls failed, so the client is not calling it for a few seconds (${message})`;
  if (err instanceof EtcdAuthenticationFailedError || message.includes('etcdserver: authentication failed'))
    return `etcd rejected the user name or password (${message})`;
  if (err instanceof EtcdPermissionDeniedError || message.includes('etcdserver: permission denied'))
    return `etcd denied permission: the user's roles do not grant read/write on REGISTRY_PREFIX and STATE_PREFIX (${message})`;
  if (err instanceof GRPCDeadlineExceededError) return `etcd did not answer before the deadline (${message})`;
  if (err instanceof GRPCUnavailableError) return `etcd is unavailable (${message})`;
  return message;
}

/** Runs an etcd call, turning any failure into a {@link DependencyError} that says so. */
export async function etcdCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DependencyError) throw err;
    throw new DependencyError('etcd', `${what} failed: ${explainEtcdError(err)}`, { cause: err });
  }
}

/** Optional hooks on every etcd request the registry makes. */
export interface CallHooks {
  /** Told the duration of every etcd request the registry makes (for latency metrics). */
  readonly observe?: (operation: string, ms: number) => void;
  /** Asked why etcd is unavailable (e.g. a TLS handshake failure), when it is. */
  readonly diagnose?: () => Promise<string | undefined>;
}

/** Runs one named etcd request (see {@link timedCall}). */
export type EtcdCall = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/**
 * An {@link EtcdCall} that times each request for `observe` and turns failures into a
 * {@link DependencyError}, asking `diagnose` why when etcd is merely "unavailable".
 */
export function timedCall(hooks: CallHooks): EtcdCall {
  return async (what, fn) => {
    const started = performance.now();
    try {
      return await etcdCall(what, fn);
    } catch (err) {
      // "Unavailable" hides TLS failures (grpc-js reports no cause): look closer before reporting.
      const diagnosis =
        err instanceof DependencyError && err.cause instanceof GRPCUnavailableError
          ? await hooks.diagnose?.()
          : undefined;
      if (diagnosis) throw new DependencyError('etcd', `${what} failed: ${diagnosis}`, { cause: err });
      throw err;
    } finally {
      hooks.observe?.(what, performance.now() - started);
    }
  };
}

/** What the registry's modules share: the client, the state layout and TTLs, and the timed call. */
export interface EtcdContext {
  readonly client: Etcd3;
  readonly config: Pick<Config, 'deployment' | 'statePrefix' | 'leaseTtlSeconds' | 'tombstoneTtlSeconds'>;
  readonly call: EtcdCall;
}

/** Runs one transaction through the context's timed call. */
export function txn(
  ctx: EtcdContext,
  what: string,
  compare: ICompare[],
  success: IRequestOp[],
  failure: IRequestOp[],
): Promise<ITxnResponse> {
  return ctx.call(what, () => ctx.client.kv.txn({ compare, success, failure }));
}
