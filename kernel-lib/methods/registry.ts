/**
 * Method registry: name -> factory(config overrides). Each method file exports its factory; add it here.
 */
import type { Method } from './types';
import { createFinetune, FINETUNE_DEFAULTS } from './finetune';
import { createJoint, JOINT_DEFAULTS } from './joint';
import { createLwf, LWF_DEFAULTS } from './lwf';
import { createLwm, LWM_DEFAULTS } from './lwm';
import { createIcarl, ICARL_DEFAULTS } from './icarl';
import { createEeil, EEIL_DEFAULTS } from './eeil';
import { createBic, BIC_DEFAULTS } from './bic';
import { createLucir, LUCIR_DEFAULTS } from './lucir';
import { createSsil, SSIL_DEFAULTS } from './ssil';
import { createPass, PASS_DEFAULTS } from './pass';
import { createIl2a, IL2A_DEFAULTS } from './il2a';
import { createPraka, PRAKA_DEFAULTS } from './praka';
import { createReplayKd, REPLAY_KD_DEFAULTS } from './replay-kd';

export type MethodFactory = (overrides?: Record<string, unknown>) => Method<any>;

interface Registered {
  create: MethodFactory;
  /** The config a method gets without overrides (null until first asked for, for methods registered without it). */
  defaults: object | null;
}

const FACTORIES: Record<string, Registered> = {
  finetune: { create: createFinetune as MethodFactory, defaults: FINETUNE_DEFAULTS },
  joint: { create: createJoint as MethodFactory, defaults: JOINT_DEFAULTS },
  lwf: { create: createLwf as MethodFactory, defaults: LWF_DEFAULTS },
  lwm: { create: createLwm as MethodFactory, defaults: LWM_DEFAULTS },
  icarl: { create: createIcarl as MethodFactory, defaults: ICARL_DEFAULTS },
  eeil: { create: createEeil as MethodFactory, defaults: EEIL_DEFAULTS },
  bic: { create: createBic as MethodFactory, defaults: BIC_DEFAULTS },
  lucir: { create: createLucir as MethodFactory, defaults: LUCIR_DEFAULTS },
  ssil: { create: createSsil as MethodFactory, defaults: SSIL_DEFAULTS },
  pass: { create: createPass as MethodFactory, defaults: PASS_DEFAULTS },
  il2a: { create: createIl2a as MethodFactory, defaults: IL2A_DEFAULTS },
  praka: { create: createPraka as MethodFactory, defaults: PRAKA_DEFAULTS },
  'replay-kd': { create: createReplayKd as MethodFactory, defaults: REPLAY_KD_DEFAULTS },
};

/** Registered method names, sorted. */
export function methodNames(): string[] {
  return Object.keys(FACTORIES).sort();
}

/** A method by name with its typed defaults, overridden by `overrides` (e.g. `{ kd: false }`). */
export function createMethod(name: string, overrides: Record<string, unknown> = {}): Method<any> {
  return registered(name).create(overrides);
}

function registered(name: string): Registered {
  const entry = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (!entry) throw new Error(`unknown method '${name}'; valid names: ${methodNames().join(', ')}`);
  return entry;
}

/** A method's default config (a copy), without building the method. */
export function methodDefaults(name: string): Record<string, unknown> {
  const entry = registered(name);
  entry.defaults ??= entry.create({}).config as object;
  return structuredClone(entry.defaults) as Record<string, unknown>;
}

/** Adds a method at runtime (e.g. one defined in a notebook). Refuses to replace a registered name. */
export function registerMethod(name: string, factory: MethodFactory, defaults?: object): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`registerMethod: name '${name}' must match [a-z0-9][a-z0-9-]*`);
  if (Object.hasOwn(FACTORIES, name)) throw new Error(`registerMethod: '${name}' is already registered`);
  FACTORIES[name] = { create: factory, defaults: defaults ?? null };
}
