/**
 * The port register uses to start following a task it recorded pending; `FollowScheduler`
 * (schedule.ts) implements it over the follow queue. Apart from the scheduler, so the registrar
 * depends on this interface and never on the follow code.
 */
import type { TaskSnapshot } from '../ecs/task';

/** What the registrar calls when it has recorded a task pending. */
export interface PendingFollower {
  /** Starts following the task. Never throws: renew publishes the task if this fails. */
  follow(task: TaskSnapshot, gatedContainers: readonly string[]): Promise<void>;
}
