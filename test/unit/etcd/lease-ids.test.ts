import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hasLeaseTag, leaseIdFor, taskLeaseName, tombstoneLeaseName } from '../../../lib/etcd/registry';

const ARN = 'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad';
const PREFIX = 'registrar';

describe('leaseIdFor', () => {
  it('gives every grant for the same purpose the same ID, so a lost grant is found again', () => {
    expect(leaseIdFor(taskLeaseName({ taskArn: ARN, version: 4 }), PREFIX)).toBe(
      leaseIdFor(taskLeaseName({ taskArn: ARN, version: 4 }), PREFIX),
    );
  });

  it('gives another version, task, purpose or deployment another ID', () => {
    const ids = new Set([
      leaseIdFor(taskLeaseName({ taskArn: ARN, version: 4 }), PREFIX),
      leaseIdFor(taskLeaseName({ taskArn: ARN, version: 5 }), PREFIX),
      leaseIdFor(taskLeaseName({ taskArn: `${ARN.slice(0, -1)}e`, version: 4 }), PREFIX),
      leaseIdFor(tombstoneLeaseName(ARN), PREFIX),
      leaseIdFor(taskLeaseName({ taskArn: ARN, version: 4 }), 'registrar-dev'),
    ]);
    expect(ids.size).toBe(5);
  });

  it('is a positive 63-bit decimal, as etcd takes lease IDs (0 would ask etcd to choose)', () => {
    for (let v = 0; v < 2000; v++) {
      const id = leaseIdFor(taskLeaseName({ taskArn: ARN, version: v }), PREFIX);
      expect(id).toMatch(/^[1-9]\d{0,18}$/);
      expect(BigInt(id) < 2n ** 63n).toBe(true);
    }
  });
});

describe('hasLeaseTag', () => {
  it("recognises every ID derived for the deployment, and not another deployment's", () => {
    const prefixes = ['registrar', 'eu-west-1/prod/registrar', 'us-east-1/prod/registrar', 'eu-west-1/dev/registrar'];
    for (const prefix of prefixes) {
      for (let v = 0; v < 200; v++) {
        const id = leaseIdFor(taskLeaseName({ taskArn: ARN, version: v }), prefix);
        for (const other of prefixes) expect(hasLeaseTag(id, other)).toBe(other === prefix);
      }
    }
  });

  it('rejects untagged IDs (older code: 63 bits of a hash) but the one in 2^16 that matches by chance', () => {
    let tagged = 0;
    for (let n = 0; n < 10_000; n++) {
      const id =
        createHash('sha256').update(`task\u0000${ARN}\u0000${n}`).digest().readBigUInt64BE(0) & ((1n << 63n) - 1n);
      if (hasLeaseTag(String(id), PREFIX)) tagged++;
    }
    expect(tagged).toBeLessThan(4); // about 0.15 expected
    expect(hasLeaseTag('0', PREFIX)).toBe(false);
    expect(hasLeaseTag('not-a-number', PREFIX)).toBe(false);
  });

  it("does not take every lease some etcd member hands out for the deployment's, whatever its member ID", () => {
    // etcd's lease IDs: the member ID's low 16 bits on top, then the clock in ms and a counter
    // (idutil.Generator). A tag among the top bits would equal the bits of some member IDs and
    // mark every lease those members grant; in the low bits it marks one lease in 2^16, whatever
    // the member.
    const at = BigInt(Date.UTC(2026, 11, 3, 15, 30));
    const etcdId = (member: bigint, n: bigint) =>
      ((member << 48n) | ((((at + n * 3n) << 8n) | (n & 0xffn)) & ((1n << 48n) - 1n))) & ((1n << 63n) - 1n);
    let membersMarked = 0;
    let tagged = 0;
    for (let member = 0n; member < 1n << 16n; member++) {
      const marks = [0n, 1n, 2n].filter((n) => hasLeaseTag(String(etcdId(member, n)), PREFIX)).length;
      tagged += marks;
      if (marks === 3) membersMarked++;
    }
    expect(membersMarked).toBe(0);
    expect(tagged).toBeLessThan(20); // 3 × 2^16 IDs: about 3 expected
  });
});
