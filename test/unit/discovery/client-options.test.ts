import { isBrokenCircuitError } from 'cockatiel';
import { GRPCUnavailableError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../lib/discovery/watcher';
import {
  discoveryClientOptions,
  discoveryFaultHandling,
  HOST_HALF_OPEN_AFTER_MS,
} from '../../../lib/discovery/client-options';

const unavailable = () => Promise.reject(new GRPCUnavailableError('connect ECONNREFUSED'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('discoveryFaultHandling', () => {
  it('skips a member after three failures in a row, and tries it again after a short pause', async () => {
    const host = discoveryFaultHandling().host!('127.0.0.1:2379');
    for (let i = 0; i < 3; i++) await expect(host.execute(unavailable)).rejects.toBeInstanceOf(GRPCUnavailableError);
    const skipped = await host.execute(() => 'called').catch((err: Error) => err);
    expect(isBrokenCircuitError(skipped)).toBe(true);
    await sleep(HOST_HALF_OPEN_AFTER_MS + 20);
    await expect(host.execute(() => 'called')).resolves.toBe('called');
  });

  it('half-opens sooner than the watcher retries, so a resync never meets an open breaker', () => {
    expect(HOST_HALF_OPEN_AFTER_MS).toBeLessThan(backoffDelay(0, {}, () => 0));
  });

  it("does not count errors that are not the host's fault", async () => {
    const host = discoveryFaultHandling().host!('127.0.0.1:2379');
    for (let i = 0; i < 5; i++)
      await expect(host.execute(() => Promise.reject(new Error('bad request')))).rejects.toThrow('bad request');
    await expect(host.execute(() => 'called')).resolves.toBe('called');
  });
});

describe('discoveryClientOptions', () => {
  it("keeps the caller's options and adds the host policy", () => {
    const options = discoveryClientOptions({ hosts: ['http://10.0.1.5:2379'], dialTimeout: 1000 });
    expect(options).toMatchObject({ hosts: ['http://10.0.1.5:2379'], dialTimeout: 1000 });
    expect(typeof options.faultHandling?.host).toBe('function');
  });

  it("lets the caller's own fault handling win", () => {
    const host = () => discoveryFaultHandling().host!('x');
    expect(discoveryClientOptions({ hosts: 'h', faultHandling: { host } }).faultHandling?.host).toBe(host);
  });
});
