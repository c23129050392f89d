/**
 * etcd3 client options for discovery clients: back in sync within about a second of etcd
 * answering again.
 *
 * etcd3's default fault handling puts a circuit breaker on every host that opens after three
 * consecutive failures and lets the next call through only 5 s later. One failed sync of a
 * watcher is already three failures (the default global policy tries each call three times), so
 * after any outage of a single member the client stayed blind for up to 5 s after etcd was back.
 * Here the breaker still skips a failing member (which matters when several are configured and
 * one is unreachable), but for {@link HOST_HALF_OPEN_AFTER_MS} only: shorter than the watcher's
 * first retry delay, so a resync never meets an open breaker.
 */
import { circuitBreaker, ConsecutiveBreaker, handleWhen } from 'cockatiel';
import { isRecoverableError, type IOptions } from 'etcd3';

/** How long a member that failed three calls in a row is skipped before it is tried again. */
export const HOST_HALF_OPEN_AFTER_MS = 150;

/**
 * The `faultHandling` discovery clients use: a per-host circuit breaker that opens after three
 * consecutive recoverable failures and half-opens after {@link HOST_HALF_OPEN_AFTER_MS}; etcd3's
 * default global retry (three attempts) is kept.
 */
export function discoveryFaultHandling(): NonNullable<IOptions['faultHandling']> {
  return {
    host: () =>
      circuitBreaker(handleWhen(isRecoverableError), {
        halfOpenAfter: HOST_HALF_OPEN_AFTER_MS,
        breaker: new ConsecutiveBreaker(3),
      }),
  };
}

/**
 * etcd3 options for a client that discovery uses (`watchService`, or the resolver given a client
 * of yours): yours, with {@link discoveryFaultHandling} for whatever `faultHandling` you did not set.
 *
 * @example
 * const etcd = new Etcd3(discoveryClientOptions({ hosts: 'http://10.0.1.5:2379' }));
 * const api = watchService(etcd, 'services/api/');
 */
export function discoveryClientOptions(options: IOptions): IOptions {
  return { ...options, faultHandling: { ...discoveryFaultHandling(), ...options.faultHandling } };
}
