// The EventBridge pattern for `detail.clusterArn`: the clusters of the `clusterArns` parameter,
// or any cluster when it is empty (`exists: true` matches every event that has a clusterArn).
module.exports = async ({ resolveVariable }) => {
  const raw = (await resolveVariable('param:clusterArns')) ?? '';
  const arns = String(raw).split(',').map((s) => s.trim()).filter(Boolean);
  for (const arn of arns) {
    if (!/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]+$/.test(arn))
      throw new Error(`clusterArns: "${arn}" is not an ECS cluster ARN`);
  }
  return arns.length > 0 ? arns : [{ exists: true }];
};
