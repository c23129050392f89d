/**
 * The EC2 lookup as a lazily loaded chunk, for the functions that publish tasks (register, renew,
 * follow). Kept out of `api.ts` so a function that gives no loader (deregister) ships without the
 * EC2 client at all.
 */
import type { Ec2Loader } from './api';

/** Loads the EC2 lookup on the first bridge or host task. */
export const loadEc2: Ec2Loader = () => import('./ec2');
