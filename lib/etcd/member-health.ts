/**
 * Which configured etcd members answer, shared by every call of the process (unary calls and
 * keepalive streams alike), so that one member that is down or silent costs its first call only.
 *
 * etcd3's default fault handling puts a 5 s circuit breaker on each host (three failures in a row,
 * then no call for 5 s), which after an etcd restart kept a single-endpoint client failing with
 * "circuit breaker is open" for seconds after etcd answered again, and which did nothing for a
 * member that accepts connections and never answers (each call waited its full deadline). Here:
 * - a member whose call timed out is **silent**: it is avoided for the rest of the invocation (and
 *   at least {@link SILENT_AVOID_MS}), so only the calls already in flight to it wait their deadline;
 * - a member whose call failed fast (refused, reset, unavailable) is **down**: it is avoided for
 *   {@link DOWN_AVOID_MS} only, a few cheap failures a second while it stays down;
 * - an answer of any kind (an etcd error such as "lease not found" is an answer) clears the mark;
 * - a member is never avoided when every member is: then each call is let through, so a client of
 *   a single etcd, or of a cluster that restarted as a whole, calls it the moment it is back.
 */
import { type IDefaultPolicyContext, type IPolicy, handleWhen, retry } from 'cockatiel';
import { GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';

/**
 * Least time a member whose call timed out is avoided: longer than the renew schedule (60 s), so a
 * warm container's next ticks do not each pay a deadline to find it silent again.
 */
export const SILENT_AVOID_MS = 5 * 60_000;

/** How long a member whose call failed fast is avoided. */
export const DOWN_AVOID_MS = 1000;

/** Why a member is avoided. */
export const MemberTrouble = { Silent: 'silent', Down: 'down' } as const;
/** One of {@link MemberTrouble}. */
export type MemberTrouble = (typeof MemberTrouble)[keyof typeof MemberTrouble];

/** Options of {@link MemberHealth}. */
export interface MemberHealthOptions {
  /** The clock (ms since epoch). @default Date.now */
  readonly now?: () => number;
  /** The current invocation's deadline (ms since epoch): a silent member is avoided until then at least. */
  readonly invocationDeadline?: () => number | undefined;
}

/** Thrown, without calling, for a member that is avoided while another one is not. */
export class MemberAvoidedError extends Error {
  constructor(
    readonly endpoint: string,
    readonly trouble: MemberTrouble,
  ) {
    super(`etcd member ${endpoint} is not called for now: it was ${trouble === 'silent' ? 'silent' : 'down'}`);
    this.name = 'MemberAvoidedError';
  }
}

/** The health of the configured members (see the module comment). */
export class MemberHealth {
  private readonly marks = new Map<string, { until: number; trouble: MemberTrouble }>();
  private readonly now: () => number;

  constructor(
    /** Every configured endpoint, as given to etcd3. */
    readonly endpoints: readonly string[],
    private readonly options: MemberHealthOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Why `endpoint` is avoided now, or `undefined` when it is not. */
  trouble(endpoint: string): MemberTrouble | undefined {
    const mark = this.marks.get(endpoint);
    return mark && mark.until > this.now() ? mark.trouble : undefined;
  }

  /** The members to call now: those not avoided, or every member when all are. */
  usable(): string[] {
    const fine = this.endpoints.filter((e) => this.trouble(e) === undefined);
    return fine.length > 0 ? fine : [...this.endpoints];
  }

  /** True when `endpoint` is avoided and another member is not. */
  skips(endpoint: string): boolean {
    return this.trouble(endpoint) !== undefined && this.endpoints.some((e) => this.trouble(e) === undefined);
  }

  /** True when some member is not avoided (a call that timed out has somewhere else to go). */
  anyAnswering(): boolean {
    return this.endpoints.some((e) => this.trouble(e) === undefined);
  }

  /** The member answered (an etcd error is an answer too). */
  answered(endpoint: string): void {
    this.marks.delete(endpoint);
  }

  /** A call to the member got no answer before its deadline. */
  timedOut(endpoint: string): void {
    const until = Math.max(this.now() + SILENT_AVOID_MS, this.options.invocationDeadline?.() ?? 0);
    this.marks.set(endpoint, { until, trouble: MemberTrouble.Silent });
  }

  /** A call to the member failed without an answer (refused, reset, unavailable). */
  failed(endpoint: string): void {
    // A silent member that now refuses stays avoided as long as it was going to be.
    const until = Math.max(this.now() + DOWN_AVOID_MS, this.silentUntil(endpoint));
    this.marks.set(endpoint, {
      until,
      trouble: this.silentUntil(endpoint) > 0 ? MemberTrouble.Silent : MemberTrouble.Down,
    });
  }

  /** Records what a failed call says about its member. */
  observe(endpoint: string, err: unknown): void {
    if (err instanceof GRPCDeadlineExceededError) this.timedOut(endpoint);
    else if (err instanceof Error && isRecoverableError(err)) this.failed(endpoint);
    else this.answered(endpoint);
  }

  /** The avoided members and why, for logs. */
  avoided(): { endpoint: string; trouble: MemberTrouble }[] {
    return this.endpoints.flatMap((endpoint) => {
      const trouble = this.trouble(endpoint);
      return trouble ? [{ endpoint, trouble }] : [];
    });
  }

  private silentUntil(endpoint: string): number {
    const mark = this.marks.get(endpoint);
    return mark?.trouble === MemberTrouble.Silent && mark.until > this.now() ? mark.until : 0;
  }

  /**
   * The per-host policy etcd3 runs every call to `endpoint` through: skips the member while it is
   * avoided (etcd3 then tries the next host) unless `skip` is false (a client bound to this member
   * alone), and records what each call says about it. etcd3 only calls `execute`.
   */
  policy(endpoint: string, { skip = true }: { readonly skip?: boolean } = {}): IPolicy<IDefaultPolicyContext> {
    const execute = async <T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T): Promise<T> => {
      if (skip && this.skips(endpoint)) throw new MemberAvoidedError(endpoint, this.trouble(endpoint)!);
      try {
        const result = await fn({ signal: new AbortController().signal });
        // Opening a stream says nothing yet: its first answer or error does.
        if (!isStream(result)) this.answered(endpoint);
        return result;
      } catch (err) {
        this.observe(endpoint, err);
        throw err;
      }
    };
    return { execute } as unknown as IPolicy<IDefaultPolicyContext>;
  }

  /**
   * etcd3's policy over all hosts: its default three attempts on a recoverable error, except that
   * a call that timed out is tried again only when another member is left to answer (a single
   * silent etcd costs one deadline per call, not three).
   */
  retryPolicy(): IPolicy<IDefaultPolicyContext> {
    return retry(
      handleWhen(
        (err) => isRecoverableError(err) && (!(err instanceof GRPCDeadlineExceededError) || this.anyAnswering()),
      ),
      { maxAttempts: 3 },
    ) as unknown as IPolicy<IDefaultPolicyContext>;
  }
}

const isStream = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as { on?: unknown }).on === 'function';
