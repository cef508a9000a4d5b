// Validation and bisection: HAProxy judges every staged config (`haproxy -c`); when it rejects one,
// bisection finds the services responsible and the config is rendered without them. A guilty service
// is remembered by a hash of its catalog entries and the templates, and is not bisected again until
// either changes.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { HealthEntry } from '../consul/schemas.js';
import type { Model } from '../model/model.js';
import type { BuildResult } from '../config/build.js';
import { stageConfig, type StagedConfig } from '../config/config-file.js';
import { ErrorCode, HapilotError } from '../errors.js';
import type { Logger } from '../log.js';
import { findCulprits } from './bisect.js';
import { onlyServices, withoutServices } from './candidate.js';
import type { Metrics } from './metrics.js';
import { sameConfig } from './applied-state.js';

export interface Culprit {
  service: string;
  message: string;
}

/** Guilty services, each with the key of the catalog entries and templates it was found guilty with. */
export class QuarantineMemory {
  readonly #guilty = new Map<string, { key: string; message: string }>();

  static key(entries: readonly HealthEntry[], templatesGeneration: number): string {
    return createHash('sha256').update(`${templatesGeneration}\n${JSON.stringify(entries)}`).digest('hex');
  }

  /** Services still guilty for these entries; a service whose entries or templates changed is forgotten (tried again). */
  guilty(entriesByService: ReadonlyMap<string, readonly HealthEntry[]>, templatesGeneration: number): Set<string> {
    const out = new Set<string>();
    for (const [service, g] of [...this.#guilty]) {
      const entries = entriesByService.get(service);
      if (entries && QuarantineMemory.key(entries, templatesGeneration) === g.key) out.add(service);
      else this.#guilty.delete(service);
    }
    return out;
  }

  /** How many services are remembered guilty (none: nothing to look up). */
  get size(): number {
    return this.#guilty.size;
  }

  remember(service: string, entries: readonly HealthEntry[], templatesGeneration: number, message: string): void {
    this.#guilty.set(service, { key: QuarantineMemory.key(entries, templatesGeneration), message });
  }

  list(): Culprit[] {
    return [...this.#guilty].map(([service, g]) => ({ service, message: g.message })).sort((a, b) => (a.service < b.service ? -1 : 1));
  }
}

export function entriesByService(entries: readonly HealthEntry[]): Map<string, HealthEntry[]> {
  const out = new Map<string, HealthEntry[]>();
  for (const e of entries) {
    const list = out.get(e.Service.Service) ?? [];
    list.push(e);
    out.set(e.Service.Service, list);
  }
  return out;
}

export class Validator {
  readonly #o: { haproxy: string; configPath: string; log: Logger; metrics: Metrics };

  constructor(o: { haproxy: string; configPath: string; log: Logger; metrics: Metrics }) {
    this.#o = o;
  }

  /**
   * Stages `built` next to the config path and has HAProxy check that file. Not fsynced: HAProxy
   * reads it from the page cache, most staged files of a bisection are thrown away, and the one
   * committed is flushed after HAProxy has loaded it (ApplyStep).
   */
  async stage(built: BuildResult): Promise<StagedConfig> {
    this.#o.metrics.validations.inc();
    const started = performance.now();
    const staged = await stageConfig({ configPath: this.#o.configPath, config: built.config, files: built.files, haproxy: this.#o.haproxy, durable: false });
    const checkMs = staged.validation?.durationMs ?? 0;
    this.#o.log.debug({ writeMs: Math.round(performance.now() - started - checkMs), checkMs: Math.round(checkMs), ok: staged.validation?.ok }, 'staged and checked (haproxy -c)');
    return staged;
  }

  /**
   * A staged, valid config for `model`: as it is, or without the services bisection finds guilty
   * (returned as `culprits`). Throws when HAProxy rejects even a config no service is to blame for.
   */
  async validConfig({ model, built, render }: { model: Model; built: BuildResult; render: (m: Model) => BuildResult }): Promise<{ built: BuildResult; staged: StagedConfig; culprits: Culprit[] }> {
    const staged = await this.stage(built);
    if (staged.validation?.ok !== false) return { built, staged, culprits: [] };
    await staged.discard();
    const failure = staged.validation.message;
    this.#o.metrics.validationFailures.inc();
    this.#o.log.warn({ haproxy: failure }, 'haproxy -c rejected the rendered config; looking for the services responsible');
    const names = model.backends.map((b) => b.name);
    const result = await findCulprits(names, async (subset) => {
      const s = await this.stage(render(onlyServices(model, new Set(subset))));
      await s.discard();
      return { ok: s.validation?.ok !== false, message: s.validation?.message ?? '' };
    });
    this.#o.metrics.bisections.inc();
    this.#o.log.info({ validations: result.validations, culprits: result.culprits.map((c) => c.service), isolated: result.isolated }, 'bisection done');
    if (!result.isolated || result.culprits.length === 0) throw invalid(failure);
    const repaired = render(withoutServices(model, new Set(result.culprits.map((c) => c.service))));
    const again = await this.stage(repaired);
    if (again.validation?.ok === false) {
      await again.discard();
      throw invalid(again.validation.message);
    }
    return { built: repaired, staged: again, culprits: result.culprits };
  }
}

/**
 * A structural candidate validated while it waits for quiet (--wait) and --min-reload-interval: when
 * the sync that applies it has the very same config, that staged file is used without a second
 * `haproxy -c`. Anything else (another config, a rejected one, a map file gone since) is validated
 * as usual.
 */
export class EarlyValidation {
  readonly #validator: Pick<Validator, 'stage'>;
  #early: { built: BuildResult; staged: Promise<StagedConfig | undefined> } | undefined;

  constructor(validator: Pick<Validator, 'stage'>) {
    this.#validator = validator;
  }

  start(built: BuildResult): void {
    if (this.#early && sameConfig(this.#early.built, built)) return;
    this.discard();
    const staged = this.#validator.stage(built).then(async (s) => {
      if (s.validation?.ok !== false) return s;
      await s.discard();
      return undefined;
    }, () => undefined);
    this.#early = { built, staged };
  }

  /** The staged, valid file of `built` when it was validated early; else undefined. */
  async take(built: BuildResult): Promise<StagedConfig | undefined> {
    const early = this.#early;
    this.#early = undefined;
    const staged = await early?.staged;
    if (staged && early && sameConfig(early.built, built) && built.files.every((f) => existsSync(f.path))) return staged;
    await staged?.discard();
    return undefined;
  }

  discard(): void {
    const early = this.#early;
    this.#early = undefined;
    void early?.staged.then((s) => s?.discard());
  }
}

function invalid(message: string): HapilotError {
  return new HapilotError(ErrorCode.HAPROXY_INVALID, `the rendered config is invalid and no service could be isolated: ${message}`, { detail: message });
}
