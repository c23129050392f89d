import { describe, expect, it } from 'vitest';
import { asDirectory, backoffDelay, watchRequestAfter } from '../../../lib/discovery/watcher';

describe('backoffDelay', () => {
  const middle = () => 0.5;
  it('grows by the multiplier from the initial delay and stops at the maximum', () => {
    const options = { initialMs: 100, multiplier: 2, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, options, middle))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
  it('spreads each delay by the jitter either way', () => {
    expect(backoffDelay(0, { initialMs: 1000, jitter: 0.2 }, () => 0)).toBe(800);
    expect(backoffDelay(0, { initialMs: 1000, jitter: 0.2 }, () => 0.999999)).toBe(1200);
  });
  it('defaults to 200 ms, ×1.6, at most 1 s, ±20 %', () => {
    expect(backoffDelay(0, {}, middle)).toBe(200);
    expect(backoffDelay(1, {}, middle)).toBe(320);
    expect(backoffDelay(4, {}, middle)).toBe(1000);
    expect(backoffDelay(50, {}, middle)).toBe(1000);
    for (let i = 0; i < 100; i++) expect(backoffDelay(0)).toSatisfy((ms: number) => ms >= 160 && ms <= 240);
  });
});

describe('watchRequestAfter', () => {
  it('watches the whole directory from the revision after the snapshot', () => {
    const req = watchRequestAfter('services/api/', 41n);
    expect(req.create_request?.start_revision).toBe('42');
    expect(req.create_request?.key?.toString()).toBe('services/api/');
    expect(req.create_request?.range_end?.toString()).toBe('services/api0'); // '/' + 1
  });
});

describe('asDirectory', () => {
  it('adds the trailing slash that keeps api from matching api-admin', () => {
    expect(asDirectory('services/api')).toBe('services/api/');
    expect(asDirectory('services/api/')).toBe('services/api/');
  });
});
