/**
 * infra/iam-statements.cjs, called as serverless.yml calls it (`${file(...):resources}`): one role
 * per function from CALLS, and packaging stops with a clear message when a function and its
 * CALLS entry or its `role:` line disagree.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

type Json = Record<string, any>;
const { resources, CALLS } = createRequire(import.meta.url)('../../infra/iam-statements.cjs') as {
  CALLS: Record<string, unknown[]>;
  resources: (ctx: {
    resolveVariable: (v: string) => Promise<unknown>;
    resolveConfigurationProperty: (p: string[]) => Promise<unknown>;
  }) => Promise<{ Resources: Record<string, Json> }>;
};

/** The functions of serverless.yml as the CALLS table names them, each with its role, changed by `overrides`. */
function functions(overrides: Record<string, Json> = {}): Record<string, Json> {
  const fns: Record<string, Json> = {};
  for (const fn of Object.keys(CALLS)) fns[fn] = { role: `${fn[0]!.toUpperCase()}${fn.slice(1)}Role` };
  for (const [fn, config] of Object.entries(overrides)) fns[fn] = { ...fns[fn], ...config };
  return fns;
}
const roles = (fns: Record<string, Json>, params: Record<string, string> = {}) =>
  resources({
    resolveVariable: async (v) => params[v.replace('param:', '')] ?? '',
    resolveConfigurationProperty: async (p) => (p[0] === 'functions' ? fns : undefined),
  });
const statements = (role: Json): Json[] => role.Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement);

describe('per-function IAM roles', () => {
  it('gives every function a role of its own, and one that calls no AWS API a role with no call', async () => {
    expect(Object.keys((await roles(functions())).Resources).sort()).toEqual([
      'DeregisterRole',
      'FollowRole',
      'RegisterRole',
      'RenewRole',
    ]);
    CALLS.idle = [];
    try {
      const { Resources } = await roles(functions());
      expect(Resources.IdleRole!.Properties.Policies).toEqual([]);
    } finally {
      delete CALLS.idle;
    }
  });

  it('scopes an [action, logical ID] entry to that resource, and derives the on-failure queue and sqs event sources from the function', async () => {
    CALLS.register!.push(['sqs:SendMessage', 'SomeQueue']);
    try {
      const fns = functions({
        register: {
          destinations: { onFailure: { type: 'sqs', arn: { 'Fn::GetAtt': ['RegisterDeadLetterQueue', 'Arn'] } } },
          events: [{ sqs: { arn: { 'Fn::GetAtt': ['InQueue', 'Arn'] } } }],
        },
      });
      const register = statements((await roles(fns)).Resources.RegisterRole!);
      expect(register.slice(-3)).toEqual([
        { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: { 'Fn::GetAtt': ['SomeQueue', 'Arn'] } },
        {
          Effect: 'Allow',
          Action: ['sqs:SendMessage'],
          Resource: { 'Fn::GetAtt': ['RegisterDeadLetterQueue', 'Arn'] },
        },
        {
          Effect: 'Allow',
          Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
          Resource: [{ 'Fn::GetAtt': ['InQueue', 'Arn'] }],
        },
      ]);
    } finally {
      CALLS.register!.pop();
    }
  });

  it('lets every function read the etcd credentials parameter', async () => {
    const { Resources } = await roles(functions(), { etcdSsmParameter: '/prod/etcd' });
    for (const role of Object.values(Resources))
      expect(statements(role).map((s) => s.Action)).toContainEqual(['ssm:GetParameter']);
  });

  it('fails packaging for a function without a CALLS entry, or without its own role', async () => {
    await expect(roles(functions({ followUp: { role: 'FollowUpRole' } }))).rejects.toThrow(
      'function followUp has no entry in CALLS (infra/iam-statements.cjs)',
    );
    await expect(roles(functions({ renew: { role: undefined } }))).rejects.toThrow(
      'function renew: set `role: RenewRole` in serverless.yml',
    );
  });
});
