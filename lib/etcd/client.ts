/**
 * The etcd3 client, built from config once per process and reused across warm invocations.
 * Every unary call gets a deadline: the per-call `ETCD_TIMEOUT_MS`, never later than the
 * invocation's own deadline, so an unreachable etcd fails the invocation before Lambda kills it.
 */
import { Etcd3, type IOptions } from 'etcd3';
import type { Config } from '../config';

let invocationDeadline: number | undefined;

/**
 * Sets the wall-clock time (ms since epoch) by which every etcd call of the current invocation
 * must have finished; `undefined` clears it. The handlers' middleware sets it from the Lambda context.
 */
export function setInvocationDeadline(epochMs: number | undefined): void {
  invocationDeadline = epochMs;
}

/** The deadline for an etcd call started now. */
export function callDeadline(timeoutMs: number): number {
  const own = Date.now() + timeoutMs;
  return invocationDeadline === undefined ? own : Math.min(own, invocationDeadline);
}

/** Builds a new etcd3 client for the configured endpoints. */
export function createEtcdClient(config: Pick<Config, 'etcdEndpoints' | 'etcdTimeoutMs'>, extra: Partial<IOptions> = {}): Etcd3 {
  return new Etcd3({
    hosts: [...config.etcdEndpoints],
    dialTimeout: config.etcdTimeoutMs,
    defaultCallOptions: (context) =>
      // Streams (keepalive, watch) live as long as the invocation; unary calls get the short deadline.
      context.isStream
        ? invocationDeadline === undefined ? {} : { deadline: invocationDeadline }
        : { deadline: callDeadline(config.etcdTimeoutMs) },
    ...extra,
  });
}

let shared: { key: string; client: Etcd3 } | undefined;

/** The process-wide client for this config, created on first use. */
export function getEtcdClient(config: Pick<Config, 'etcdEndpoints' | 'etcdTimeoutMs'>): Etcd3 {
  const key = `${config.etcdEndpoints.join(',')}|${config.etcdTimeoutMs}`;
  if (shared?.key !== key) {
    shared?.client.close();
    shared = { key, client: createEtcdClient(config) };
  }
  return shared.client;
}
