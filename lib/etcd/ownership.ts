/**
 * The owner of a state namespace. The first deployment to start writes `<STATE_PREFIX>/owner`
 * (its stage, region and account) with a create-if-absent transaction; a deployment that finds
 * the namespace owned by another fails at start naming both, and writes nothing. The same start
 * moves the deployment's state of the previous layout in (lib/etcd/migrate.ts), once.
 *
 * An upgrade with the default `REGISTRY_PREFIX` (`services/<stage>`) from the layout whose records
 * publish under one other directory (the old default `services`) adopts that directory: the owner
 * record keeps it, and every process of the deployment runs with it while `REGISTRY_PREFIX` is not
 * set, so the tasks stay where clients watch instead of the start being refused.
 */
import type { Config } from '../config';
import { adoptedRegistryPrefix, type Deployment, describeDeployment, type OwnerRecord, ownedBy } from '../deployment';
import { ConfigError, DependencyError } from '../errors';
import { ownerKey } from '../keys';
import { type MigrateContext, type MigrationResult, migrateLegacyState, planMigration } from './migrate';
import { absent, bytes, get, modifiedAt, put } from './operations';

/** What a start found and did. */
export interface ClaimResult {
  /** This start wrote the owner record (a fresh namespace). */
  readonly claimed: boolean;
  /** The move of the previous layout, when this start ran it. */
  readonly migration?: MigrationResult;
  /**
   * The service directory this deployment runs with: the one it adopted (the owner record says),
   * else `REGISTRY_PREFIX`.
   */
  readonly registryPrefix: string;
  /** The directory was adopted from the previous layout (see {@link adoptionWarning}). */
  readonly adopted: boolean;
}

/** What a claim needs (the registry's client and timed call, and the whole identity and layout). */
export interface ClaimContext extends MigrateContext {
  readonly config: MigrateContext['config'] & Pick<Config, 'dryRun'>;
}

function parseOwner(value: string): OwnerRecord | undefined {
  try {
    const json = JSON.parse(value) as Partial<OwnerRecord>;
    return typeof json.stage === 'string' && typeof json.claimedAt === 'string' ? (json as OwnerRecord) : undefined;
  } catch {
    return undefined;
  }
}

function refuse(statePrefix: string, owner: OwnerRecord | undefined, me: Deployment): ConfigError {
  const theirs = owner ? `${describeDeployment(owner)} (since ${owner.claimedAt})` : 'a value this code did not write';
  return new ConfigError(
    'STATE_PREFIX',
    `the state namespace "${statePrefix}" is owned by ${theirs}, not by this deployment (${describeDeployment(me)}): ` +
      'deployments never share a state namespace. Leave STATE_PREFIX unset (it is derived from STAGE, AWS_REGION ' +
      'and ACCOUNT_ID) or give each deployment its own; nothing was written',
  );
}

/**
 * What a process of a deployment that adopted a directory says at its start: which, why, and the
 * two ways to stop relying on it.
 */
export function adoptionWarning(config: Pick<Config, 'deployment' | 'statePrefix'>, registryPrefix: string): string {
  const shown = registryPrefix === '' ? '/' : registryPrefix;
  return (
    `REGISTRY_PREFIX is not set: publishing under "${shown}", the directory this deployment's tasks published ` +
    `under before the upgrade (adopted at its first start, recorded in ${ownerKey(config.statePrefix)}), rather ` +
    `than the default services/${config.deployment.stage}, which would split each service between two directories. ` +
    `To keep it, set REGISTRY_PREFIX (serverless param registryPrefix) to "${shown}"; to use the default, move ` +
    `the clients to services/${config.deployment.stage}/<service>/ and set it to "services/${config.deployment.stage}"`
  );
}

/** The directory a deployment runs with, given its owner record. */
function effectivePrefix(config: Pick<Config, 'registryPrefix' | 'registryPrefixExplicit'>, owner?: OwnerRecord) {
  const adopted = config.registryPrefixExplicit ? undefined : adoptedRegistryPrefix(owner);
  return { registryPrefix: adopted ?? config.registryPrefix, adopted: adopted !== undefined };
}

/**
 * Reads the owner of this deployment's state namespace and, unless it is already this
 * deployment's and migrated, claims it and moves the previous layout in (adopting its directory
 * when `REGISTRY_PREFIX` is not set, see the module's doc). With `verifyOnly` (the CLI, the xDS
 * server, a dry run) it only checks the owner, and writes nothing. Either way it says which
 * service directory the deployment runs with.
 *
 * @throws {ConfigError} (`STATE_PREFIX`) when another deployment owns the namespace;
 *   (`REGISTRY_PREFIX`) see {@link planMigration}; {@link DependencyError} when etcd fails.
 * @example
 * await claimNamespace({ client, config, call: etcdCall });
 */
export async function claimNamespace(ctx: ClaimContext, { verifyOnly = false } = {}): Promise<ClaimResult> {
  const { statePrefix, deployment } = ctx.config;
  const key = ownerKey(statePrefix);
  const current = (await ctx.call('read the state namespace owner', () => ctx.client.kv.range({ key: bytes(key) })))
    .kvs[0];
  const owner = current && parseOwner(current.value.toString());
  if (current && (!owner || !ownedBy(owner, deployment))) throw refuse(statePrefix, owner, deployment);
  const recorded = effectivePrefix(ctx.config, owner);
  if (verifyOnly || ctx.config.dryRun || owner?.migratedAt) return { claimed: false, ...recorded };

  // Planned before the claim: a refusal (REGISTRY_PREFIX) leaves the namespace as it was. A
  // directory adopted by an earlier, interrupted start is the one the plan checks against.
  const plan = await planMigration({ ...ctx, config: { ...ctx.config, registryPrefix: recorded.registryPrefix } });
  const adoption = plan.adopt === undefined ? {} : { registryPrefix: plan.adopt, registryPrefixAdopted: true as const };
  let claimed = false;
  let running = recorded;
  if (!current) {
    const mine: OwnerRecord = {
      stage: deployment.stage,
      region: deployment.region,
      account: deployment.account,
      claimedAt: new Date().toISOString(),
      ...adoption,
    };
    const res = await ctx.call('claim the state namespace', () =>
      ctx.client.kv.txn({ compare: [absent(key)], success: [put(key, JSON.stringify(mine))], failure: [get(key)] }),
    );
    if (res.succeeded) {
      claimed = true;
      running = effectivePrefix(ctx.config, mine);
    } else {
      // Another process started at the same moment: fine if it is this deployment.
      const winner = res.responses[0]?.response_range.kvs[0];
      const theirs = winner && parseOwner(winner.value.toString());
      if (!theirs || !ownedBy(theirs, deployment)) throw refuse(statePrefix, theirs, deployment);
      running = effectivePrefix(ctx.config, theirs);
    }
  } else if (owner && plan.adopt !== undefined) {
    // Claimed by a start that stopped before moving anything: the adoption is recorded before any
    // record moves, so no later start reads a moved record against the default directory.
    const res = await ctx.call('record the adopted service directory', () =>
      ctx.client.kv.txn({
        compare: [modifiedAt(key, current.mod_revision)],
        success: [put(key, JSON.stringify({ ...owner, ...adoption }))],
        failure: [],
      }),
    );
    if (!res.succeeded)
      throw new DependencyError(
        'etcd',
        'the state namespace owner record changed while this start claimed it; the next start tries again',
      );
    running = effectivePrefix(ctx.config, { ...owner, ...adoption });
  }
  if (running.registryPrefix !== (plan.adopt ?? recorded.registryPrefix))
    // The winner of a simultaneous claim decided another directory: plan again with its choice.
    throw new DependencyError(
      'etcd',
      'another start of this deployment claimed the namespace meanwhile; the next start tries again',
    );
  const migration = await migrateLegacyState(ctx, plan);
  if (migration.skipped === 0) {
    const done = (await ctx.call('read the state namespace owner', () => ctx.client.kv.range({ key: bytes(key) })))
      .kvs[0];
    const latest = done && parseOwner(done.value.toString());
    if (done && latest && !latest.migratedAt)
      await ctx.call('mark the state namespace migrated', () =>
        ctx.client.kv.txn({
          compare: [modifiedAt(key, done.mod_revision)],
          success: [put(key, JSON.stringify({ ...latest, migratedAt: new Date().toISOString() }))],
          failure: [],
        }),
      );
  }
  return { claimed, migration, ...running };
}
