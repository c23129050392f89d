/**
 * The plumbing of the local AWS endpoint ({@link LocalAws} in `../local-aws.ts`): one HTTP server
 * for every service, the reply formats of the JSON protocols, and the gate each call passes first
 * (counted, then throttled by a token bucket or failed by an injected fault).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A request or answer body of the JSON protocols, as the local services read and write it. */
export type Json = Record<string, unknown>;

/** An injected API failure. */
export interface Fault {
  /** AWS error code, e.g. `ThrottlingException`, `ServerException`, `ClusterNotFoundException`. */
  readonly code: string;
  /** HTTP status. @default 400 */
  readonly status?: number;
  /** How many calls fail before the API answers again. @default Infinity */
  times?: number;
  /** The error message. @default "injected <code>" */
  readonly message?: string;
}

/** A token bucket per action, as ECS and EC2 throttle reads per account and region. */
export interface Throttle {
  /** Tokens a full bucket holds (the burst). */
  readonly capacity: number;
  /** Tokens added back per second (the sustained rate). */
  readonly refillPerSecond: number;
  /** Actions it applies to (each with a bucket of its own). @default every action */
  readonly actions?: readonly string[];
}

/** Sends one answer: an HTTP status and a JSON body. */
export type Send = (status: number, payload: Json) => void;

/** The answer writer of a JSON protocol (`1.1`: ECS, Secrets Manager, SSM; `1.0`: SQS). */
export function jsonReply(res: ServerResponse, version: '1.0' | '1.1'): Send {
  return (status, payload) => {
    res.writeHead(status, { 'content-type': `application/x-amz-json-${version}` });
    res.end(JSON.stringify(payload));
  };
}

/** Counts the calls of every operation, throttles them and fails them as told. */
export class CallGate {
  /** Injected failures by operation name (e.g. `DescribeTasks`). */
  readonly faults = new Map<string, Fault>();
  /** Calls answered, by operation name. */
  readonly calls = new Map<string, number>();
  /** Calls refused with a throttling error by the buckets, by operation name. */
  readonly throttled = new Map<string, number>();
  private throttling?: Throttle;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Throttles with `throttle`'s buckets (refilled from full), or stops throttling. */
  throttle(throttle: Throttle | undefined): void {
    this.throttling = throttle;
    this.buckets.clear();
  }

  /** Total calls refused by throttling (all operations). */
  throttledCount(): number {
    return [...this.throttled.values()].reduce((a, b) => a + b, 0);
  }

  /** Total calls answered (or failed) for one operation. */
  count(operation: string): number {
    return this.calls.get(operation) ?? 0;
  }

  /**
   * Counts a call and says how it fails: throttled (`throttleCode`) when its bucket is empty, else
   * the operation's injected fault while it lasts; undefined when the call is to be answered.
   */
  enter(operation: string, throttleCode = 'ThrottlingException'): Fault | undefined {
    this.calls.set(operation, this.count(operation) + 1);
    if (!this.admit(operation)) {
      this.throttled.set(operation, (this.throttled.get(operation) ?? 0) + 1);
      return { code: throttleCode, status: 400, message: 'Rate exceeded' };
    }
    const fault = this.faults.get(operation);
    if (!fault) return undefined;
    if (fault.times !== undefined) {
      if (fault.times <= 0) return undefined;
      fault.times--;
    }
    return fault;
  }

  /** Takes a token from the operation's bucket; false when it is empty. */
  private admit(operation: string): boolean {
    const t = this.throttling;
    if (!t || (t.actions && !t.actions.includes(operation))) return true;
    const now = performance.now();
    const bucket = this.buckets.get(operation) ?? { tokens: t.capacity, at: now };
    bucket.tokens = Math.min(t.capacity, bucket.tokens + ((now - bucket.at) / 1000) * t.refillPerSecond);
    bucket.at = now;
    this.buckets.set(operation, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

/** A request as the services are handed it: its `x-amz-target` (JSON protocols) and its body. */
export interface LocalRequest {
  readonly target?: string;
  readonly body: string;
}

/** The HTTP server on 127.0.0.1 every local service answers through. */
export class HttpEndpoint {
  private server?: Server;
  /** `http://127.0.0.1:<port>` once started. */
  url = '';

  /** Starts listening on `port` (or a free one), handing each request to `handle`. */
  async start(port: number, handle: (request: LocalRequest, res: ServerResponse) => void): Promise<void> {
    this.server = createServer((req, res) => void read(req).then((request) => handle(request, res)));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    this.url = `http://127.0.0.1:${address.port}`;
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

async function read(req: IncomingMessage): Promise<LocalRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const target = req.headers['x-amz-target'];
  return { target: typeof target === 'string' ? target : undefined, body: Buffer.concat(chunks).toString() };
}
