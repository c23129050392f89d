import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TaskSnapshot } from '../../../lib/ecs/task';
import { DRAIN_WAIT_MS, drainThenStop, type DrainDeps } from '../../../lib/follow/drain';

const stopping = {
  taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/prod/old',
  taskId: 'old',
  clusterArn: 'arn:aws:ecs:us-east-1:123456789012:cluster/prod',
  clusterName: 'prod',
};
const pendingArn = 'arn:aws:ecs:us-east-1:123456789012:task/prod/new';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Drain deps whose one DescribeTasks answers only when `answer` is called (or fails with `fail`). */
function deps(): { deps: DrainDeps; answer: (tasks: TaskSnapshot[]) => void; describes: () => number } {
  let answer: (tasks: TaskSnapshot[]) => void = () => undefined;
  let describes = 0;
  return {
    describes: () => describes,
    answer: (tasks) => answer(tasks),
    deps: {
      registryPrefix: 'services',
      log: quiet,
      registry: {
        readTask: async () => ({
          record: {
            key: 'registrar/tasks/prod/old',
            modRevision: '1',
            lease: '1',
            record: {
              taskArn: stopping.taskArn,
              clusterArn: stopping.clusterArn,
              version: 3,
              state: 'registered',
              leaseId: '1',
              keys: ['services/api/old:50051'],
              taskDefinitionArn: 'td',
              gatedContainers: [],
              updatedAt: '',
            },
          },
        }),
        pendingTasks: async (services) =>
          services.includes('api')
            ? [{ taskArn: pendingArn, clusterArn: stopping.clusterArn, gatedContainers: ['app'] }]
            : [],
      },
      load: async () => ({
        ecs: {
          describeTasks: () => {
            describes++;
            return new Promise((resolve) => (answer = (tasks) => resolve({ tasks, missing: [], invalid: [] })));
          },
        },
        registrar: { register: async () => ({ action: 'registered', taskArn: pendingArn, keys: [] }) },
      }),
    },
  };
}

afterEach(() => vi.useRealTimers());

describe('drainThenStop', () => {
  it("finds the pending tasks of the stopping task's services from its keys (a record without `services`) and asks ECS once", async () => {
    const d = deps();
    const stop = vi.fn(async () => 'removed');
    const done = drainThenStop(d.deps, stopping, stop);
    await vi.waitFor(() => expect(d.describes()).toBe(1));
    expect(stop).not.toHaveBeenCalled(); // the check comes first
    d.answer([]);
    expect(await done).toEqual({ outcome: 'removed', drained: { checked: 1, published: [], errors: [] } });
  });

  it(`never holds the stop longer than ${DRAIN_WAIT_MS} ms when ECS does not answer`, async () => {
    vi.useFakeTimers();
    const d = deps();
    const stop = vi.fn(async () => 'removed');
    const done = drainThenStop(d.deps, stopping, stop);
    await vi.advanceTimersByTimeAsync(DRAIN_WAIT_MS - 1);
    expect(stop).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(stop).toHaveBeenCalledTimes(1);
    d.answer([]); // the late answer is still waited for before returning
    expect(await done).toMatchObject({ outcome: 'removed', drained: { checked: 1 } });
  });
});
