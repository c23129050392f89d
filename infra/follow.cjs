// The pending-task follow-up's deploy settings, kept apart from the shared files.
//
// queueUrl: FOLLOW_QUEUE_URL of register, renew and follow. The queue's URL (infra/follow.yml) on
// AWS; on the `local` stage (`serverless invoke local --stage local`) the queue `npm run local-ecs`
// holds, since invoke local cannot resolve a CloudFormation reference.
//
// statements: IAM, appended to the shared statements by iam-statements.cjs. What each function
// calls for the follow-up:
//
//   register    sqs:SendMessage on the follow queue (the first check of a task recorded pending)
//   renew       sqs:SendMessage on the follow queue (tasks it records pending: repairs, re-checks)
//   follow      sqs:SendMessage on the follow queue (the next check); ecs:DescribeTasks, and to
//               publish a task from ECS's answer ecs:DescribeTaskDefinition,
//               ecs:DescribeContainerInstances, ec2:DescribeInstances (bridge/host tasks);
//               receiving and deleting its messages is granted by the SQS event source.
//   deregister  the drain check: ecs:DescribeTasks, and to publish ecs:DescribeTaskDefinition,
//               ecs:DescribeContainerInstances, ec2:DescribeInstances
//
// The ECS and EC2 reads are already in the shared statements; with one role per function, grant
// each function the lines above.
async function statements() {
  return [
    {
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: { 'Fn::GetAtt': ['FollowQueue', 'Arn'] },
    },
  ];
}

/** The local queue of `npm run local-ecs` (scripts/local-ecs.ts; port LOCAL_ECS_PORT, default 4566). */
const LOCAL_QUEUE_URL = `http://127.0.0.1:${process.env.LOCAL_ECS_PORT ?? 4566}/123456789012/ecs-etcd-registrar-local-follow`;

async function queueUrl({ resolveVariable }) {
  const stage = await resolveVariable('sls:stage');
  return stage === 'local' ? LOCAL_QUEUE_URL : { Ref: 'FollowQueue' };
}

module.exports = { statements, queueUrl };
