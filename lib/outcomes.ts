/**
 * What registering and deregistering one task did: the answers of the register and deregister
 * use cases, read by the handlers, the metrics and renew. Types only (and one guard), apart from
 * the use cases, so a reader of an outcome does not import the code that produces it.
 */
import type { LeftOutKey } from './etcd/writes';
import type { Ambiguity } from './port-selection';

/** What registering one task did. */
export interface RegisterOutcome {
  readonly action: 'registered' | 'pending' | 'withdrawn' | 'empty' | 'ignored';
  readonly taskArn: string;
  /** Why nothing changed (`ignored`): stale, duplicate, stopped. */
  readonly reason?: string;
  /** Endpoint keys now published for the task. */
  readonly keys: readonly string[];
  /** Containers left out and why. */
  readonly skipped?: readonly { readonly container: string; readonly reason: string }[];
  /** Endpoint keys left with another task that holds them (a reused ip:port), and why. */
  readonly leftOut?: readonly LeftOutKey[];
  /** Services whose port was guessed among several unmarked ones (logged as a WARN with the fix). */
  readonly ambiguities?: readonly Ambiguity[];
  /** True when nothing was written (`DRY_RUN`): the outcome says what would have happened. */
  readonly dryRun?: boolean;
}

/** What the register function answers for an ECS task event that is not of a started task. */
export interface NotStarted {
  readonly action: 'ignored';
  readonly taskArn: string;
  readonly reason: string;
}

/** True for the answer to an event that is not of a started task (nothing was attempted). */
export const isNotStarted = (outcome: RegisterOutcome | NotStarted): outcome is NotStarted => !('keys' in outcome);

/** What deregistering one task did. */
export interface DeregisterOutcome {
  /** `removed`: keys and record deleted; `tombstoned`: nothing was registered, the stop is remembered; `unchanged`: already stopped. */
  readonly action: 'removed' | 'tombstoned' | 'unchanged';
  readonly taskArn: string;
  /** Endpoint keys that were removed. */
  readonly keys: readonly string[];
  /** True when nothing was written (`DRY_RUN`): the outcome says what would have happened. */
  readonly dryRun?: boolean;
}
