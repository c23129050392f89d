import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import graph of lib/ (every `import … from` and `export … from`, types included: a type
 * import is how a cycle starts), keyed by path relative to lib/; `packages` lists the packages a
 * file imports code from.
 */
function importGraph(root: string): Map<string, { local: string[]; packages: string[] }> {
  const files = (readdirSync(root, { recursive: true }) as string[])
    .map((f) => f.split('\\').join('/'))
    .filter((f) => f.endsWith('.ts'));
  const graph = new Map<string, { local: string[]; packages: string[] }>();
  const specifier = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g;
  for (const file of files) {
    const source = readFileSync(join(root, file), 'utf8');
    const local = new Set<string>();
    const packages = new Set<string>();
    for (const [, typeOnly, spec] of source.matchAll(specifier)) {
      if (!spec!.startsWith('.')) {
        // A type-only import of a package (an SDK shape a mapper reads) brings none of its code.
        if (!typeOnly) packages.add(spec!);
        continue;
      }
      const target = posix.normalize(posix.join(posix.dirname(file), spec!)).replace(/\.js$/, '');
      local.add(files.includes(`${target}.ts`) ? `${target}.ts` : `${target}/index.ts`);
    }
    graph.set(file, { local: [...local], packages: [...packages] });
  }
  return graph;
}

/** The import cycles (strongly connected components of more than one file, or a file importing itself). */
function cycles(graph: Map<string, { local: string[] }>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.local ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.local.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Every file `file` reaches through its imports, itself excluded. */
function reachable(graph: Map<string, { local: string[] }>, file: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...(graph.get(file)?.local ?? [])];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...(graph.get(f)?.local ?? []));
  }
  return seen;
}

const LIB = join(dirname(new URL(import.meta.url).pathname), '../../lib');
const graph = importGraph(LIB);

/** Pure decisions and the vocabulary leaves: data in, data out, no I/O. */
const PURE = [
  'address.ts',
  'decide.ts',
  'endpoints.ts',
  'port-selection.ts',
  'keys.ts',
  'renew/plan.ts',
  'renew/slice.ts',
  'follow/plan.ts',
  'discovery/endpoint-table.ts',
  'xds/resources.ts',
  'log.ts',
  'ecs/task.ts',
  'ecs/reader.ts',
  'task-record.ts',
  'follow/follower.ts',
];
/** Files that talk to etcd or AWS, or wire the processes that do. */
const isAdapter = (file: string): boolean =>
  file.startsWith('etcd/') ||
  file.startsWith('handler/') ||
  ['ecs/api.ts', 'ecs/ec2.ts', 'ecs/ec2-loader.ts', 'follow/queue.ts'].includes(file);
/** Packages that do I/O (imported for their code, not only their types). */
const isIoPackage = (spec: string): boolean =>
  spec === 'etcd3' || spec.startsWith('@aws-sdk/') || spec.startsWith('@grpc/') || spec === '@middy/core';

describe('the import graph of lib/', () => {
  it('reads every file and the imports of the files it names', () => {
    // The checks below pass vacuously on an empty or misread graph.
    expect(graph.size).toBeGreaterThan(60);
    expect(graph.get('registrar.ts')?.local).toContain('decide.ts');
    for (const file of PURE) expect(graph.has(file), file).toBe(true);
  });

  it('finds a cycle when there is one', () => {
    const sample = new Map([
      ['a.ts', { local: ['b.ts'] }],
      ['b.ts', { local: ['c.ts'] }],
      ['c.ts', { local: ['a.ts'] }],
      ['d.ts', { local: ['a.ts'] }],
    ]);
    expect(cycles(sample)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it.each(PURE)('keeps %s pure: it reaches no etcd or AWS adapter, directly or through another file', (file) => {
    const reached = [file, ...reachable(graph, file)];
    expect([...reachable(graph, file)].filter(isAdapter)).toEqual([]);
    expect(
      reached.flatMap((f) =>
        graph
          .get(f)!
          .packages.filter(isIoPackage)
          .map((p) => `${f} -> ${p}`),
      ),
    ).toEqual([]);
  });

  it('keeps the register use case below renew and follow: it imports only their vocabulary', () => {
    const allowed = ['renew/summary.ts', 'follow/follower.ts'];
    const upward = graph
      .get('registrar.ts')!
      .local.filter((f) => (f.startsWith('renew/') || f.startsWith('follow/')) && !allowed.includes(f));
    expect(upward).toEqual([]);
    for (const file of ['renew/tick.ts', 'renew/execute.ts', 'renew/plan.ts', 'follow/schedule.ts', 'deregister.ts'])
      expect(reachable(graph, file).has('registrar.ts'), file).toBe(false);
  });

  it('keeps lib/ apart from the handlers and the tests', () => {
    const outside = [...graph].flatMap(([file, { local }]) =>
      local.filter((f) => relative(LIB, join(LIB, f)).startsWith('..')).map((f) => `${file} -> ${f}`),
    );
    expect(outside).toEqual([]);
  });
});
