/**
 * The local EC2: DescribeInstances over EC2's query protocol (form body in, XML out), answering
 * the private IPv4 and IPv6 addresses of instances the test declares.
 */
import type { ServerResponse } from 'node:http';
import type { CallGate } from './endpoint';

/** The instances and their answers. */
export class LocalEc2 {
  /** Private IP by EC2 instance id. */
  readonly instanceIps = new Map<string, string>();
  /** IPv6 address by instance id (instances without one have none). */
  readonly instanceIpv6s = new Map<string, string>();

  /** Answers one EC2 call (after counting it and its faults at `gate`; throttled as `RequestLimitExceeded`). */
  answer(params: URLSearchParams, gate: CallGate, res: ServerResponse): void {
    const action = params.get('Action') ?? '?';
    const fault = gate.enter(action, 'RequestLimitExceeded');
    const xml = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(text);
    };
    if (fault)
      return xml(
        fault.status ?? 400,
        `<Response><Errors><Error><Code>${fault.code}</Code><Message>${fault.message ?? 'injected'}</Message></Error></Errors><RequestID>local</RequestID></Response>`,
      );
    if (action !== 'DescribeInstances')
      return xml(
        400,
        `<Response><Errors><Error><Code>InvalidAction</Code><Message>${action}</Message></Error></Errors></Response>`,
      );
    // InstanceId.N, or the values of an `instance-id` filter (Filter.N.Name / Filter.N.Value.M).
    const filter = [...params.entries()]
      .find(([k, v]) => /^Filter\.\d+\.Name$/.test(k) && v === 'instance-id')?.[0]
      .split('.')[1];
    const ids = [...params.entries()]
      .filter(([k]) => k.startsWith('InstanceId.') || (filter !== undefined && k.startsWith(`Filter.${filter}.Value.`)))
      .map(([, v]) => v);
    const items = ids
      .filter((id) => this.instanceIps.has(id))
      .map(
        (id) =>
          `<item><instanceId>${id}</instanceId>` +
          (this.instanceIps.get(id) ? `<privateIpAddress>${this.instanceIps.get(id)}</privateIpAddress>` : '') +
          (this.instanceIpv6s.has(id) ? `<ipv6Address>${this.instanceIpv6s.get(id)}</ipv6Address>` : '') +
          '</item>',
      )
      .join('');
    xml(
      200,
      `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>local</requestId><reservationSet><item><reservationId>r-local</reservationId><instancesSet>${items}</instancesSet></item></reservationSet></DescribeInstancesResponse>`,
    );
  }
}
