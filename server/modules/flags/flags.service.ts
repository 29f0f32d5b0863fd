import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { AppError } from '../../../shared/errors.ts';
import {
  BOOLEAN_VARIANTS,
  type CreateFlagInput,
  type FlagEvaluation,
  type FlagOutput,
  type JsonValue,
  type SetOverrideInput,
  type UpdateFlagInput,
} from '../../../shared/schemas/flags.ts';
import type { Cache } from '../../platform/cache/cache.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import type { PubSub } from '../../platform/pubsub/pubsub.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { FeatureFlag, FlagAudit, FlagOverride, type IFeatureFlag } from './flag.entity.ts';
import { evaluateAllFlags, evaluateFlag, type CompiledFlag, type CompiledFlagSet } from './flags.evaluate.ts';

export const FLAGS_CHANNEL = 'flags:changed';
export const FLAGS_CACHE_TAG = 'flags';
const COMPILED_KEY = 'flags:compiled';

export interface FlagChange {
  keys: string[];
  at: number;
}

/** Who made a change, as written to the audit log. */
export interface Actor {
  id: string;
  email: string;
}

export interface FlagServiceDeps {
  /** The root EntityManager: the service opens its own scopes (overrides are written inside the tenant's). */
  em: Em;
  cache: Cache;
  pubsub: PubSub;
  logger?: Logger;
}

const invalid = (field: string, message: string) =>
  new AppError('VALIDATION_FAILED', `${field} ${message}`, { fieldErrors: { [field]: [message] } });

function checkVariants(
  kind: IFeatureFlag['kind'],
  variants: Record<string, JsonValue>,
  defaultVariant: string,
  onVariant: string,
): void {
  if (kind === 'boolean' && JSON.stringify(variants) !== JSON.stringify(BOOLEAN_VARIANTS)) {
    throw invalid('variants', 'cannot be set on a boolean flag (its variants are "on" and "off")');
  }
  if (!(defaultVariant in variants)) throw invalid('defaultVariant', 'must be one of the variants');
  if (!(onVariant in variants)) throw invalid('onVariant', 'must be one of the variants');
}

/** What the audit log records of a flag. */
function snapshot(f: IFeatureFlag): JsonValue {
  return {
    description: f.description,
    kind: f.kind,
    variants: f.variants,
    defaultVariant: f.defaultVariant,
    onVariant: f.onVariant,
    enabled: f.enabled,
    rolloutPercentage: f.rolloutBasisPoints / 100,
    killed: f.killed,
    owner: f.owner,
    expectedRemovalAt: f.expectedRemovalAt ? f.expectedRemovalAt.toISOString() : null,
  };
}

function toCompiled(f: IFeatureFlag): CompiledFlag {
  return {
    key: f.key,
    kind: f.kind,
    variants: f.variants,
    defaultVariant: f.defaultVariant,
    onVariant: f.onVariant,
    enabled: f.enabled,
    rolloutBasisPoints: f.rolloutBasisPoints,
    killed: f.killed,
  };
}

export function toFlagOutput(f: IFeatureFlag, overrides: number): FlagOutput {
  return {
    key: f.key,
    description: f.description,
    kind: f.kind,
    variants: f.variants,
    defaultVariant: f.defaultVariant,
    onVariant: f.onVariant,
    enabled: f.enabled,
    rolloutPercentage: f.rolloutBasisPoints / 100,
    killed: f.killed,
    owner: f.owner,
    expectedRemovalAt: f.expectedRemovalAt ?? null,
    stale: Boolean(f.expectedRemovalAt && f.expectedRemovalAt.getTime() < Date.now()),
    overrides,
    version: f.version,
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
  };
}

/**
 * Feature flags: definitions and audit in PostgreSQL, evaluation from one compiled set of every flag and
 * override held in the cache (in memory in each process, so evaluating all flags for a request costs no round
 * trip while warm and one when not). A change flushes the set's tag, which every process has dropped from memory
 * before the change returns (the cache bus waits for acknowledgements), then announces it to live subscribers.
 */
export class FlagService {
  /** The last set loaded, for when the database and Redis are both unavailable. */
  private lastKnown: CompiledFlagSet | null = null;

  constructor(private readonly deps: FlagServiceDeps) {}

  // ---- evaluation: never throws; an unknown flag or an unreadable store gives the default ----

  async compiledSet(): Promise<CompiledFlagSet> {
    try {
      const set = await this.deps.cache.global.remember(COMPILED_KEY, () => this.compile(), {
        ttl: 300,
        tags: [FLAGS_CACHE_TAG],
        grace: 24 * 3600,
      });
      this.lastKnown = set;
      return set;
    } catch (err) {
      this.deps.logger?.error({ err }, 'feature flags unavailable, serving the last known set');
      return this.lastKnown ?? { flags: [], overrides: {} };
    }
  }

  async evaluateAll(organizationId: string | undefined): Promise<Record<string, FlagEvaluation>> {
    return evaluateAllFlags(await this.compiledSet(), organizationId);
  }

  /** null for a flag that does not exist; callers then use their default. */
  async evaluate(key: string, organizationId: string | undefined): Promise<FlagEvaluation | null> {
    const set = await this.compiledSet();
    const flag = set.flags.find((f) => f.key === key);
    if (!flag) return null;
    return evaluateFlag(flag, organizationId, organizationId ? set.overrides[organizationId] : undefined);
  }

  /** Changes as they happen, until the signal aborts. */
  changes(signal: AbortSignal): Promise<AsyncIterableIterator<FlagChange>> {
    return this.deps.pubsub.subscribe<FlagChange>(FLAGS_CHANNEL, signal);
  }

  private compile(): Promise<CompiledFlagSet> {
    return withDbScope(this.deps.em, undefined, async (em) => {
      const flags = await em.find(FeatureFlag, {}, { orderBy: { key: 'asc' } });
      // The one cross-tenant read of overrides: evaluation must know every organization's forced variants. It
      // reads (organization, flag, variant) only, outside any tenant scope.
      const overrides = await em.find(
        FlagOverride,
        {},
        { filters: { [TENANT_FILTER]: false }, fields: ['organization', 'flag', 'variant'] },
      );
      const keyOf = new Map(flags.map((f) => [f.id, f.key]));
      const byOrg: Record<string, Record<string, string>> = {};
      for (const o of overrides) {
        const key = keyOf.get(o.flag.id);
        if (key) (byOrg[o.organization.id] ??= {})[key] = o.variant;
      }
      return { flags: flags.map(toCompiled), overrides: byOrg };
    });
  }

  // ---- administration (operations console) ----

  async list(): Promise<FlagOutput[]> {
    return withDbScope(this.deps.em, undefined, async (em) => {
      const flags = await em.find(FeatureFlag, {}, { orderBy: { key: 'asc' } });
      // Counted across organizations on purpose (staff view, outside any tenant scope): a number per flag only.
      const counts = await em
        .getConnection()
        .execute<{ flag_id: string; n: number }[]>(
          'select flag_id, count(*)::int as n from feature_flag_overrides group by flag_id',
        );
      const n = new Map(counts.map((c) => [c.flag_id, c.n]));
      return flags.map((f) => toFlagOutput(f, n.get(f.id) ?? 0));
    });
  }

  async create(actor: Actor, input: CreateFlagInput): Promise<FlagOutput> {
    const variants = input.kind === 'boolean' ? (input.variants ?? BOOLEAN_VARIANTS) : input.variants;
    if (!variants) throw invalid('variants', 'are required for a variant flag');
    const defaultVariant = input.defaultVariant ?? (input.kind === 'boolean' ? 'off' : undefined);
    const onVariant = input.onVariant ?? (input.kind === 'boolean' ? 'on' : undefined);
    if (!defaultVariant) throw invalid('defaultVariant', 'is required for a variant flag');
    if (!onVariant) throw invalid('onVariant', 'is required for a variant flag');
    checkVariants(input.kind, variants, defaultVariant, onVariant);
    let flag: IFeatureFlag;
    try {
      flag = await withDbScope(this.deps.em, undefined, (em) =>
        em.transactional(async (tx) => {
          const f = tx.create(FeatureFlag, {
            key: input.key,
            description: input.description,
            kind: input.kind,
            variants: { ...variants },
            defaultVariant,
            onVariant,
            enabled: input.enabled,
            rolloutBasisPoints: Math.round(input.rolloutPercentage * 100),
            killed: false,
            owner: input.owner,
            expectedRemovalAt: input.expectedRemovalAt,
          });
          this.audit(tx, actor, f.key, 'created', null, snapshot(f), null);
          return f;
        }),
      );
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) {
        throw new AppError('CONFLICT', `A flag "${input.key}" already exists`, {
          fieldErrors: { key: ['is already used by another flag'] },
        });
      }
      throw err;
    }
    await this.changed([flag.key]);
    return toFlagOutput(flag, 0);
  }

  async update(actor: Actor, input: UpdateFlagInput): Promise<FlagOutput> {
    const flag = await withDbScope(this.deps.em, undefined, (em) =>
      em.transactional(async (tx) => {
        const f = await this.findFlag(tx, input.key);
        const before = snapshot(f);
        const variants = input.variants ?? f.variants;
        const defaultVariant = input.defaultVariant ?? f.defaultVariant;
        const onVariant = input.onVariant ?? f.onVariant;
        checkVariants(f.kind, variants, defaultVariant, onVariant);
        f.variants = { ...variants };
        f.defaultVariant = defaultVariant;
        f.onVariant = onVariant;
        if (input.description !== undefined) f.description = input.description;
        if (input.enabled !== undefined) f.enabled = input.enabled;
        if (input.rolloutPercentage !== undefined)
          f.rolloutBasisPoints = Math.round(input.rolloutPercentage * 100);
        if (input.owner !== undefined) f.owner = input.owner;
        if (input.expectedRemovalAt !== undefined) f.expectedRemovalAt = input.expectedRemovalAt;
        f.version++;
        this.audit(tx, actor, f.key, 'updated', before, snapshot(f), null);
        return f;
      }),
    );
    await this.changed([flag.key]);
    return toFlagOutput(flag, await this.overrideCount(flag.id));
  }

  /** The kill switch: forces the default variant for everyone, overrides included, until released. */
  async kill(actor: Actor, key: string, killed: boolean): Promise<FlagOutput> {
    const flag = await withDbScope(this.deps.em, undefined, (em) =>
      em.transactional(async (tx) => {
        const f = await this.findFlag(tx, key);
        const before = snapshot(f);
        f.killed = killed;
        f.version++;
        this.audit(tx, actor, f.key, killed ? 'killed' : 'revived', before, snapshot(f), null);
        return f;
      }),
    );
    await this.changed([flag.key]);
    return toFlagOutput(flag, await this.overrideCount(flag.id));
  }

  /** Sets (or with `variant: null` removes) one organization's override, inside that organization's scope. */
  async setOverride(actor: Actor, input: SetOverrideInput): Promise<{ ok: true }> {
    const flag = await withDbScope(this.deps.em, undefined, (em) => this.findFlag(em, input.key));
    if (input.variant !== null && !(input.variant in flag.variants)) {
      throw invalid('variant', `must be one of: ${Object.keys(flag.variants).join(', ')}`);
    }
    const org = await withDbScope(this.deps.em, undefined, (em) =>
      em.findOne(Organization, input.organizationId),
    );
    if (!org) throw new AppError('NOT_FOUND', 'Organization not found');
    await withDbScope(this.deps.em, input.organizationId, (em) =>
      em.transactional(async (tx) => {
        const existing = await tx.findOne(FlagOverride, { flag: flag.id });
        const before = existing ? { variant: existing.variant } : null;
        if (input.variant === null) {
          if (!existing) return;
          tx.remove(existing);
        } else if (existing) {
          if (existing.variant === input.variant) return;
          existing.variant = input.variant;
        } else {
          tx.create(FlagOverride, {
            organization: input.organizationId,
            flag: flag.id,
            variant: input.variant,
          });
        }
        const after = input.variant === null ? null : { variant: input.variant };
        this.audit(
          tx,
          actor,
          flag.key,
          input.variant === null ? 'override.removed' : 'override.set',
          before,
          after,
          input.organizationId,
        );
      }),
    );
    await this.changed([flag.key]);
    return { ok: true };
  }

  async auditLog(query: { key?: string | undefined; limit: number; offset: number }) {
    return withDbScope(this.deps.em, undefined, async (em) => {
      const [rows, total] = await em.findAndCount(FlagAudit, query.key ? { flagKey: query.key } : {}, {
        orderBy: { id: 'desc' },
        limit: query.limit,
        offset: query.offset,
      });
      return {
        total,
        items: rows.map((r) => ({
          id: r.id,
          flagKey: r.flagKey,
          action: r.action,
          actorId: r.actorId ?? null,
          actorEmail: r.actorEmail ?? null,
          organizationId: r.organizationId ?? null,
          before: r.before ?? null,
          after: r.after ?? null,
          createdAt: r.createdAt,
        })),
      };
    });
  }

  private async findFlag(em: Em, key: string): Promise<IFeatureFlag> {
    const flag = await em.findOne(FeatureFlag, { key });
    if (!flag) throw new AppError('NOT_FOUND', `No flag "${key}"`);
    return flag;
  }

  private overrideCount(flagId: string): Promise<number> {
    return withDbScope(this.deps.em, undefined, (em) =>
      em.count(FlagOverride, { flag: flagId }, { filters: { [TENANT_FILTER]: false } }),
    );
  }

  private audit(
    em: Em,
    actor: Actor,
    flagKey: string,
    action: string,
    before: JsonValue | null,
    after: JsonValue | null,
    organizationId: string | null,
  ): void {
    em.create(FlagAudit, {
      flagKey,
      action,
      actorId: actor.id,
      actorEmail: actor.email,
      organizationId,
      before,
      after,
    });
  }

  private async changed(keys: string[]): Promise<void> {
    await this.deps.cache.global.flushTags(FLAGS_CACHE_TAG);
    const change: FlagChange = { keys, at: Date.now() };
    await this.deps.pubsub
      .publish(FLAGS_CHANNEL, change)
      .catch((err: unknown) => this.deps.logger?.warn({ err }, 'flag change not announced'));
  }
}
