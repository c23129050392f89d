// One IAM role per function, with exactly the calls that function makes; no wildcard action.
//
//   Add an action:   one line in CALLS under the function that makes it.
//   Add a function:  one line in CALLS, and `role: <Name>Role` on the function in serverless.yml
//                    (packaging fails and says so when either is missing).
//
// An entry is an action on every resource ('ecs:DescribeTasks'), or an action on one resource of
// the stack, by logical ID (['sqs:SendMessage', 'SomeQueue']: its Arn).
//
// Derived, not listed: sqs:SendMessage on the function's on-failure destination queue, receiving
// from the queues of its `sqs` events, reading the etcd credentials' secret or parameter (every
// function connects to etcd), and the managed AWSLambdaVPCAccessExecutionRole (network interfaces in
// the VPC and the function's logs, as the framework's default role has).
//
// serverless.yml: `resources: ${file(./infra/iam-statements.cjs):resources}`, `role:` per function.
// The ECS/EC2 reads that turn a task into endpoints (its task definition, and for bridge/host tasks
// the container instance's EC2 address; the ECS service's declared port when a task leaves its gRPC
// port to a guess); every function that may publish a task makes them.
const PUBLISH = [
  'ecs:DescribeTaskDefinition',
  'ecs:DescribeServices',
  'ecs:DescribeContainerInstances',
  'ec2:DescribeInstances',
];
const CALLS = {
  // The first follow-up check of a task recorded pending goes to the follow queue.
  register: ['ecs:DescribeTasks', ...PUBLISH, ['sqs:SendMessage', 'FollowQueue']],
  // The drain check: pending tasks of the stopping task's services, published if HEALTHY. Its
  // package carries no EC2 client (a bridge or host task is left to the follow-up).
  deregister: ['ecs:DescribeTasks', 'ecs:DescribeTaskDefinition', 'ecs:DescribeServices'],
  // DescribeClusters confirms that a cluster is gone before renew removes its tasks.
  renew: ['ecs:DescribeTasks', 'ecs:ListTasks', 'ecs:DescribeClusters', ...PUBLISH, ['sqs:SendMessage', 'FollowQueue']],
  // The next check of a task still pending goes back on its own queue.
  follow: ['ecs:DescribeTasks', ...PUBLISH, ['sqs:SendMessage', 'FollowQueue']],
};
// DescribeTasks, ListTasks and DescribeContainerInstances could be limited per cluster with the
// ecs:cluster condition; clusters are discovered at run time, so they are not. DescribeTaskDefinition
// and ec2:DescribeInstances support no resource-level permissions.

/** The logical ID of a function's role: the framework's normalized function name + `Role`. */
const roleId = (fn) => `${fn[0].toUpperCase()}${fn.slice(1).replace(/-/g, 'Dash').replace(/_/g, 'Underscore')}Role`;

const getAtt = (id) => ({ 'Fn::GetAtt': [id, 'Arn'] });

/** Statements every function needs to read the etcd credentials, from the parameters. */
async function credentialStatements(param) {
  const statements = [];
  const secretArn = await param('etcdSecretArn');
  const parameter = await param('etcdSsmParameter');
  if (secretArn && parameter) throw new Error('set either etcdSecretArn or etcdSsmParameter, not both');
  if (secretArn) {
    // An ARN pattern outside lib/ecs/arn.ts (which knows ECS's): the framework loads this file with
    // plain Node before anything is built, so it cannot import TypeScript.
    if (!/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/.test(secretArn))
      throw new Error(`etcdSecretArn: "${secretArn}" is not a Secrets Manager secret ARN`);
    statements.push({ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: secretArn });
  }
  if (parameter) {
    if (!/^\/[A-Za-z0-9/_.-]+$/.test(parameter))
      throw new Error(`etcdSsmParameter: "${parameter}" is not an SSM parameter name starting with /`);
    // A SecureString under the AWS managed key aws/ssm needs no kms:Decrypt grant; add one for a customer key.
    statements.push({
      Effect: 'Allow',
      Action: ['ssm:GetParameter'],
      Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${parameter}` },
    });
  }
  return statements;
}

/** The statements of one function's calls (CALLS), on every resource first, then per resource. */
function callStatements(fn, calls) {
  const anywhere = [];
  const statements = [];
  for (const call of calls) {
    if (typeof call === 'string') anywhere.push(call);
    else if (Array.isArray(call) && call.length === 2)
      statements.push({ Effect: 'Allow', Action: [call[0]], Resource: getAtt(call[1]) });
    else
      throw new Error(
        `infra/iam-statements.cjs: ${fn}: ${JSON.stringify(call)} is neither an action nor [action, logical ID]`,
      );
  }
  return anywhere.length > 0 ? [{ Effect: 'Allow', Action: anywhere, Resource: '*' }, ...statements] : statements;
}

/** What the function's own configuration implies: sending to its on-failure queue, receiving from its sqs events' queues. */
function configuredStatements(config) {
  const statements = [];
  const onFailure = config.destinations?.onFailure;
  if (onFailure && typeof onFailure === 'object' && onFailure.type === 'sqs')
    statements.push({ Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: onFailure.arn });
  const queues = (config.events ?? []).filter((e) => e.sqs).map((e) => e.sqs.arn ?? e.sqs);
  if (queues.length > 0)
    statements.push({
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      Resource: queues,
    });
  return statements;
}

/** The roles, as CloudFormation resources; checks every function has its entry and uses its role. */
async function resources({ resolveVariable, resolveConfigurationProperty }) {
  const param = async (name) => String((await resolveVariable(`param:${name}`)) ?? '').trim();
  const functions = (await resolveConfigurationProperty(['functions'])) ?? {};
  const credentials = await credentialStatements(param);
  const roles = {};
  for (const [fn, config] of Object.entries(functions)) {
    if (!CALLS[fn])
      throw new Error(
        `function ${fn} has no entry in CALLS (infra/iam-statements.cjs): list the AWS calls it makes, [] for none`,
      );
    if (config.role !== roleId(fn))
      throw new Error(
        `function ${fn}: set \`role: ${roleId(fn)}\` in serverless.yml (its own role, infra/iam-statements.cjs)`,
      );
    const statements = [...callStatements(fn, CALLS[fn]), ...configuredStatements(config), ...credentials];
    roles[roleId(fn)] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: `${fn}: exactly the calls it makes (infra/iam-statements.cjs)`,
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: ['lambda.amazonaws.com'] }, Action: ['sts:AssumeRole'] },
          ],
        },
        ManagedPolicyArns: [
          { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole' },
        ],
        // IAM rejects a policy without statements: a function that calls nothing gets none.
        Policies:
          statements.length > 0
            ? [{ PolicyName: fn, PolicyDocument: { Version: '2012-10-17', Statement: statements } }]
            : [],
      },
    };
  }
  for (const fn of Object.keys(CALLS))
    if (!functions[fn])
      throw new Error(`CALLS (infra/iam-statements.cjs) names ${fn}, which serverless.yml does not define`);
  return { Resources: roles };
}

module.exports = { CALLS, resources };
