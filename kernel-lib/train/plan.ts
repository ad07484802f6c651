/** A run's plan: what createRun builds from its options, before any network or checkpoint exists. */
import { defaultPrecision, setPrecision } from '../backend/index';
import { createMethod } from '../methods/registry';
import { parseConfig } from '../schema';
import { configHash, resolveTraining, runIdentity, runOptionsSchema, type RunOptions } from './config';
import { prepareData } from './data';

/**
 * What createRun would build, without building the network or reading a checkpoint: the method, the adapted
 * options, the resolved settings, the relabelled data, and the run's identity and config hash. The experiment
 * runner uses the hash to recognise a finished run before it touches the run's checkpoint.
 */
export function planRun(options: RunOptions) {
  if (!options || typeof options !== 'object') throw new Error('createRun(options): options object required');
  parseConfig(runOptionsSchema, options, 'createRun');
  // The engine's precision is process state: each run sets its own before its identity (which records it) is taken.
  setPrecision(options.precision ?? defaultPrecision());
  const method = typeof options.method === 'string' ? createMethod(options.method) : options.method;
  // The method may adapt the backbone (LUCIR: no last ReLU); the adapted spec is what is built and hashed.
  const adapted = { ...options, backbone: method.backbone?.(options.backbone) ?? options.backbone };
  const training = resolveTraining(adapted);
  const data = prepareData(adapted.dataset, adapted.scenario, adapted.classOrder);
  const identity = runIdentity(adapted, method, training, data.scenario, data.classOrder);
  return { method, options: adapted, training, data, identity, hash: configHash(identity) };
}

export type RunPlan = ReturnType<typeof planRun>;
