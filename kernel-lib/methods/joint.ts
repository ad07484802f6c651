/**
 * Joint training: the upper bound. Each task trains on every training image of every class seen so far
 * (FACIL approach/joint.py: the accumulated data of all tasks), with CE over all seen classes. The network
 * keeps training from the previous task's weights, as FACIL's joint does. No KD, no exemplar memory.
 *
 * KD removal: there is no KD term; `kd: false` changes nothing.
 */
import type { Method, StepContext, TaskContext, TrainingData } from './types';
import { rangeCrossEntropy } from './shared/classification-terms';
import { expandLinearHead } from './shared/heads';
import { resolveMethodConfig } from '../train/method-config';

export interface JointConfig {
  kd: boolean;
}

export const JOINT_DEFAULTS: JointConfig = { kd: true };

export function createJoint(overrides: Partial<JointConfig> = {}): Method<JointConfig> {
  const config = resolveMethodConfig('joint', JOINT_DEFAULTS, overrides);
  return {
    name: 'joint',
    config,
    kdTerms: [],
    memory: null,
    beforeTask(ctx: TaskContext) {
      expandLinearHead(ctx.net, ctx.seenClasses, 'joint');
    },
    trainingData(ctx: TaskContext): TrainingData {
      return {
        newIndices: ctx.services.taskIndices({ index: ctx.task.index, start: 0, end: ctx.seenClasses }),
        replayIndices: new Int32Array(0),
      };
    },
    lossTerms(step: StepContext) {
      return { ce: rangeCrossEntropy(step, 0, step.seenClasses) };
    },
  };
}
