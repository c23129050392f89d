/**
 * Runs the local ECS/EC2 endpoint in the foreground for trying the functions by hand, loaded with
 * every sample task definition and the task of every sample event (so DescribeTasks and ListTasks
 * answer for them), and the follow queue (`FOLLOW_QUEUE_URL`, which `serverless invoke local
 * --stage local` uses) holding what register and follow send to it. Port 4566 unless
 * LOCAL_ECS_PORT says otherwise. Ctrl-C stops it.
 *
 *   npm run local-ecs
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadEvent } from '../test/kit/events';
import { LocalAws, runningFromStopped } from '../test/kit/local-aws';

type Json = Record<string, any>;
const events = join(import.meta.dirname, '..', 'test', 'fixtures', 'events');
const aws = (await new LocalAws().start(Number(process.env.LOCAL_ECS_PORT ?? 4566))).putSampleTaskDefinitions();
let hosts = 0;
for (const file of readdirSync(events).filter((f) => f.endsWith('.json') && !f.startsWith('REFERENCE'))) {
  const event = loadEvent(file.slice(0, -'.json'.length));
  if (event.source !== 'aws.ecs') continue;
  const detail = structuredClone(event.detail) as Json;
  // Old-shape EC2 events carry no bindings: answer DescribeTasks with the host port ECS would report.
  for (const c of detail.containers ?? [])
    if (detail.containerInstanceArn && !c.networkBindings)
      c.networkBindings = [{ bindIP: '0.0.0.0', containerPort: 8080, hostPort: 32770, protocol: 'tcp' }];
  if (!aws.tasks.has(detail.taskArn) || detail.desiredStatus === 'RUNNING') aws.putTaskFromDetail(detail);
  if (detail.containerInstanceArn)
    aws.putContainerInstance(detail.containerInstanceArn, `i-0local${hosts}`, `172.31.0.${10 + hosts++}`);
}
// The task the sample follow-up message names: running, and HEALTHY as ECS would say.
const followUp = JSON.parse(loadEvent('follow-up-sqs-batch').Records[0].body) as Json;
const gated = loadEvent('fargate-stopped-essential-container-exited-fivexl');
const healthy = runningFromStopped(gated.detail, { taskArn: followUp.taskArn, healthStatus: 'HEALTHY' });
aws.putTaskFromDetail({
  ...healthy,
  containers: (healthy.containers as Json[]).map((c) => ({ ...c, healthStatus: 'HEALTHY' })),
});
const followQueue = aws.createQueue('ecs-etcd-registrar-local-follow');
const env = Object.entries({ ...aws.sdkEnv(), FOLLOW_QUEUE_URL: followQueue })
  .map(([k, v]) => `export ${k}=${v}`)
  .join('\n');
console.log(
  `local ECS/EC2 endpoint on ${aws.endpoint}: ${aws.taskDefinitions.size} task definitions, ${aws.tasks.size} tasks (Ctrl-C to stop)\n${env}`,
);
process.on('SIGINT', () => void aws.stop().then(() => process.exit(0)));
process.on('SIGTERM', () => void aws.stop().then(() => process.exit(0)));
