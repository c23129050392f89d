/**
 * The registrar's small error hierarchy. Callers decide by type, never by message text:
 * {@link InvalidEventError} and {@link ConfigError} will fail the same way on retry,
 * {@link DependencyError}, {@link ConflictError}, {@link DeadlineError} and {@link MissingNetworkInfo} can succeed later.
 */

/** Base class of every error the registrar throws on purpose. */
export class RegistrarError extends Error {
  /** Whether retrying the same input later can succeed. */
  readonly retryable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // Set explicitly per class: bundles are minified, so constructor names are not kept.
    this.name = 'RegistrarError';
  }
}

/** A configuration variable is missing or invalid. The message names the variable. */
export class ConfigError extends RegistrarError {
  override readonly name = 'ConfigError';
  constructor(
    /** The environment variable at fault. */
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/**
 * The input event is malformed or hostile. Nothing was written. Thrown (not swallowed) so the
 * platform's retry and dead-letter path keeps the event for a human to look at.
 */
export class InvalidEventError extends RegistrarError {
  override readonly name = 'InvalidEventError';
  constructor(
    message: string,
    /** Where in the event the problem is, e.g. `detail.version`. */
    readonly path?: string,
  ) {
    super(path ? `invalid event at ${path}: ${message}` : `invalid event: ${message}`);
  }
}

/** A dependency (etcd, the ECS or EC2 API, the credentials store, the follow queue) failed or did not answer in time. Retry later. */
export class DependencyError extends RegistrarError {
  override readonly name = 'DependencyError';
  override readonly retryable = true;
  constructor(
    /** Which dependency failed. */
    readonly dependency: 'etcd' | 'ecs' | 'ec2' | 'secrets' | 'sqs',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${dependency}: ${message}`, options);
  }
}

/** Concurrent writers kept winning the race for a task's record. Retry later. */
export class ConflictError extends RegistrarError {
  override readonly name = 'ConflictError';
  override readonly retryable = true;
}

/** The invocation ran out of time before its work finished. Retry later. */
export class DeadlineError extends RegistrarError {
  override readonly name = 'DeadlineError';
  override readonly retryable = true;
}

/**
 * A task does not (yet) carry the network facts its endpoints need (an ENI address, host port
 * bindings, a container instance). Retryable: ECS fills them in as the task starts, so the
 * registrar asks ECS again, and renew picks the task up on a later tick.
 */
export class MissingNetworkInfo extends RegistrarError {
  override readonly name = 'MissingNetworkInfo';
  override readonly retryable = true;
}

/** Message of any thrown value, for logs and results. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
