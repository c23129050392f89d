// The functions' IAM statements: exactly the reads the code makes, nothing with a wildcard action.
// serverless.yml: provider.iam.role.statements: ${file(./infra/iam-statements.cjs)}
module.exports = async ({ resolveVariable }) => {
  const param = async (name) => String((await resolveVariable(`param:${name}`)) ?? '').trim();
  const statements = [
    {
      // DescribeTasks, ListTasks and DescribeContainerInstances could be limited per cluster with
      // the ecs:cluster condition; clusters are discovered at run time, so they are not.
      // DescribeClusters confirms that a cluster is gone before renew removes its tasks.
      Effect: 'Allow',
      Action: ['ecs:DescribeTasks', 'ecs:ListTasks', 'ecs:DescribeContainerInstances', 'ecs:DescribeClusters'],
      Resource: '*',
    },
    {
      // Neither supports resource-level permissions.
      Effect: 'Allow',
      Action: ['ecs:DescribeTaskDefinition', 'ec2:DescribeInstances'],
      Resource: '*',
    },
  ];
  const secretArn = await param('etcdSecretArn');
  if (secretArn) {
    if (!/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/.test(secretArn))
      throw new Error(`etcdSecretArn: "${secretArn}" is not a Secrets Manager secret ARN`);
    statements.push({ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: secretArn });
  }
  const parameter = await param('etcdSsmParameter');
  if (parameter) {
    if (!/^\/[A-Za-z0-9/_.-]+$/.test(parameter)) throw new Error(`etcdSsmParameter: "${parameter}" is not an SSM parameter name starting with /`);
    // A SecureString under the AWS managed key aws/ssm needs no kms:Decrypt grant; add one for a customer key.
    statements.push({ Effect: 'Allow', Action: ['ssm:GetParameters'], Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${parameter}` } });
  }
  if (secretArn && parameter) throw new Error('set either etcdSecretArn or etcdSsmParameter, not both');
  return statements;
};
