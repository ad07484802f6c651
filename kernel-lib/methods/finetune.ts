/**
 * Fine-tuning: the lower bound. Each task trains the network on the new task's data alone with cross-entropy
 * over every class seen so far (one global softmax over the expanded head), no distillation, no exemplars.
 *
 * Note: PyCIL models/finetune.py and FACIL approach/finetuning.py (without exemplars) restrict the CE to the new
 * task's logits in incremental tasks; kdcl's lower bound uses all seen classes, as the survey's "fine-tuning"
 * baseline (a global classifier trained on new data only). `ceOver: 'new'` gives the PyCIL/FACIL variant.
 *
 * KD removal: there is no KD term (`kdTerms` is empty); `kd: false` changes nothing.
 */
import type { Method, StepContext, TaskContext } from './types';
import { expandLinearHead } from './shared/heads';
import { rangeCrossEntropy } from './shared/classification-terms';
import { resolveMethodConfig } from '../train/method-config';
import { z } from '../schema';

export interface FinetuneConfig {
  kd: boolean;
  /** Classes the CE runs over: all seen classes (default) or the current task's only (PyCIL/FACIL). */
  ceOver: 'seen' | 'new';
}

export const FINETUNE_DEFAULTS: FinetuneConfig = { kd: true, ceOver: 'seen' };

export function createFinetune(overrides: Partial<FinetuneConfig> = {}): Method<FinetuneConfig> {
  const config = resolveMethodConfig('finetune', FINETUNE_DEFAULTS, overrides, { ceOver: z.enum(['seen', 'new']) });
  return {
    name: 'finetune',
    config,
    kdTerms: [],
    memory: null,
    beforeTask(ctx: TaskContext) {
      expandLinearHead(ctx.net, ctx.seenClasses, 'finetune');
    },
    lossTerms(step: StepContext) {
      const start = config.ceOver === 'new' ? step.task.start : 0;
      return { ce: rangeCrossEntropy(step, start, step.seenClasses) };
    },
  };
}
