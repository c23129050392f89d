/**
 * The owner of a state namespace. The first deployment to start writes `<STATE_PREFIX>/owner`
 * (its stage, region and account) with a create-if-absent transaction; a deployment that finds
 * the namespace owned by another fails at start naming both, and writes nothing. The same start
 * moves the deployment's state of the previous layout in (lib/etcd/migrate.ts), once.
 */
import type { Config } from '../config';
import { type Deployment, describeDeployment, type OwnerRecord, ownedBy } from '../deployment';
import { ConfigError } from '../errors';
import { ownerKey } from '../keys';
import { type MigrateContext, type MigrationResult, migrateLegacyState, planMigration } from './migrate';
import { absent, bytes, get, modifiedAt, put } from './operations';

/** What a start found and did. */
export interface ClaimResult {
  /** This start wrote the owner record (a fresh namespace). */
  readonly claimed: boolean;
  /** The move of the previous layout, when this start ran it. */
  readonly migration?: MigrationResult;
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
 * Reads the owner of this deployment's state namespace and, unless it is already this
 * deployment's and migrated, claims it and moves the previous layout in. With `verifyOnly` (the
 * CLI, a dry run) it only checks the owner, and writes nothing.
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
  if (verifyOnly || ctx.config.dryRun || owner?.migratedAt) return { claimed: false };

  // Planned before the claim: a refusal (REGISTRY_PREFIX) leaves the namespace as it was.
  const plan = await planMigration(ctx);
  let claimed = false;
  if (!current) {
    const mine: OwnerRecord = {
      stage: deployment.stage,
      region: deployment.region,
      account: deployment.account,
      claimedAt: new Date().toISOString(),
    };
    const res = await ctx.call('claim the state namespace', () =>
      ctx.client.kv.txn({ compare: [absent(key)], success: [put(key, JSON.stringify(mine))], failure: [get(key)] }),
    );
    if (res.succeeded) claimed = true;
    else {
      // Another process started at the same moment: fine if it is this deployment.
      const winner = res.responses[0]?.response_range.kvs[0];
      const theirs = winner && parseOwner(winner.value.toString());
      if (!theirs || !ownedBy(theirs, deployment)) throw refuse(statePrefix, theirs, deployment);
    }
  }
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
  return { claimed, migration };
}
