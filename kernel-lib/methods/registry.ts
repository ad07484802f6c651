/**
 * Method registry: name -> factory(config overrides). Each method file exports its factory; add it here.
 */
import type { Method } from './types';
import { createFinetune } from './finetune';
import { createJoint } from './joint';
import { createLwf } from './lwf';
import { createLwm } from './lwm';
import { createIcarl } from './icarl';
import { createEeil } from './eeil';
import { createBic } from './bic';
import { createLucir } from './lucir';
import { createSsil } from './ssil';
import { createPass } from './pass';
import { createIl2a } from './il2a';
import { createPraka } from './praka';
import { createReplayKd } from './replay-kd';

export type MethodFactory = (overrides?: Record<string, unknown>) => Method<any>;

const FACTORIES: Record<string, MethodFactory> = {
  finetune: createFinetune as MethodFactory,
  joint: createJoint as MethodFactory,
  lwf: createLwf as MethodFactory,
  lwm: createLwm as MethodFactory,
  icarl: createIcarl as MethodFactory,
  eeil: createEeil as MethodFactory,
  bic: createBic as MethodFactory,
  lucir: createLucir as MethodFactory,
  ssil: createSsil as MethodFactory,
  pass: createPass as MethodFactory,
  il2a: createIl2a as MethodFactory,
  praka: createPraka as MethodFactory,
  'replay-kd': createReplayKd as MethodFactory,
};

/** Registered method names, sorted. */
export function methodNames(): string[] {
  return Object.keys(FACTORIES).sort();
}

/** A method by name with its typed defaults, overridden by `overrides` (e.g. `{ kd: false }`). */
export function createMethod(name: string, overrides: Record<string, unknown> = {}): Method<any> {
  const factory = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (!factory) throw new Error(`unknown method '${name}'; valid names: ${methodNames().join(', ')}`);
  return factory(overrides);
}

/** Adds a method at runtime (e.g. one defined in a notebook). Refuses to replace a registered name. */
export function registerMethod(name: string, factory: MethodFactory): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`registerMethod: name '${name}' must match [a-z0-9][a-z0-9-]*`);
  if (Object.hasOwn(FACTORIES, name)) throw new Error(`registerMethod: '${name}' is already registered`);
  FACTORIES[name] = factory;
}
