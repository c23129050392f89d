/**
 * The optional xDS service's parameters (infra/xds-service.cjs), checked as `serverless package`
 * resolves them: a bad value stops packaging with the parameter's name. The resources themselves
 * are checked in the packaged template (package.test.ts).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const { resources } = createRequire(import.meta.url)('../../infra/xds-service.cjs') as {
  resources: (ctx: { resolveVariable: (v: string) => Promise<unknown> }) => Promise<{ Resources: Record<string, any> }>;
};

const resolver = (params: Record<string, string>) => ({
  resolveVariable: async (variable: string) => {
    if (variable === 'self:service') return 'ecs-etcd-registrar';
    if (variable === 'sls:stage') return 'test';
    return params[variable.replace(/^param:/, '')] ?? '';
  },
});
const base = {
  xdsImage: 'example/xds:1',
  xdsVpcId: 'vpc-0abc',
  subnetIds: 'subnet-a,subnet-b',
  securityGroupIds: 'sg-1',
  etcdEndpoints: 'http://10.0.1.5:2379',
  registryPrefix: 'services',
};

describe('infra/xds-service.cjs', () => {
  it('adds nothing without xdsImage', async () => {
    expect(await resources(resolver({ ...base, xdsImage: '' }))).toEqual({ Resources: {} });
  });

  it('refuses a missing VPC, one subnet, fewer than two tasks and a bad CIDR, naming the parameter', async () => {
    await expect(resources(resolver({ ...base, xdsVpcId: '' }))).rejects.toThrow(/^xdsVpcId: required with xdsImage/);
    await expect(resources(resolver({ ...base, subnetIds: 'subnet-a' }))).rejects.toThrow(
      /^xdsSubnetIds: the xDS service needs subnets in two or more zones, got 1$/,
    );
    await expect(resources(resolver({ ...base, xdsDesiredCount: '1' }))).rejects.toThrow(/^xdsDesiredCount: expected/);
    await expect(resources(resolver({ ...base, xdsClientCidr: 'anywhere' }))).rejects.toThrow(
      /^xdsClientCidr: expected/,
    );
  });

  it('runs in a given cluster without creating one, and grants the SSM parameter when that holds the credentials', async () => {
    const { Resources } = await resources(resolver({ ...base, xdsCluster: 'shared', etcdSsmParameter: '/prod/etcd' }));
    expect(Resources.XdsCluster).toBeUndefined();
    expect(Resources.XdsService.Properties.Cluster).toBe('shared');
    expect(Resources.XdsTaskRole.Properties.Policies[0].PolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/prod/etcd' },
      },
    ]);
  });
});
