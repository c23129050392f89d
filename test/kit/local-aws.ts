/**
 * A local stand-in for the ECS and EC2 APIs (and the secret stores), spoken to by the real AWS SDK
 * through `AWS_ENDPOINT_URL_ECS` / `_EC2` / `_SECRETS_MANAGER` / `_SSM`. It answers the calls the
 * registrar makes (DescribeTasks, ListTasks, DescribeClusters, DescribeServices, DescribeTaskDefinition, DescribeContainerInstances,
 * DescribeInstances, GetSecretValue, GetParameter(s)) from state the test, demo or benchmark
 * controls, and can be told to fail. It also holds SQS queues (SendMessage, SendMessageBatch, with
 * per-message delays), whose due messages `local-sqs.ts` delivers to a handler.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';

type Json = Record<string, unknown>;

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

const TIME_FIELDS = [
  'createdAt',
  'startedAt',
  'stoppedAt',
  'stoppingAt',
  'executionStoppedAt',
  'pullStartedAt',
  'pullStoppedAt',
  'connectivityAt',
  'updatedAt',
];

/** A token bucket per action, as ECS and EC2 throttle reads per account and region. */
export interface Throttle {
  /** Tokens a full bucket holds (the burst). */
  readonly capacity: number;
  /** Tokens added back per second (the sustained rate). */
  readonly refillPerSecond: number;
  /** Actions it applies to (each with a bucket of its own). @default every action */
  readonly actions?: readonly string[];
}

/** Turns an event `detail` into the task object DescribeTasks returns (epoch times, ENI type name). */
export function describedFromDetail(detail: Json): Json {
  const task: Json = { ...detail };
  for (const field of TIME_FIELDS)
    if (typeof task[field] === 'string') task[field] = Date.parse(task[field] as string) / 1000;
  if (Array.isArray(task.attachments))
    task.attachments = (task.attachments as Json[]).map((a) =>
      a.type === 'eni' ? { ...a, type: 'ElasticNetworkInterface' } : a,
    );
  return task;
}

/**
 * The RUNNING/RUNNING state (version 3) of a task from the `detail` of its stopped event, e.g. the
 * health-checked sample `fargate-stopped-essential-container-exited-fivexl`.
 */
export function runningFromStopped(detail: Json, changes: Json = {}): Json {
  return {
    ...structuredClone(detail),
    version: 3,
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    stoppedAt: undefined,
    stopCode: undefined,
    containers: (detail.containers as Json[]).map((c) => ({ ...c, lastStatus: 'RUNNING', exitCode: undefined })),
    ...changes,
  };
}

/** The task definitions of the sample events (test/fixtures/task-definitions.json). */
export function sampleTaskDefinitions(): Json[] {
  const file = join(import.meta.dirname, '..', 'fixtures', 'task-definitions.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { definitions: Json[] }).definitions;
}

const clusterNameOf = (cluster: string) => cluster.split('/').pop()!;

/** The account and region a {@link LocalAws} answers for unless told otherwise. */
const DEFAULT_PLACE = { account: '123456789012', region: 'us-east-1' } as const;

/** One message held by a {@link LocalQueue}. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5: string;
  /** Epoch ms when it was sent. */
  readonly sentAt: number;
  /** Epoch ms from which it can be received (its delay, then its visibility timeout). */
  visibleAt: number;
  /** Times it was received. */
  receiveCount: number;
}

/** A local SQS queue: delays, visibility timeouts and a redrive to a dead-letter queue, as SQS does them. */
export class LocalQueue {
  /** Messages not deleted yet, received or not. */
  readonly messages: QueuedMessage[] = [];
  /** Messages ever sent to the queue. */
  sent = 0;

  constructor(
    readonly url: string,
    /** A message received this many times goes to `deadLetter` instead of an `maxReceiveCount + 1`th receive. */
    readonly redrive?: { readonly deadLetter: LocalQueue; readonly maxReceiveCount: number },
    /** How long a received message stays invisible (SQS: the queue's VisibilityTimeout). */
    readonly visibilityTimeoutMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds a message, visible after `delaySeconds`. */
  send(body: string, delaySeconds = 0): QueuedMessage {
    const now = this.now();
    const message: QueuedMessage = {
      messageId: randomUUID(),
      body,
      md5: createHash('md5').update(body).digest('hex'),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    };
    this.messages.push(message);
    this.sent++;
    return message;
  }

  /** Receives up to `max` visible messages, hiding them for the visibility timeout (or moving them to the dead letters). */
  receive(max: number): QueuedMessage[] {
    const now = this.now();
    const out: QueuedMessage[] = [];
    for (const message of [...this.messages].sort((a, b) => a.visibleAt - b.visibleAt)) {
      if (out.length >= max || message.visibleAt > now) break;
      if (this.redrive && message.receiveCount >= this.redrive.maxReceiveCount) {
        this.delete(message.messageId);
        this.redrive.deadLetter.messages.push({ ...message, visibleAt: now });
        this.redrive.deadLetter.sent++;
        continue;
      }
      message.receiveCount++;
      message.visibleAt = now + this.visibilityTimeoutMs;
      out.push(message);
    }
    return out;
  }

  /** Deletes a received message (the consumer handled it). */
  delete(messageId: string): void {
    const i = this.messages.findIndex((m) => m.messageId === messageId);
    if (i >= 0) this.messages.splice(i, 1);
  }

  /** Epoch ms at which the next message becomes visible, or undefined when the queue is empty. */
  nextVisibleAt(): number | undefined {
    return this.messages.length === 0 ? undefined : Math.min(...this.messages.map((m) => m.visibleAt));
  }
}

/** The local ECS + EC2 endpoint and the state it answers from. */
export class LocalAws {
  /** Tasks by ARN, in DescribeTasks shape. */
  readonly tasks = new Map<string, Json>();
  /** Task definitions by ARN, in DescribeTaskDefinition shape. */
  readonly taskDefinitions = new Map<string, Json>();
  /** EC2 instance id by container instance ARN. */
  readonly containerInstances = new Map<string, string>();
  /** Private IP by EC2 instance id. */
  readonly instanceIps = new Map<string, string>();
  /** ECS services (as DescribeServices answers them) by `<cluster name>/<service name>`. */
  readonly services = new Map<string, Json>();
  /** IPv6 address by instance id (instances without one have none). */
  readonly instanceIpv6s = new Map<string, string>();
  /** Secrets Manager secrets (SecretString) by name or ARN. */
  readonly secrets = new Map<string, string>();
  /** SSM parameter values by name. */
  readonly parameters = new Map<string, string>();
  /** Injected failures by operation name (e.g. `DescribeTasks`). */
  readonly faults = new Map<string, Fault>();
  /** Calls answered, by operation name. */
  readonly calls = new Map<string, number>();
  /** SQS queues by URL. */
  readonly queues = new Map<string, LocalQueue>();
  /** Task ARNs DescribeTasks answers MISSING for (eventual consistency) while ListTasks still lists them. */
  readonly describedMissing = new Set<string>();
  /** Deleted clusters by name, with what DescribeClusters says of them (`INACTIVE`, or `MISSING` once ECS forgot them). */
  readonly deletedClusters = new Map<string, 'INACTIVE' | 'MISSING'>();
  /** Every cluster (as the request named it) ECS was asked about: DescribeTasks, ListTasks, DescribeClusters. */
  readonly clustersAsked = new Set<string>();
  /** Calls refused with a throttling error by {@link throttle}'s buckets, by operation name. */
  readonly throttled = new Map<string, number>();
  private throttling?: Throttle;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** ListTasks results being paged through, by the token of their next page. */
  private readonly listings = new Map<string, { readonly arns: readonly string[]; readonly next: number }>();
  private server?: Server;
  /** `http://127.0.0.1:<port>` once started. */
  endpoint = '';

  /** The account and region this endpoint answers as (DescribeClusters' ARNs, the SDK's region). */
  readonly place: { readonly account: string; readonly region: string };

  /**
   * @param place the account and region this endpoint is ECS of: a cluster ARN of another is not
   *   found (ClusterNotFoundException; DescribeClusters: MISSING), as a regional ECS answers.
   *   Without it, clusters of any account and region are answered for (the sample events' too).
   */
  constructor(private readonly scoped?: { readonly account: string; readonly region: string }) {
    this.place = scoped ?? DEFAULT_PLACE;
  }

  /** True for a cluster ARN of another account or region than this endpoint's (only when scoped). */
  private elsewhere(cluster: string): boolean {
    const match = /^arn:[^:]+:ecs:([^:]+):(\d{12}):cluster\//.exec(cluster);
    return (
      this.scoped !== undefined &&
      match !== null &&
      (match[1] !== this.scoped.region || match[2] !== this.scoped.account)
    );
  }

  /** Starts listening on 127.0.0.1, on `port` or a free one. */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    this.endpoint = `http://127.0.0.1:${address.port}`;
    return this;
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** Environment that points the AWS SDK at this endpoint. */
  sdkEnv(): Record<string, string> {
    return {
      AWS_REGION: this.place.region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_ECS: this.endpoint,
      AWS_ENDPOINT_URL_EC2: this.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: this.endpoint,
      AWS_ENDPOINT_URL_SSM: this.endpoint,
      AWS_ENDPOINT_URL_SQS: this.endpoint,
      AWS_MAX_ATTEMPTS: '2',
      AWS_RETRY_MODE: 'standard',
    };
  }

  /**
   * Creates an SQS queue and returns its URL (`<endpoint>/123456789012/<name>`), with a redrive to
   * a dead-letter queue when `deadLetter` is given.
   */
  createQueue(
    name: string,
    options: {
      readonly deadLetter?: string;
      readonly maxReceiveCount?: number;
      readonly visibilityTimeoutMs?: number;
    } = {},
  ): string {
    const url = `${this.endpoint}/123456789012/${name}`;
    const deadLetter = options.deadLetter === undefined ? undefined : this.queue(options.deadLetter);
    this.queues.set(
      url,
      new LocalQueue(
        url,
        deadLetter && { deadLetter, maxReceiveCount: options.maxReceiveCount ?? 3 },
        options.visibilityTimeoutMs,
      ),
    );
    return url;
  }

  /** The queue at `url`. */
  queue(url: string): LocalQueue {
    const queue = this.queues.get(url);
    if (!queue) throw new Error(`no local queue ${url}`);
    return queue;
  }

  /** Adds or replaces a task from an event's `detail`. */
  putTaskFromDetail(detail: Json): void {
    this.tasks.set(detail.taskArn as string, describedFromDetail(detail));
  }

  /** Changes fields of a known task (e.g. `{ healthStatus: 'UNHEALTHY' }`). */
  updateTask(taskArn: string, changes: Json): void {
    const task = this.tasks.get(taskArn);
    if (!task) throw new Error(`unknown task ${taskArn}`);
    this.tasks.set(taskArn, { ...task, ...changes });
  }

  /**
   * Makes DescribeTasks answer MISSING for these tasks while ListTasks still lists them, as ECS's
   * eventually consistent reads can; {@link describedMissing} `.clear()` ends it.
   */
  answerMissing(...taskArns: string[]): void {
    for (const arn of taskArns) this.describedMissing.add(arn);
  }

  /**
   * Deletes a cluster and its tasks: DescribeTasks and ListTasks then fail with
   * ClusterNotFoundException, DescribeClusters answers `status` (INACTIVE as a cluster appears
   * after its deletion, MISSING once ECS has forgotten it).
   */
  deleteCluster(cluster: string, status: 'INACTIVE' | 'MISSING' = 'INACTIVE'): void {
    const name = clusterNameOf(cluster);
    for (const [arn, task] of this.tasks) if (clusterNameOf(String(task.clusterArn)) === name) this.tasks.delete(arn);
    this.deletedClusters.set(name, status);
  }

  /**
   * Adds or replaces an ECS service of a cluster, e.g. `{ serviceName, loadBalancers: [{ containerName,
   * containerPort }], serviceRegistries, deployments: [{ taskDefinition, serviceConnectConfiguration }] }`.
   */
  putService(cluster: string, service: Json): void {
    this.services.set(`${clusterNameOf(cluster)}/${String(service.serviceName)}`, service);
  }

  /** Adds a task definition, e.g. `{ taskDefinitionArn, family, networkMode, containerDefinitions }`. */
  putTaskDefinition(definition: Json): void {
    this.taskDefinitions.set(definition.taskDefinitionArn as string, definition);
  }

  /** Adds the task definitions of every sample event ({@link sampleTaskDefinitions}). */
  putSampleTaskDefinitions(): this {
    for (const definition of sampleTaskDefinitions()) this.putTaskDefinition(definition);
    return this;
  }

  /**
   * Declares a container instance and its EC2 private IP (`''` for an IPv6-only instance) and,
   * optionally, its IPv6 address.
   */
  putContainerInstance(containerInstanceArn: string, instanceId: string, privateIp: string, ipv6?: string): void {
    this.containerInstances.set(containerInstanceArn, instanceId);
    this.instanceIps.set(instanceId, privateIp);
    if (ipv6 === undefined) this.instanceIpv6s.delete(instanceId);
    else this.instanceIpv6s.set(instanceId, ipv6);
  }

  /**
   * Throttles like ECS: each action gets a token bucket of `capacity` refilling `refillPerSecond`;
   * a call finding its bucket empty is answered with `ThrottlingException` (EC2:
   * `RequestLimitExceeded`) and counted in {@link throttled}. `undefined` turns throttling off.
   */
  throttle(throttle: Throttle | undefined): this {
    this.throttling = throttle;
    this.buckets.clear();
    return this;
  }

  /** Total calls refused by throttling (all operations). */
  throttledCount(): number {
    return [...this.throttled.values()].reduce((a, b) => a + b, 0);
  }

  /** Total calls answered (or failed) for one operation. */
  count(operation: string): number {
    return this.calls.get(operation) ?? 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AmazonSQS.'))
      return this.sqs(target.split('.').pop()!, body ? (JSON.parse(body) as Json) : {}, res);
    if (typeof target === 'string')
      return this.ecs(target.split('.').pop()!, body ? (JSON.parse(body) as Json) : {}, res);
    return this.ec2(new URLSearchParams(body), res);
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

  private fault(operation: string, throttleCode = 'ThrottlingException'): Fault | undefined {
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

  private ecs(operation: string, input: Json, res: ServerResponse): void {
    const send = (status: number, payload: Json) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(payload));
    };
    for (const cluster of [input.cluster, ...((input.clusters as unknown[]) ?? [])])
      if (typeof cluster === 'string') this.clustersAsked.add(cluster);
    const fault = this.fault(operation);
    if (fault)
      return send(fault.status ?? 400, { __type: fault.code, message: fault.message ?? `injected ${fault.code}` });
    if (
      (operation === 'DescribeTasks' || operation === 'ListTasks') &&
      (this.deletedClusters.has(clusterNameOf(String(input.cluster ?? 'default'))) ||
        this.elsewhere(String(input.cluster ?? 'default')))
    )
      return send(400, { __type: 'ClusterNotFoundException', message: 'Cluster not found.' });
    switch (operation) {
      case 'DescribeClusters': {
        const asked = (input.clusters as string[]) ?? ['default'];
        const names = asked.map(clusterNameOf);
        const { account, region } = this.place;
        const arn = (name: string) => `arn:aws:ecs:${region}:${account}:cluster/${name}`;
        const foreign = new Set(asked.filter((c) => this.elsewhere(c)).map(clusterNameOf));
        const deleted = (name: string) => (foreign.has(name) ? 'MISSING' : this.deletedClusters.get(name));
        return send(200, {
          clusters: names
            .filter((n) => deleted(n) !== 'MISSING')
            .map((n) => ({ clusterArn: arn(n), clusterName: n, status: deleted(n) ?? 'ACTIVE' })),
          failures: names.filter((n) => deleted(n) === 'MISSING').map((n) => ({ arn: arn(n), reason: 'MISSING' })),
        });
      }
      case 'DescribeServices': {
        const names = (input.services as string[]) ?? [];
        if (names.length > 10)
          return send(400, { __type: 'InvalidParameterException', message: 'services can have at most 10 items' });
        const cluster = clusterNameOf(String(input.cluster ?? 'default'));
        const key = (name: string) => `${cluster}/${name.split('/').pop()}`;
        return send(200, {
          services: names.filter((n) => this.services.has(key(n))).map((n) => this.services.get(key(n))),
          failures: names.filter((n) => !this.services.has(key(n))).map((n) => ({ arn: n, reason: 'MISSING' })),
        });
      }
      case 'DescribeTasks': {
        const arns = (input.tasks as string[]) ?? [];
        if (arns.length > 100)
          return send(400, { __type: 'InvalidParameterException', message: 'tasks can have at most 100 items' });
        const cluster = clusterNameOf(String(input.cluster ?? 'default'));
        const tasks: Json[] = [];
        const failures: Json[] = [];
        for (const arn of arns) {
          const task = this.tasks.get(arn);
          if (task && clusterNameOf(String(task.clusterArn)) === cluster && !this.describedMissing.has(arn))
            tasks.push(task);
          else failures.push({ arn, reason: 'MISSING' });
        }
        return send(200, { tasks, failures });
      }
      case 'ListTasks': {
        // The first page lists the cluster's tasks once; later pages read that listing by token,
        // so paging through N tasks costs N, not N²/100 (benchmarks page through 50,000).
        let listing = typeof input.nextToken === 'string' ? this.listings.get(input.nextToken) : undefined;
        if (typeof input.nextToken === 'string' && !listing)
          return send(400, { __type: 'InvalidParameterException', message: 'invalid nextToken' });
        if (typeof input.nextToken === 'string') this.listings.delete(input.nextToken);
        if (!listing) {
          const cluster = clusterNameOf(String(input.cluster ?? 'default'));
          const desired = (input.desiredStatus as string) ?? 'RUNNING';
          const arns = [...this.tasks.values()]
            .filter((t) => clusterNameOf(String(t.clusterArn)) === cluster && t.desiredStatus === desired)
            .map((t) => t.taskArn as string);
          listing = { arns, next: 0 };
        }
        const size = Math.min(Number(input.maxResults ?? 100), 100);
        const end = listing.next + size;
        const nextToken = end < listing.arns.length ? `page-${this.count(operation)}` : undefined;
        if (nextToken) this.listings.set(nextToken, { arns: listing.arns, next: end });
        return send(200, { taskArns: listing.arns.slice(listing.next, end), ...(nextToken ? { nextToken } : {}) });
      }
      case 'DescribeTaskDefinition': {
        const definition = this.taskDefinitions.get(String(input.taskDefinition));
        if (!definition)
          return send(400, { __type: 'ClientException', message: 'Unable to describe task definition.' });
        return send(200, { taskDefinition: definition });
      }
      case 'DescribeContainerInstances': {
        const arns = (input.containerInstances as string[]) ?? [];
        return send(200, {
          containerInstances: arns
            .filter((a) => this.containerInstances.has(a))
            .map((a) => ({ containerInstanceArn: a, ec2InstanceId: this.containerInstances.get(a) })),
          failures: arns.filter((a) => !this.containerInstances.has(a)).map((arn) => ({ arn, reason: 'MISSING' })),
        });
      }
      case 'GetSecretValue': {
        const id = String(input.SecretId);
        const value = this.secrets.get(id);
        if (value === undefined)
          return send(400, {
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          });
        return send(200, {
          ARN: id.startsWith('arn:') ? id : `arn:aws:secretsmanager:us-east-1:123456789012:secret:${id}`,
          Name: id,
          SecretString: value,
          VersionId: 'v1',
        });
      }
      case 'GetParameter': {
        const name = String(input.Name);
        const value = this.parameters.get(name);
        if (value === undefined)
          return send(400, { __type: 'ParameterNotFound', message: `parameter ${name} not found` });
        return send(200, { Parameter: { Name: name, Type: 'SecureString', Value: value, Version: 1 } });
      }
      case 'GetParameters': {
        const names = (input.Names as string[]) ?? [];
        return send(200, {
          Parameters: names
            .filter((n) => this.parameters.has(n))
            .map((n) => ({ Name: n, Type: 'SecureString', Value: this.parameters.get(n), Version: 1 })),
          InvalidParameters: names.filter((n) => !this.parameters.has(n)),
        });
      }
      default:
        return send(400, {
          __type: 'UnknownOperationException',
          message: `local endpoint does not implement ${operation}`,
        });
    }
  }

  /** SQS over its JSON protocol (`x-amz-target: AmazonSQS.<Operation>`, as SDK v3 speaks it). */
  private sqs(operation: string, input: Json, res: ServerResponse): void {
    const send = (status: number, payload: Json) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(payload));
    };
    const fault = this.fault(operation);
    if (fault)
      return send(fault.status ?? 400, {
        __type: `com.amazonaws.sqs#${fault.code}`,
        message: `injected ${fault.code}`,
      });
    const queue = this.queues.get(String(input.QueueUrl));
    if (!queue)
      return send(400, {
        __type: 'com.amazonaws.sqs#QueueDoesNotExist',
        message: 'The specified queue does not exist.',
      });
    const delayOf = (value: unknown) => (value === undefined ? 0 : Number(value));
    const badDelay = (value: unknown) =>
      !Number.isInteger(delayOf(value)) || delayOf(value) < 0 || delayOf(value) > 900;
    switch (operation) {
      case 'SendMessage': {
        if (typeof input.MessageBody !== 'string' || input.MessageBody === '')
          return send(400, { __type: 'com.amazonaws.sqs#MissingParameter', message: 'MessageBody is required' });
        if (badDelay(input.DelaySeconds))
          return send(400, {
            __type: 'com.amazonaws.sqs#InvalidParameterValue',
            message: 'DelaySeconds must be 0-900',
          });
        const message = queue.send(input.MessageBody, delayOf(input.DelaySeconds));
        return send(200, { MessageId: message.messageId, MD5OfMessageBody: message.md5 });
      }
      case 'SendMessageBatch': {
        const entries = (input.Entries as Json[]) ?? [];
        if (entries.length === 0 || entries.length > 10)
          return send(400, {
            __type: 'com.amazonaws.sqs#TooManyEntriesInBatchRequest',
            message: 'a batch holds 1 to 10 entries',
          });
        const Successful: Json[] = [];
        const Failed: Json[] = [];
        for (const entry of entries) {
          if (typeof entry.MessageBody !== 'string' || entry.MessageBody === '' || badDelay(entry.DelaySeconds)) {
            Failed.push({
              Id: entry.Id,
              SenderFault: true,
              Code: 'InvalidParameterValue',
              Message: 'MessageBody required, DelaySeconds 0-900',
            });
            continue;
          }
          const message = queue.send(entry.MessageBody, delayOf(entry.DelaySeconds));
          Successful.push({ Id: entry.Id, MessageId: message.messageId, MD5OfMessageBody: message.md5 });
        }
        return send(200, { Successful, Failed });
      }
      default:
        return send(400, {
          __type: 'com.amazonaws.sqs#UnsupportedOperation',
          message: `local endpoint does not implement ${operation}`,
        });
    }
  }

  private ec2(params: URLSearchParams, res: ServerResponse): void {
    const action = params.get('Action') ?? '?';
    const fault = this.fault(action, 'RequestLimitExceeded');
    const xml = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(text);
    };
    if (fault)
      return xml(
        fault.status ?? 400,
        `<Response><Errors><Error><Code>${fault.code}</Code><Message>${fault.message ?? 'injected'}</Message></Error></Errors><RequestID>local</RequestID></Response>`,
      );
    if (action !== 'DescribeInstances')
      return xml(
        400,
        `<Response><Errors><Error><Code>InvalidAction</Code><Message>${action}</Message></Error></Errors></Response>`,
      );
    // InstanceId.N, or the values of an `instance-id` filter (Filter.N.Name / Filter.N.Value.M).
    const filter = [...params.entries()]
      .find(([k, v]) => /^Filter\.\d+\.Name$/.test(k) && v === 'instance-id')?.[0]
      .split('.')[1];
    const ids = [...params.entries()]
      .filter(([k]) => k.startsWith('InstanceId.') || (filter !== undefined && k.startsWith(`Filter.${filter}.Value.`)))
      .map(([, v]) => v);
    const items = ids
      .filter((id) => this.instanceIps.has(id))
      .map(
        (id) =>
          `<item><instanceId>${id}</instanceId>` +
          (this.instanceIps.get(id) ? `<privateIpAddress>${this.instanceIps.get(id)}</privateIpAddress>` : '') +
          (this.instanceIpv6s.has(id) ? `<ipv6Address>${this.instanceIpv6s.get(id)}</ipv6Address>` : '') +
          '</item>',
      )
      .join('');
    xml(
      200,
      `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>local</requestId><reservationSet><item><reservationId>r-local</reservationId><instancesSet>${items}</instancesSet></item></reservationSet></DescribeInstancesResponse>`,
    );
  }
}
