/**
 * The one EC2 read registration makes: a container instance's private IP (bridge and host
 * networking). Imported lazily by `api.ts`, so only functions that meet such a task load the EC2
 * client; importing the two names it needs (rather than the whole module) keeps that chunk small.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';

/** Private IPv4 address of an EC2 instance, through a client created on first use. */
export function ec2PrivateIpLookup(): (instanceId: string) => Promise<string | undefined> {
  const ec2 = new EC2Client({});
  return async (instanceId) => {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId)?.PrivateIpAddress;
  };
}
