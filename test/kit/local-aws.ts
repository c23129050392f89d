/**
 * A local stand-in for the ECS and EC2 APIs (and the secret stores), spoken to by the real AWS SDK
 * through `AWS_ENDPOINT_URL_ECS` / `_EC2` / `_SECRETS_MANAGER` / `_SSM`. It answers the calls the
 * registrar makes (DescribeTasks, ListTasks, DescribeClusters, DescribeServices, DescribeTaskDefinition,
 * DescribeContainerInstances, DescribeInstances, GetSecretValue, GetParameter(s)) from state the
 * test, demo or benchmark controls, and can be told to fail. It also holds SQS queues (SendMessage,
 * SendMessageBatch, with per-message delays), whose due messages `local-sqs.ts` delivers to a handler.
 *
 * One entry, one file a service: `local-aws/ecs.ts`, `ec2.ts`, `sqs.ts`, `secrets.ts`, and
 * `endpoint.ts` for the HTTP server, the faults, the throttling and the call counts they share.
 */
import type { ServerResponse } from 'node:http';
import { LocalEc2 } from './local-aws/ec2';
import { LocalEcs, sampleTaskDefinitions, type Place } from './local-aws/ecs';
import {
  CallGate,
  HttpEndpoint,
  jsonReply,
  type Fault,
  type Json,
  type LocalRequest,
  type Throttle,
} from './local-aws/endpoint';
import { LocalSecrets } from './local-aws/secrets';
import { LocalSqs, type LocalQueue } from './local-aws/sqs';

export { describedFromDetail, runningFromStopped, sampleTaskDefinitions } from './local-aws/ecs';
export type { Fault, Throttle } from './local-aws/endpoint';
export { LocalQueue, type QueuedMessage } from './local-aws/sqs';

/** The account and region a {@link LocalAws} answers for unless told otherwise. */
const DEFAULT_PLACE = { account: '123456789012', region: 'us-east-1' } as const;

/** The local ECS + EC2 endpoint and the state it answers from. */
export class LocalAws {
  /** Tasks by ARN, in DescribeTasks shape. */
  readonly tasks: Map<string, Json>;
  /** Task definitions by ARN, in DescribeTaskDefinition shape. */
  readonly taskDefinitions: Map<string, Json>;
  /** EC2 instance id by container instance ARN. */
  readonly containerInstances: Map<string, string>;
  /** Private IP by EC2 instance id. */
  readonly instanceIps: Map<string, string>;
  /** ECS services (as DescribeServices answers them) by `<cluster name>/<service name>`. */
  readonly services: Map<string, Json>;
  /** IPv6 address by instance id (instances without one have none). */
  readonly instanceIpv6s: Map<string, string>;
  /** Secrets Manager secrets (SecretString) by name or ARN. */
  readonly secrets: Map<string, string>;
  /** SSM parameter values by name. */
  readonly parameters: Map<string, string>;
  /** Injected failures by operation name (e.g. `DescribeTasks`). */
  readonly faults: Map<string, Fault>;
  /** Calls answered, by operation name. */
  readonly calls: Map<string, number>;
  /** SQS queues by URL. */
  readonly queues: Map<string, LocalQueue>;
  /** Task ARNs DescribeTasks answers MISSING for (eventual consistency) while ListTasks still lists them. */
  readonly describedMissing: Set<string>;
  /** Deleted clusters by name, with what DescribeClusters says of them (`INACTIVE`, or `MISSING` once ECS forgot them). */
  readonly deletedClusters: Map<string, 'INACTIVE' | 'MISSING'>;
  /** Every cluster (as the request named it) ECS was asked about: DescribeTasks, ListTasks, DescribeClusters. */
  readonly clustersAsked: Set<string>;
  /** Calls refused with a throttling error by {@link throttle}'s buckets, by operation name. */
  readonly throttled: Map<string, number>;

  /** `http://127.0.0.1:<port>` once started. */
  endpoint = '';

  /** The account and region this endpoint answers as (DescribeClusters' ARNs, the SDK's region). */
  readonly place: Place;

  private readonly gate = new CallGate();
  private readonly http = new HttpEndpoint();
  private readonly ecs: LocalEcs;
  private readonly ec2 = new LocalEc2();
  private readonly sqs = new LocalSqs();
  private readonly secretStores = new LocalSecrets();

  /**
   * @param scoped the account and region this endpoint is ECS of: a cluster ARN of another is not
   *   found (ClusterNotFoundException; DescribeClusters: MISSING), as a regional ECS answers.
   *   Without it, clusters of any account and region are answered for (the sample events' too).
   */
  constructor(scoped?: Place) {
    this.place = scoped ?? DEFAULT_PLACE;
    this.ecs = new LocalEcs(this.place, scoped);
    ({
      tasks: this.tasks,
      taskDefinitions: this.taskDefinitions,
      containerInstances: this.containerInstances,
      services: this.services,
      describedMissing: this.describedMissing,
      deletedClusters: this.deletedClusters,
      clustersAsked: this.clustersAsked,
    } = this.ecs);
    ({ instanceIps: this.instanceIps, instanceIpv6s: this.instanceIpv6s } = this.ec2);
    ({ secrets: this.secrets, parameters: this.parameters } = this.secretStores);
    ({ faults: this.faults, calls: this.calls, throttled: this.throttled } = this.gate);
    this.queues = this.sqs.queues;
  }

  /** Starts listening on 127.0.0.1, on `port` or a free one. */
  async start(port = 0): Promise<this> {
    await this.http.start(port, (request, res) => this.route(request, res));
    this.endpoint = this.http.url;
    return this;
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    await this.http.stop();
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
    return this.sqs.createQueue(this.endpoint, name, options);
  }

  /** The queue at `url`. */
  queue(url: string): LocalQueue {
    return this.sqs.queue(url);
  }

  /** Adds or replaces a task from an event's `detail`. */
  putTaskFromDetail(detail: Json): void {
    this.ecs.putTaskFromDetail(detail);
  }

  /** Changes fields of a known task (e.g. `{ healthStatus: 'UNHEALTHY' }`). */
  updateTask(taskArn: string, changes: Json): void {
    this.ecs.updateTask(taskArn, changes);
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
    this.ecs.deleteCluster(cluster, status);
  }

  /**
   * Adds or replaces an ECS service of a cluster, e.g. `{ serviceName, loadBalancers: [{ containerName,
   * containerPort }], serviceRegistries, deployments: [{ taskDefinition, serviceConnectConfiguration }] }`.
   */
  putService(cluster: string, service: Json): void {
    this.ecs.putService(cluster, service);
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
    this.gate.throttle(throttle);
    return this;
  }

  /** Total calls refused by throttling (all operations). */
  throttledCount(): number {
    return this.gate.throttledCount();
  }

  /** Total calls answered (or failed) for one operation. */
  count(operation: string): number {
    return this.gate.count(operation);
  }

  /** Sends a request to its service: SQS and the JSON 1.1 services by `x-amz-target`, EC2 without one. */
  private route({ target, body }: LocalRequest, res: ServerResponse): void {
    if (target === undefined) return this.ec2.answer(new URLSearchParams(body), this.gate, res);
    const operation = target.split('.').pop()!;
    const input = body ? (JSON.parse(body) as Json) : {};
    if (target.startsWith('AmazonSQS.')) return this.sqs.answer(operation, input, this.gate, jsonReply(res, '1.0'));
    const send = jsonReply(res, '1.1');
    if (this.secretStores.answers(operation)) return this.secretStores.answer(operation, input, this.gate, send);
    return this.ecs.answer(operation, input, this.gate, send);
  }
}
