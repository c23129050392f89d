/**
 * The one EC2 read registration makes: container instances' private IPs (bridge and host
 * networking), up to 100 instances per DescribeInstances. Imported lazily by `api.ts`, so only
 * functions that meet such a task load the EC2 client; importing the two names it needs (rather
 * than the whole module) keeps that chunk small.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { InstanceAddresses } from './reader';

/**
 * Private IPv4 and IPv6 addresses by instance id of EC2 instances, through a client created on
 * first use; `configure` sees the client first (the ECS reader adds its read budget to it).
 */
export function ec2PrivateIpLookup(
  configure: (client: EC2Client) => void,
): (instanceIds: readonly string[]) => Promise<Map<string, InstanceAddresses>> {
  const ec2 = new EC2Client({});
  configure(ec2);
  return async (instanceIds) => {
    // A filter, not InstanceIds: with InstanceIds one terminated instance fails the whole batch
    // (InvalidInstanceID.NotFound); a filter leaves it out and the caller reports it alone.
    const out = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [...instanceIds] }] }),
    );
    const ips = new Map<string, InstanceAddresses>();
    for (const instance of out.Reservations?.flatMap((r) => r.Instances ?? []) ?? []) {
      // The primary interface's primary IPv6 address (else its first): the one the instance's
      // tasks are reached at over IPv6 in bridge and host networking.
      const primary = instance.NetworkInterfaces?.find((n) => n.Attachment?.DeviceIndex === 0);
      const v6 = primary?.Ipv6Addresses ?? [];
      const ipv6 = instance.Ipv6Address ?? (v6.find((a) => a.IsPrimaryIpv6) ?? v6[0])?.Ipv6Address;
      const ipv4 = instance.PrivateIpAddress;
      if (instance.InstanceId && (ipv4 || ipv6))
        ips.set(instance.InstanceId, { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) });
    }
    return ips;
  };
}
