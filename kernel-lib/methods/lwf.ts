/**
 * Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2018): cross-entropy on the new task plus
 * soft-target distillation of the old outputs towards the frozen previous model, with no exemplars.
 *
 *   L = CE(z_new, y - start) + lamb * KD(z_old, t_old)
 *
 * - CE runs over the current task's logits only (FACIL src/approach/lwf.py `criterion`: without exemplars,
 *   `cross_entropy(outputs[t], targets - task_offset[t])`; PyCIL models/lwf.py: `logits[:, known_classes:]`).
 * - KD (default 'ce') is the soft-target cross-entropy over the old classes' logits, one softmax over all of them,
 *   T = 2 (FACIL lwf.py `cross_entropy(cat(outputs[:t]), cat(outputs_old[:t]), exp=1/T)`; PyCIL `_KD_loss`).
 *
 * Head layouts (`heads`):
 * - 'shared' (default): one expandable linear head. Old-class columns get the KD gradient and are updated, as in
 *   PyCIL models/lwf.py (one optimiser over every parameter).
 * - 'per-task': LwF's multi-head layout (TaskHeads), the variant the survey's standalone-KD-loss experiment
 *   (Table 4) uses: the current task's head is the only one trained with CE, and the old heads are only
 *   distilled. With `freezeOldHeads` (default for 'per-task') the old heads are not updated at all: FACIL
 *   lwf.py `_get_optimizer` leaves them out of the optimiser when there are no exemplars. The KD gradient then
 *   reaches the backbone through fixed copies of the old heads (the teacher's, which hold the same values since
 *   the student's old heads are never updated), so the student's old head variables get no gradient and no
 *   weight decay.
 *
 * Pluggable KD loss (`kdLoss`, survey Table 4), all from kernel-lib/losses:
 *   'ce'             softTargetCE(z_old, t_old, T)          soft-target cross-entropy (LwF's own)
 *   'kl'             klDistillation(z_old, t_old, T)        KL(p_old || p_new) * T^2
 *   'logit-l2'       logitL2(z_old, t_old)                  MSE on the old logits
 *   'feature-l2'     featureL2(f, f_old)                    Frobenius norm of the backbone feature difference
 *   'feature-cosine' featureCosine(f, f_old)                1 - cos of the backbone features, batch mean
 *   'none'           0                                      (same as kd: false)
 * Every loss is weighted by `lamb`.
 *
 * KD removal (`kd: false`, survey Table 3): the 'kd' term is exactly 0; CE is unchanged. LwF without KD is
 * fine-tuning with the CE restricted to the new task's logits.
 */
import { resolveMethodConfig, weight } from '../train/method-config';
import { positiveNumber, z } from '../schema';
import type { TrainingRecipe } from '../train/settings';
import { newTaskCrossEntropy } from './shared/classification-terms';
import { distillationLoss, LWF_KD_LOSSES, weightedKdTerm, type LwfKdLoss } from './shared/distillation-terms';
import { headLayout, type LwfHeadConfig } from './shared/heads';
import type { Method } from './types';

export { LWF_KD_LOSSES, type LwfKdLoss };

export interface LwfConfig extends LwfHeadConfig {
  kd: boolean;
  /** KD weight. FACIL src/approach/lwf.py `--lamb` default 1 (paper p. 5: "set to 1 for most our experiments"); PyCIL models/lwf.py uses lamda = 3. */
  lamb: number;
  /** KD temperature. FACIL lwf.py `--T` default 2 (paper p. 5: "We use T=2"); PyCIL models/lwf.py T = 2. */
  temperature: number;
  /** Distillation loss (survey Table 4). Default 'ce': LwF's soft-target cross-entropy. */
  kdLoss: LwfKdLoss;
}

export const LWF_DEFAULTS: LwfConfig = {
  kd: true,
  lamb: 1,
  temperature: 2,
  // One expandable head: PyCIL models/lwf.py (IncrementalNet + update_fc). 'per-task' is FACIL's layout.
  heads: 'shared',
  freezeOldHeads: null,
  kdLoss: 'ce',
};

/** The method's own training recipe (Method.recipe); `source` says where each number comes from. */
export const LWF_RECIPE: TrainingRecipe = {
  initOptimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  initSchedule: { kind: 'multistep', milestones: [60, 120, 160], gamma: 0.1 },
  initEpochs: 200,
  optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 2e-4 },
  schedule: { kind: 'multistep', milestones: [60, 120, 180, 220], gamma: 0.1 },
  epochs: 250,
  batchSize: 128,
  source:
    'LwF\'s training recipe in PyCIL models/lwf.py: first task 200 epochs, SGD lr 0.1, momentum 0.9, weight decay 5e-4, milestones [60, 120, 160]; later tasks 250 epochs, lr 0.1, weight decay 2e-4, milestones [60, 120, 180, 220]; decay 0.1; batch size 128.',
};

export function createLwf(overrides: Partial<LwfConfig> = {}): Method<LwfConfig> {
  const name = 'lwf';
  const config = resolveMethodConfig(name, LWF_DEFAULTS, overrides, {
    lamb: weight(),
    temperature: positiveNumber(),
    kdLoss: z.enum(LWF_KD_LOSSES),
    heads: z.enum(['shared', 'per-task']),
    freezeOldHeads: z.boolean().nullable(),
  });
  const layout = headLayout(name, config);
  return {
    name,
    recipe: LWF_RECIPE,
    config,
    kdTerms: ['kd'],
    memory: null,
    ...(layout.createHead ? { createHead: layout.createHead } : {}),
    beforeTask: (ctx) => layout.expand(ctx),
    lossTerms: (step) => ({
      ce: newTaskCrossEntropy(step, layout),
      kd: weightedKdTerm(step, config.lamb, () => distillationLoss(config.kdLoss, step, layout, config.temperature)),
    }),
  };
}
