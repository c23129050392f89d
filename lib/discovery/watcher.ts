/**
 * A discovery client for TypeScript programs: watches one service's directory in etcd and keeps
 * its current endpoint list, handing every change to callbacks — the register/discover pattern
 * where a client mirrors `<prefix>/<service>/` into a local cache.
 *
 * One sync is a Get of the directory at revision R, then a watch from R + 1 on its own stream:
 * nothing between the two is missed and nothing is applied twice. A watch error, a compaction
 * or a lost connection ends the stream; the watcher reports the error, keeps the last known list
 * and syncs again after a backoff with jitter.
 */
import { Range, type Etcd3, type IDuplexStream, type IWatchRequest, type IWatchResponse } from 'etcd3';
import { errorMessage, EtcdWatchError } from './errors.js';
import { EndpointTable, isEmptyChange, type EndpointChange, type EndpointEvent } from './endpoint-table.js';
import type { DiscoveredEndpoint } from './parse.js';

/** Retry timing after a failed sync or a broken watch. */
export interface BackoffOptions {
  /** First delay. @default 200 */
  readonly initialMs?: number;
  /**
   * Longest delay. Short, so that a client is back in sync within about a second of etcd answering
   * again; a failed attempt on a dead member costs one refused connection. @default 1000
   */
  readonly maxMs?: number;
  /** Growth per failed attempt. @default 1.6 */
  readonly multiplier?: number;
  /** Random spread, as a fraction of the delay either way. @default 0.2 */
  readonly jitter?: number;
}

/** Called with the whole current list and what changed. */
export type ChangeListener = (endpoints: readonly DiscoveredEndpoint[], change: EndpointChange) => void;

/** Called when a sync or the watch fails; the watcher retries by itself. */
export type ErrorListener = (error: EtcdWatchError) => void;

/** Options of {@link watchService}. */
export interface ServiceWatcherOptions {
  /**
   * Called after the first sync (even when the service is empty), after each sync that follows a
   * failure (the list is confirmed again), and on every change.
   */
  readonly onChange?: ChangeListener;
  /** Called on every failure, with the delay before the next sync in the message. */
  readonly onError?: ErrorListener;
  /** Retry timing. */
  readonly backoff?: BackoffOptions;
  /** Deadline of the Get. @default 5000 */
  readonly requestTimeoutMs?: number;
}

const DEFAULT_BACKOFF = { initialMs: 200, maxMs: 1000, multiplier: 1.6, jitter: 0.2 } as const;

/**
 * Pure: the delay before retry number `attempt` (0 for the first retry): exponential, capped,
 * spread by ±`jitter` so that many clients losing etcd at once do not come back at once.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const { initialMs, maxMs, multiplier, jitter } = { ...DEFAULT_BACKOFF, ...options };
  const base = Math.min(maxMs, initialMs * multiplier ** attempt);
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))));
}

/** Pure: the watch request that continues a snapshot read at `revision`. */
export function watchRequestAfter(directory: string, revision: bigint): IWatchRequest {
  const range = Range.prefix(directory);
  return { create_request: { key: range.start, range_end: range.end, start_revision: (revision + 1n).toString() } };
}

/** The directory a service's keys live under: always with its trailing slash. */
export function asDirectory(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/**
 * Watches one service directory. Create it with {@link watchService}; {@link ServiceWatcher.close}
 * ends the watch and every timer (the etcd client stays the caller's).
 */
export class ServiceWatcher {
  /** The watched key prefix, with its trailing slash. */
  readonly directory: string;
  private readonly table = new EndpointTable();
  private readonly changeListeners = new Set<ChangeListener>();
  private readonly errorListeners = new Set<ErrorListener>();
  private stream?: IDuplexStream<IWatchRequest, IWatchResponse>;
  private timer?: NodeJS.Timeout;
  /** Bumped by every sync and by close: results of an older sync are dropped. */
  private generation = 0;
  private failures = 0;
  private synced = false;
  private closed = false;
  private readonly firstSync: Promise<readonly DiscoveredEndpoint[]>;
  private settleFirst!: { resolve: (list: readonly DiscoveredEndpoint[]) => void; reject: (err: Error) => void };

  /** @internal use {@link watchService}. */
  constructor(
    private readonly client: Etcd3,
    directory: string,
    private readonly options: ServiceWatcherOptions = {},
  ) {
    this.directory = asDirectory(directory);
    if (options.onChange) this.changeListeners.add(options.onChange);
    if (options.onError) this.errorListeners.add(options.onError);
    this.firstSync = new Promise((resolve, reject) => (this.settleFirst = { resolve, reject }));
    // A caller that never awaits ready() must not see an unhandled rejection on close.
    this.firstSync.catch(() => undefined);
  }

  /** The current endpoints (empty until the first sync), sorted by address. */
  endpoints(): readonly DiscoveredEndpoint[] {
    return this.table.endpoints();
  }

  /** The distinct `ip:port` addresses to dial, sorted. */
  addresses(): readonly string[] {
    return this.table.addresses();
  }

  /** Resolves with the list once the first sync is done; rejects if the watcher is closed first. */
  ready(): Promise<readonly DiscoveredEndpoint[]> {
    return this.firstSync;
  }

  /** Adds a change listener; returns a function that removes it. */
  onChange(listener: ChangeListener): () => void {
    this.changeListeners.add(listener);
    return () => void this.changeListeners.delete(listener);
  }

  /** Adds an error listener; returns a function that removes it. */
  onError(listener: ErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => void this.errorListeners.delete(listener);
  }

  /** Stops watching: cancels the watch stream and any pending retry. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.endStream();
    this.settleFirst.reject(new Error(`watch of ${this.directory} closed before its first sync`));
  }

  /** @internal */
  start(): this {
    void this.sync();
    return this;
  }

  private async sync(): Promise<void> {
    const generation = ++this.generation;
    const current = () => generation === this.generation && !this.closed;
    let step = 'get';
    try {
      const range = Range.prefix(this.directory);
      const res = await this.client.kv.range(
        { key: range.start, range_end: range.end },
        { deadline: Date.now() + (this.options.requestTimeoutMs ?? 5000) },
      );
      if (!current()) return;
      const revision = BigInt(res.header.revision);
      const change = this.table.reset(
        res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() })),
        revision,
      );
      const first = !this.synced;
      this.synced = true;
      if (first || this.failures > 0 || !isEmptyChange(change)) this.publish(change);
      if (first) this.settleFirst.resolve(this.table.endpoints());

      step = 'watch';
      const stream = await this.client.watchClient.watch();
      if (!current()) return closeStream(stream);
      this.stream = stream;
      stream.on('data', (res) => current() && this.onWatchResponse(res));
      stream.on('error', (err) => current() && this.fail('watch', err));
      stream.on('end', () => current() && this.fail('watch', new Error('the server ended the watch stream')));
      stream.write(watchRequestAfter(this.directory, revision));
    } catch (err) {
      if (current()) this.fail(step, err);
    }
  }

  private onWatchResponse(res: IWatchResponse): void {
    if (res.canceled) {
      const why =
        res.compact_revision && res.compact_revision !== '0'
          ? `history compacted up to revision ${res.compact_revision}`
          : res.cancel_reason || 'canceled by the server';
      return this.fail('watch', new Error(why));
    }
    // A healthy watch is established: the next failure starts the backoff from the beginning.
    if (res.created) this.failures = 0;
    if (res.events.length === 0) return;
    const events: EndpointEvent[] = res.events.map((e) => ({
      type: e.type === 'Delete' ? 'delete' : 'put',
      key: e.kv.key.toString(),
      value: e.kv.value.toString(),
      revision: BigInt(e.kv.mod_revision),
    }));
    const change = this.table.apply(events);
    if (!isEmptyChange(change)) this.publish(change);
  }

  private fail(step: string, cause: unknown): void {
    this.endStream();
    const delay = backoffDelay(this.failures++, this.options.backoff);
    const error = new EtcdWatchError(
      `${step} of ${this.directory} failed: ${errorMessage(cause)}; syncing again in ${delay} ms`,
      { cause },
    );
    for (const listener of this.errorListeners) listener(error);
    this.generation++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closed) void this.sync();
    }, delay);
  }

  private publish(change: EndpointChange): void {
    const list = this.table.endpoints();
    for (const listener of this.changeListeners) listener(list, change);
  }

  private endStream(): void {
    if (this.stream) closeStream(this.stream);
    this.stream = undefined;
  }
}

function closeStream(stream: IDuplexStream<IWatchRequest, IWatchResponse>): void {
  // Half-close first: etcd3 marks the host failed on stream errors while the stream is still
  // writable, and our own cancel is not a failure of the host.
  stream.on('error', () => undefined);
  stream.end();
  stream.cancel();
}

/**
 * Starts watching one service: a Get of its directory, then a watch from the next revision, kept
 * alive across watch errors, compactions and lost connections.
 *
 * @param client an etcd3 client (yours: closing the watcher does not close it). Build it with
 *   `discoveryClientOptions` (./client-options): etcd3's default circuit breaker can keep the watcher from
 *   etcd for up to 5 s after an outage.
 * @param directory the service's key prefix, e.g. `services/api/` (a trailing slash is added
 *   when missing, so `services/api` never matches `services/api-admin/...`).
 * @example
 * const etcd = new Etcd3(discoveryClientOptions({ hosts: 'http://10.0.1.5:2379' }));
 * const api = watchService(etcd, 'services/api/', {
 *   onChange: (endpoints) => console.log(endpoints.map((e) => e.addr)),
 *   onError: (err) => console.warn(err.message),
 * });
 * await api.ready();
 * // ... api.addresses() ...
 * api.close();
 */
export function watchService(client: Etcd3, directory: string, options: ServiceWatcherOptions = {}): ServiceWatcher {
  return new ServiceWatcher(client, directory, options).start();
}
