import { describe, expect, it } from 'vitest';
import { EndpointTable, isEmptyChange, type EndpointEvent } from '../../../lib/discovery/endpoint-table';

const naming = (addr: string) => JSON.stringify({ Op: 0, Addr: addr, Metadata: '{}' });
const put = (key: string, addr: string, revision: number): EndpointEvent => ({
  type: 'put',
  key,
  value: naming(addr),
  revision: BigInt(revision),
});
const del = (key: string, revision: number): EndpointEvent => ({
  type: 'delete',
  key,
  value: '',
  revision: BigInt(revision),
});
const addrs = (list: readonly { addr: string }[]) => list.map((e) => e.addr);

describe('EndpointTable', () => {
  it('takes a snapshot: parseable endpoints only, sorted by address, at its revision', () => {
    const table = new EndpointTable();
    const change = table.reset(
      [
        { key: 's/api/b:2', value: naming('10.0.0.2:2') },
        { key: 's/api/a:1', value: '10.0.0.1:1' },
        { key: 's/api/x:9', value: 'garbage' },
      ],
      10n,
    );
    expect(addrs(table.endpoints())).toEqual(['10.0.0.1:1', '10.0.0.2:2']);
    expect(table.revision).toBe(10n);
    expect(addrs(change.added)).toEqual(['10.0.0.2:2', '10.0.0.1:1']);
    expect(change.removed).toEqual([]);
  });

  it('reports what a new snapshot changed, and nothing when it changed nothing', () => {
    const table = new EndpointTable();
    table.reset(
      [
        { key: 'k1', value: '10.0.0.1:1' },
        { key: 'k2', value: '10.0.0.2:2' },
      ],
      5n,
    );
    const change = table.reset(
      [
        { key: 'k2', value: '10.0.0.2:2' },
        { key: 'k3', value: '10.0.0.3:3' },
      ],
      9n,
    );
    expect(addrs(change.removed)).toEqual(['10.0.0.1:1']);
    expect(addrs(change.added)).toEqual(['10.0.0.3:3']);
    expect(
      isEmptyChange(
        table.reset(
          [
            { key: 'k2', value: '10.0.0.2:2' },
            { key: 'k3', value: '10.0.0.3:3' },
          ],
          12n,
        ),
      ),
    ).toBe(true);
  });

  it('applies puts and deletes in order', () => {
    const table = new EndpointTable();
    table.reset([], 1n);
    const change = table.apply([put('k1', '10.0.0.1:1', 2), put('k2', '10.0.0.2:2', 3), del('k1', 4)]);
    expect(addrs(table.endpoints())).toEqual(['10.0.0.2:2']);
    expect(addrs(change.added)).toEqual(['10.0.0.1:1', '10.0.0.2:2']);
    expect(addrs(change.removed)).toEqual(['10.0.0.1:1']);
    expect(table.revision).toBe(4n);
  });

  it('skips events the snapshot already holds, so a replay never resurrects a deleted endpoint', () => {
    const table = new EndpointTable();
    table.reset([], 10n); // k1 was put at 8 and deleted at 10
    expect(isEmptyChange(table.apply([put('k1', '10.0.0.1:1', 8), put('k1', '10.0.0.1:1', 10)]))).toBe(true);
    expect(table.endpoints()).toEqual([]);
    expect(addrs(table.apply([put('k1', '10.0.0.1:1', 11)]).added)).toEqual(['10.0.0.1:1']);
  });

  it('applies every event of one transaction (they share a revision), its puts and its deletes', () => {
    const table = new EndpointTable();
    table.reset([], 10n);
    const started = table.apply([put('task:32768', '10.0.0.1:32768', 11), put('task:32769', '10.0.0.1:32769', 11)]);
    expect(addrs(started.added)).toEqual(['10.0.0.1:32768', '10.0.0.1:32769']);
    expect(table.addresses()).toEqual(['10.0.0.1:32768', '10.0.0.1:32769']);
    expect(table.revision).toBe(11n);
    const stopped = table.apply([del('task:32768', 12), del('task:32769', 12)]);
    expect(addrs(stopped.removed)).toEqual(['10.0.0.1:32768', '10.0.0.1:32769']);
    expect(table.endpoints()).toEqual([]);
  });

  it('applies the events of one transaction split over two watch responses', () => {
    const table = new EndpointTable();
    table.reset([], 10n);
    table.apply([put('a', '10.0.0.1:1', 11)]);
    expect(addrs(table.apply([put('b', '10.0.0.2:2', 11)]).added)).toEqual(['10.0.0.2:2']);
    expect(table.addresses()).toEqual(['10.0.0.1:1', '10.0.0.2:2']);
  });

  it('changes nothing when the last transaction is delivered again, and skips older ones', () => {
    const table = new EndpointTable();
    table.reset([], 10n);
    table.apply([put('a', '10.0.0.1:1', 11), put('b', '10.0.0.2:2', 11), del('a', 12), del('b', 12)]);
    expect(isEmptyChange(table.apply([del('a', 12), del('b', 12)]))).toBe(true);
    expect(isEmptyChange(table.apply([put('a', '10.0.0.1:1', 11), put('b', '10.0.0.2:2', 11)]))).toBe(true);
    expect(table.endpoints()).toEqual([]);
    expect(table.revision).toBe(12n);
  });

  it("skips the snapshot's own transaction, whose keys it already holds (Get at R, watch from R + 1)", () => {
    const table = new EndpointTable();
    table.reset([{ key: 'b', value: naming('10.0.0.2:2') }], 11n);
    expect(isEmptyChange(table.apply([put('b', '10.0.0.2:2', 11)]))).toBe(true);
    expect(addrs(table.apply([put('c', '10.0.0.3:3', 12), put('d', '10.0.0.4:4', 12)]).added)).toEqual([
      '10.0.0.3:3',
      '10.0.0.4:4',
    ]);
  });

  it('treats a put without a dialable address (etcd-naming Op 1) as a removal', () => {
    const table = new EndpointTable();
    table.reset([{ key: 'k1', value: naming('10.0.0.1:1') }], 1n);
    const change = table.apply([
      { type: 'put', key: 'k1', value: JSON.stringify({ Op: 1, Addr: '10.0.0.1:1' }), revision: 2n },
    ]);
    expect(addrs(change.removed)).toEqual(['10.0.0.1:1']);
    expect(table.endpoints()).toEqual([]);
  });

  it('reports a changed address as removed and added, and a metadata-only rewrite as no change', () => {
    const table = new EndpointTable();
    table.reset([{ key: 'k1', value: naming('10.0.0.1:1') }], 1n);
    const moved = table.apply([put('k1', '10.0.0.9:1', 2)]);
    expect([addrs(moved.removed), addrs(moved.added)]).toEqual([['10.0.0.1:1'], ['10.0.0.9:1']]);
    const rewritten = table.apply([
      {
        type: 'put',
        key: 'k1',
        value: JSON.stringify({ Op: 0, Addr: '10.0.0.9:1', Metadata: '{"version":5}' }),
        revision: 3n,
      },
    ]);
    expect(isEmptyChange(rewritten)).toBe(true);
    expect(table.endpoints()[0]?.metadata).toEqual({ version: 5 });
  });

  it('dials an address published under two keys once', () => {
    const table = new EndpointTable();
    table.reset(
      [
        { key: 'old-task:1', value: '10.0.0.1:1' },
        { key: 'new-task:1', value: '10.0.0.1:1' },
      ],
      1n,
    );
    expect(table.endpoints()).toHaveLength(2);
    expect(table.addresses()).toEqual(['10.0.0.1:1']);
  });
});
