import { GRPCDeadlineExceededError, GRPCNotFoundError, GRPCUnavailableError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { DOWN_AVOID_MS, MemberAvoidedError, MemberHealth, SILENT_AVOID_MS } from '../../../lib/etcd/member-health';

const [A, B, C] = ['http://a:2379', 'http://b:2379', 'http://c:2379'];

function clocked(deadline?: number) {
  let now = 1_000_000;
  const health = new MemberHealth([A!, B!, C!], { now: () => now, invocationDeadline: () => deadline });
  return { health, advance: (ms: number) => (now += ms) };
}

describe('MemberHealth', () => {
  it('avoids a member whose call timed out for the rest of the invocation, and at least SILENT_AVOID_MS', () => {
    const { health, advance } = clocked(1_000_000 + 5 * SILENT_AVOID_MS);
    health.observe(B!, new GRPCDeadlineExceededError('deadline'));
    expect(health.usable()).toEqual([A, C]);
    advance(SILENT_AVOID_MS + 1);
    expect(health.trouble(B!)).toBe('silent'); // the invocation is not over
    advance(4 * SILENT_AVOID_MS);
    expect(health.trouble(B!)).toBeUndefined();
  });

  it('avoids a member that failed fast for DOWN_AVOID_MS only', () => {
    const { health, advance } = clocked();
    health.observe(A!, new GRPCUnavailableError('refused'));
    expect(health.trouble(A!)).toBe('down');
    advance(DOWN_AVOID_MS + 1);
    expect(health.usable()).toEqual([A, B, C]);
  });

  it('counts an etcd error as an answer, and an answer clears the mark', () => {
    const { health } = clocked();
    health.observe(A!, new GRPCUnavailableError('refused'));
    health.observe(A!, new GRPCNotFoundError('lease not found'));
    expect(health.trouble(A!)).toBeUndefined();
  });

  it('never avoids every member: when all are marked, every one is called', () => {
    const { health } = clocked();
    for (const e of [A!, B!, C!]) health.observe(e, new GRPCDeadlineExceededError('deadline'));
    expect(health.usable()).toEqual([A, B, C]);
    expect(health.skips(A!)).toBe(false);
    expect(health.anyAnswering()).toBe(false);
  });

  it("skips an avoided member in etcd3's host policy without calling, unless bound to that member", async () => {
    const { health } = clocked();
    health.observe(C!, new GRPCDeadlineExceededError('deadline'));
    let calls = 0;
    const call = async () => ++calls;
    await expect(health.policy(C!).execute(call)).rejects.toBeInstanceOf(MemberAvoidedError);
    expect(calls).toBe(0);
    await expect(health.policy(C!, { skip: false }).execute(call)).resolves.toBe(1);
    expect(health.trouble(C!)).toBeUndefined(); // it answered
  });

  it('does not take an opened stream for an answer', async () => {
    const { health } = clocked();
    health.observe(B!, new GRPCDeadlineExceededError('deadline'));
    await health.policy(B!, { skip: false }).execute(() => ({ on: () => undefined }));
    expect(health.trouble(B!)).toBe('silent');
  });

  it('retries a timed-out call only while another member is left to answer', async () => {
    const single = new MemberHealth([A!]);
    let calls = 0;
    const timesOut = async () => {
      calls++;
      single.observe(A!, new GRPCDeadlineExceededError('deadline'));
      throw new GRPCDeadlineExceededError('deadline');
    };
    await expect(single.retryPolicy().execute(timesOut)).rejects.toBeInstanceOf(GRPCDeadlineExceededError);
    expect(calls).toBe(1);
  });
});
