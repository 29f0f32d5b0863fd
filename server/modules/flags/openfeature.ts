import {
  ErrorCode,
  OpenFeatureEventEmitter,
  ProviderEvents,
  StandardResolutionReasons,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import type { FlagEvaluation } from '../../../shared/schemas/flags.ts';
import type { FlagService } from './flags.service.ts';

const REASON: Record<FlagEvaluation['reason'], string> = {
  KILLED: StandardResolutionReasons.DISABLED,
  OVERRIDE: StandardResolutionReasons.TARGETING_MATCH,
  ROLLOUT: StandardResolutionReasons.SPLIT,
  GLOBAL: StandardResolutionReasons.STATIC,
  DEFAULT: StandardResolutionReasons.DEFAULT,
};

/**
 * Lets server code use the standard OpenFeature API against Keel's flags:
 * `OpenFeature.setProvider(new KeelFlagProvider(deps.flags))`, then
 * `client.getBooleanValue('new-editor', false, { targetingKey: organizationId })`. The targeting key is the
 * organization id (`organizationId` in the context works too). Unknown flags and type mismatches return the
 * caller's default with the matching error code, as the specification asks; nothing throws.
 */
export class KeelFlagProvider implements Provider {
  readonly metadata = { name: 'keel' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private abort: AbortController | undefined;

  constructor(private readonly flags: FlagService) {}

  async initialize(): Promise<void> {
    this.abort = new AbortController();
    const changes = await this.flags.changes(this.abort.signal);
    void (async () => {
      for await (const change of changes) {
        this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: change.keys });
      }
    })().catch(() => undefined);
    await this.flags.compiledSet();
  }

  async onClose(): Promise<void> {
    this.abort?.abort();
  }

  resolveBooleanEvaluation(key: string, defaultValue: boolean, context: EvaluationContext) {
    return this.resolve(key, defaultValue, context, (v): v is boolean => typeof v === 'boolean');
  }
  resolveStringEvaluation(key: string, defaultValue: string, context: EvaluationContext) {
    return this.resolve(key, defaultValue, context, (v): v is string => typeof v === 'string');
  }
  resolveNumberEvaluation(key: string, defaultValue: number, context: EvaluationContext) {
    return this.resolve(key, defaultValue, context, (v): v is number => typeof v === 'number');
  }
  resolveObjectEvaluation<T extends JsonValue>(key: string, defaultValue: T, context: EvaluationContext) {
    return this.resolve(key, defaultValue, context, (v): v is T => typeof v === 'object' && v !== null);
  }

  private async resolve<T>(
    key: string,
    defaultValue: T,
    context: EvaluationContext,
    isType: (v: unknown) => v is T,
  ): Promise<ResolutionDetails<T>> {
    const org = context.targetingKey ?? context.organizationId;
    const organizationId = typeof org === 'string' && org ? org : undefined;
    const result = await this.flags.evaluate(key, organizationId);
    if (!result) {
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.FLAG_NOT_FOUND,
        errorMessage: `No flag "${key}"`,
      };
    }
    if (!isType(result.value)) {
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.TYPE_MISMATCH,
        errorMessage: `Flag "${key}" is not of the requested type`,
      };
    }
    return { value: result.value, variant: result.variant, reason: REASON[result.reason] };
  }
}
