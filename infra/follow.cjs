// The pending-task follow-up's deploy settings, kept apart from the shared files.
//
// queueUrl: FOLLOW_QUEUE_URL of register, renew and follow. The queue's URL (infra/follow.yml) on
// AWS; on the `local` stage (`serverless invoke local --stage local`) the queue `npm run local-ecs`
// holds, since invoke local cannot resolve a CloudFormation reference.
//
// IAM: the follow function's calls, and register's and renew's sqs:SendMessage on the follow queue,
// are lines of CALLS in infra/iam-statements.cjs (one role per function).

/** The local queue of `npm run local-ecs` (scripts/local-ecs.ts; port LOCAL_ECS_PORT, default 4566). */
const LOCAL_QUEUE_URL = `http://127.0.0.1:${process.env.LOCAL_ECS_PORT ?? 4566}/123456789012/ecs-etcd-registrar-local-follow`;

async function queueUrl({ resolveVariable }) {
  const stage = await resolveVariable('sls:stage');
  return stage === 'local' ? LOCAL_QUEUE_URL : { Ref: 'FollowQueue' };
}

module.exports = { queueUrl };
