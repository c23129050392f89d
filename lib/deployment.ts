/**
 * Pure: who a deployment is (stage, region, account), what of etcd's state is its own, and how a
 * cluster is spelled in a state key. Several registrars (regions, accounts, stages) may share one
 * etcd; each keeps its state in its own namespace and acts only on clusters of its account and region.
 */
import { parseClusterArn, parseTaskArn } from './ecs/arn';
import { InvalidEventError } from './errors';

/** The identity of one deployment of the registrar. */
export interface Deployment {
  /** `STAGE` (serverless.yml sets `${sls:stage}`). @default "local" */
  readonly stage: string;
  /** `AWS_REGION` (set by Lambda). Undefined only in a local run that does not set it. */
  readonly region?: string;
  /**
   * `ACCOUNT_ID` (serverless.yml sets `${aws:accountId}`). Undefined only in a local run that does
   * not set it: without both account and region, clusters of any account and region are served.
   */
  readonly account?: string;
}

/** How a deployment is named in messages: `stage prod, region eu-west-1, account 123456789012`. */
export function describeDeployment(d: Deployment): string {
  return `stage ${d.stage}, region ${d.region ?? '(any)'}, account ${d.account ?? '(any)'}`;
}

/** The state namespace of a deployment when `STATE_PREFIX` is not set: `registrar/<stage>/<region>/<account>`. */
export function defaultStatePrefix(d: Deployment): string {
  return `registrar/${d.stage}/${d.region ?? 'local'}/${d.account ?? 'local'}`;
}

/**
 * The service directory root of a deployment when `REGISTRY_PREFIX` is not set: `services/<stage>`,
 * so one stage's endpoints never appear in another's directory; `services` when `STAGE` is not set
 * either (a local run).
 */
export function defaultRegistryPrefix(d: Deployment, stageSet: boolean): string {
  return stageSet ? `services/${d.stage}` : 'services';
}

/** Where the state lived before state namespaces had owners (the old default `STATE_PREFIX`). */
export const LEGACY_STATE_PREFIX = 'registrar';

/** Account and region of a cluster or task ARN, or undefined when the value is neither. */
function placeOf(arn: string): { account: string; region: string } | undefined {
  return parseClusterArn(arn) ?? parseTaskArn(arn);
}

/**
 * Why a cluster or task ARN is not this deployment's to act on (another account or region), or
 * undefined when it is. A deployment that does not know both its region and its account (a local
 * run without `ACCOUNT_ID`) accepts any.
 */
export function foreignReason(d: Deployment, arn: string): string | undefined {
  const place = placeOf(arn);
  if (!place) return `"${arn}" is not an ECS cluster or task ARN`;
  // A local run that does not give both serves any (a deployment on Lambda always has both).
  if (!d.account || !d.region) return undefined;
  if (place.account !== d.account || place.region !== d.region)
    return (
      `${arn} is of account ${place.account}, region ${place.region}; ` +
      `this deployment serves account ${d.account ?? '(any)'}, region ${d.region ?? '(any)'} (${describeDeployment(d)})`
    );
  return undefined;
}

/**
 * Refuses a task of another account or region: this deployment's ECS cannot verify it, and its
 * own deployment serves it. Nothing is written or asked.
 *
 * @throws {InvalidEventError} at `detail.clusterArn`, naming both.
 */
export function assertServed(d: Deployment, clusterArn: string): void {
  const why = foreignReason(d, clusterArn);
  if (why) throw new InvalidEventError(`a task of another deployment: ${why}`, 'detail.clusterArn');
}

/**
 * The key segment of a cluster: `<account>.<region>.<name>`. Cluster names never contain a dot,
 * regions and account IDs neither, so the segment is unambiguous, and a segment without a dot is a
 * bare name of the layout before it (see `lib/etcd/migrate.ts`). Two clusters named alike in two
 * regions or accounts get two segments.
 *
 * @throws {Error} for a value that is not a cluster ARN (every caller passes a validated ARN).
 */
export function clusterSegment(clusterArn: string): string {
  const parts = parseClusterArn(clusterArn);
  if (!parts) throw new Error(`not a cluster ARN: ${JSON.stringify(clusterArn)}`);
  return `${parts.account}.${parts.region}.${parts.clusterName}`;
}

/** The cluster name of a key segment (`<account>.<region>.<name>`, or a bare name of the older layout). */
export function clusterNameOfSegment(segment: string): string {
  const parts = segment.split('.');
  return parts.length >= 3 ? parts.slice(2).join('.') : segment;
}

/** True for a cluster segment of the layout before the account and region were in it (a bare name). */
export function isLegacySegment(segment: string): boolean {
  return !segment.includes('.');
}

/** The ownership record of a state namespace (`<STATE_PREFIX>/owner`), written once at start. */
export interface OwnerRecord {
  readonly stage: string;
  readonly region?: string;
  readonly account?: string;
  /** When the namespace was claimed. */
  readonly claimedAt: string;
  /** When the state of the previous layout was moved in (absent until then). */
  readonly migratedAt?: string;
  /**
   * The service directory adopted at the first start: where the previous layout's records
   * published, kept while `REGISTRY_PREFIX` is not set (absent when none was adopted; "" is the root).
   */
  readonly registryPrefix?: string;
  /** Set with {@link OwnerRecord.registryPrefix}: the directory was adopted, not chosen. */
  readonly registryPrefixAdopted?: boolean;
}

/** The directory a deployment adopted (see {@link OwnerRecord.registryPrefix}), or undefined. */
export function adoptedRegistryPrefix(owner: OwnerRecord | undefined): string | undefined {
  return owner?.registryPrefixAdopted === true && typeof owner.registryPrefix === 'string'
    ? owner.registryPrefix
    : undefined;
}

/** Whether an owner record names this deployment (same stage, region and account). */
export function ownedBy(owner: OwnerRecord, d: Deployment): boolean {
  return owner.stage === d.stage && owner.region === d.region && owner.account === d.account;
}
