/**
 * ECS's per-call limits, the one place they are written. Every batcher and pager of ECS calls (and
 * the planners that count those calls) uses these, so a page size and the reads budgeted for it
 * cannot disagree. Loads nothing: pure modules import it without pulling in the SDK.
 */

/** `DescribeTasks` takes at most this many tasks per call. */
export const DESCRIBE_TASKS_BATCH = 100;

/** `ListTasks` returns at most this many task ARNs per page (its largest `maxResults`). */
export const LIST_TASKS_PAGE = 100;

/** `DescribeClusters` takes at most this many clusters per call. */
export const DESCRIBE_CLUSTERS_BATCH = 100;

/** `DescribeServices` takes at most this many services per call. */
export const DESCRIBE_SERVICES_BATCH = 10;

/**
 * `DescribeContainerInstances` takes at most this many container instances per call; the
 * `DescribeInstances` that follows asks about the same batch (EC2 allows more, one call is enough).
 */
export const HOST_LOOKUP_BATCH = 100;
