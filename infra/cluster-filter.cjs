// The EventBridge pattern for `detail.clusterArn`: the clusters of the `clusterArns` parameter,
// or any cluster when it is empty (`exists: true` matches every event that has a clusterArn).
//
// Deploy guard: ECS sends a cluster's events only to the EventBridge of the cluster's own account
// and region, so a cluster of another region or account would never be seen. Packaging fails when
// a cluster ARN names a region other than the stack's (--region, else provider.region, else
// us-east-1: always known) or an account other than the stack's, when that is known without
// asking AWS: the `accountId` parameter, else the AWS_ACCOUNT_ID environment variable. Without
// either, the account is not checked (packaging stays offline).
module.exports = async ({ resolveVariable }) => {
  const raw = (await resolveVariable('param:clusterArns')) ?? '';
  const arns = String(raw)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const region = String(await resolveVariable('aws:region'));
  const account =
    String((await resolveVariable('param:accountId')) ?? '').trim() || process.env.AWS_ACCOUNT_ID?.trim() || '';
  if (account && !/^\d{12}$/.test(account)) throw new Error(`accountId: "${account}" is not a 12-digit AWS account ID`);
  const problems = [];
  for (const arn of arns) {
    // Not lib/ecs/arn.ts's CLUSTER_ARN: the framework loads this file with plain Node while it reads
    // serverless.yml, before anything is built, so it cannot import TypeScript. Same shape, kept here.
    const match = /^arn:aws[a-z-]*:ecs:([a-z0-9-]+):(\d{12}):cluster\/[A-Za-z0-9_-]+$/.exec(arn);
    if (!match) throw new Error(`clusterArns: "${arn}" is not an ECS cluster ARN`);
    if (match[1] !== region)
      problems.push(
        `"${arn}" is in region ${match[1]}, but the stack deploys to ${region} (--region, else provider.region)`,
      );
    if (account && match[2] !== account)
      problems.push(
        `"${arn}" is in account ${match[2]}, but the stack deploys to account ${account} (accountId parameter, else AWS_ACCOUNT_ID)`,
      );
  }
  if (problems.length > 0)
    throw new Error(
      `clusterArns: ${problems.join('; ')}. ECS sends a cluster's events only to its own account and region, so this stack would never see them: deploy one stack per account and region, each with its own clusters.`,
    );
  return arns.length > 0 ? arns : [{ exists: true }];
};
