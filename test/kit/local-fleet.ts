/**
 * ECS tasks whose containers are real servers on this machine: each task runs in bridge mode on
 * one EC2 container instance whose private IP is 127.0.0.1, its dynamic host port being the port
 * a local server listens on. The fleet tells the local ECS/EC2 endpoint about the task definitions,
 * the container instance and every task, and builds the "ECS Task State Change" events ECS would
 * send, so the real handlers resolve the same endpoints they would in AWS.
 */
import type { LocalAws } from './local-aws';

type Json = Record<string, any>;

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
/** Port the containers listen on inside; the host port is the local server's. */
export const CONTAINER_PORT = 50051;
const CONTAINER = 'app';

/** One task of the fleet. */
export interface FleetTask {
  readonly taskArn: string;
  readonly service: string;
  /** The host port clients dial. */
  readonly port: number;
  /** The RUNNING event ECS sends once the task started. */
  running(): Json;
  /**
   * ECS decides to stop the task: from now on DescribeTasks says desiredStatus STOPPED. Returns the
   * event ECS sends about it.
   */
  stop(): Json;
  /** Makes DescribeTasks report the task UNHEALTHY. */
  reportUnhealthy(): void;
}

/** Tasks on one local container instance, in one cluster. */
export class LocalFleet {
  readonly clusterArn: string;
  readonly containerInstanceArn: string;
  private readonly definitions = new Set<string>();
  private count = 0;

  constructor(
    private readonly aws: LocalAws,
    cluster = 'local',
    /** Distinguishes the task ids of fleets sharing one local ECS endpoint. */
    private readonly salt = Math.floor(Math.random() * 0xffffff).toString(16),
  ) {
    this.clusterArn = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${cluster}`;
    this.containerInstanceArn = `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${cluster}/0123456789abcdef0123456789abcdef`;
    aws.putContainerInstance(this.containerInstanceArn, 'i-0123456789abcdef0', '127.0.0.1');
  }

  /**
   * Declares a started task of `service` whose container is reached at 127.0.0.1:`port`, in the
   * Availability Zone `options.availabilityZone` if given (its events and DescribeTasks say so).
   */
  task(service: string, port: number, options: { availabilityZone?: string } = {}): FleetTask {
    const definitionArn = this.definition(service);
    const id = `${this.salt}${(++this.count).toString(16)}`.padStart(32, '0');
    const taskArn = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${this.clusterArn.split('/').pop()}/${id}`;
    const startedAt = new Date().toISOString();
    const detail = (version: number, desiredStatus: string): Json => ({
      taskArn,
      clusterArn: this.clusterArn,
      containerInstanceArn: this.containerInstanceArn,
      taskDefinitionArn: definitionArn,
      group: `service:${service}`,
      launchType: 'EC2',
      ...(options.availabilityZone ? { availabilityZone: options.availabilityZone } : {}),
      version,
      lastStatus: 'RUNNING',
      desiredStatus,
      startedAt,
      containers: [
        {
          name: CONTAINER,
          taskArn,
          lastStatus: 'RUNNING',
          networkBindings: [{ bindIP: '0.0.0.0', containerPort: CONTAINER_PORT, hostPort: port, protocol: 'tcp' }],
        },
      ],
    });
    const event = (version: number, desiredStatus: string): Json => ({
      version: '0',
      id: `${id}-${version}`,
      'detail-type': 'ECS Task State Change',
      source: 'aws.ecs',
      account: ACCOUNT,
      time: new Date().toISOString(),
      region: REGION,
      resources: [taskArn],
      detail: detail(version, desiredStatus),
    });
    this.aws.putTaskFromDetail(detail(3, 'RUNNING'));
    return {
      taskArn,
      service,
      port,
      running: () => event(3, 'RUNNING'),
      stop: () => {
        this.aws.updateTask(taskArn, { version: 4, desiredStatus: 'STOPPED' });
        return event(4, 'STOPPED');
      },
      reportUnhealthy: () => this.aws.updateTask(taskArn, { healthStatus: 'UNHEALTHY' }),
    };
  }

  private definition(service: string): string {
    const arn = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${service}:1`;
    if (!this.definitions.has(arn)) {
      this.aws.putTaskDefinition({
        taskDefinitionArn: arn,
        family: service,
        revision: 1,
        networkMode: 'bridge',
        containerDefinitions: [
          {
            name: CONTAINER,
            essential: true,
            portMappings: [{ containerPort: CONTAINER_PORT, hostPort: 0, protocol: 'tcp' }],
          },
        ],
      });
      this.definitions.add(arn);
    }
    return arn;
  }
}
