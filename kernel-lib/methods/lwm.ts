/**
 * Learning without Memorizing (Dhar et al., CVPR 2019): LwF plus attention distillation, with no exemplars.
 *
 *   L = CE(z_new, y - start) + beta * KD(z_old, t_old) + gamma * L_AD
 *   L_AD = 1/N sum_i || Q_i / ||Q_i||_2 - Q_old_i / ||Q_old_i||_2 ||_1      (paper Eq. 2)
 *
 * - CE and the logit KD are LwF's (see lwf.ts): CE over the current task's logits, soft-target cross-entropy over
 *   the old classes' logits with T = 2 (FACIL src/approach/lwm.py `criterion`: `exp=1.0 / 2.0`).
 * - Q / Q_old are Grad-CAM maps at the last conv stage (paper Sec. 5.4; FACIL lwm.py `--gradcam-layer layer3`,
 *   ResNet-32's last stage) of the OLD model's top-1 class c_i (paper Sec. 4: the base class the previous model
 *   predicts), computed by the new and by the old model. kernel-lib/losses' gradCam is the exact closed form for a
 *   GAP + linear head (alpha_k = W[k, c] / HW), differentiable in the student's feature map and head weights, so
 *   the attention term trains the new model. FACIL's hook-based Grad-CAM `.detach()`es the new model's map and
 *   gives the attention term no gradient (FACIL issue 37); this one does not.
 * - Both maps come from eval-mode passes (batch norm on its running statistics), as FACIL's GradCAM computes them
 *   ("this use eval() pass"): the student's is a second forward pass of the batch, differentiable. A training-mode
 *   student map compared with the teacher's eval-mode map measures the batch-norm mode, not forgetting: for the
 *   same network on a batch of new-task images the distance is 1.6 (of at most 2 for disjoint maps), and that
 *   spurious term outweighed the new task's CE (measured in the standard profile: newest-task accuracy 0-10%).
 * - beta = gamma = 1: FACIL lwm.py `--beta` / `--gamma` defaults ("Paper, sec 4: beta and gamma introduced in
 *   Eq. 3, but no values are given in the paper").
 *
 * Heads: as LwF (`heads` 'shared' by default, or 'per-task' with frozen old heads as FACIL lwm.py `_get_optimizer`).
 *
 * KD removal (`kd: false`): removes ONLY the attention term, as the survey's Table 3 does for LwM ('attention' is
 * exactly 0); CE and the logit KD ('logitKd') are unchanged, so LwM without KD is LwF.
 */
import { tf } from '../tf';
import { attentionDistillation, gradCam } from '../losses/index';
import { resolveMethodConfig, weight } from '../train/method-config';
import { positiveNumber, z } from '../schema';
import type { Method, StepContext } from './types';
import { newTaskCrossEntropy } from './shared/classification-terms';
import { distillationLoss, weightedKdTerm } from './shared/distillation-terms';
import { headLayout, type HeadLayout, type LwfHeadConfig } from './shared/heads';

export interface LwmConfig extends LwfHeadConfig {
  kd: boolean;
  /** Logit KD weight. FACIL src/approach/lwm.py `--beta` default 1. */
  beta: number;
  /** Attention distillation weight. FACIL lwm.py `--gamma` default 1. */
  gamma: number;
  /** Logit KD temperature. FACIL lwm.py `criterion`: exp = 1/2, i.e. T = 2. */
  temperature: number;
  /**
   * What `kd: false` removes. 'attention' (default): the attention-map distillation only, the logit KD stays, as the
   * survey's KD-removal table does for LwM (LwM's contribution is the attention term). 'all': the logit KD too.
   */
  kdRemoves: 'attention' | 'all';
}

export const LWM_DEFAULTS: LwmConfig = {
  kd: true,
  beta: 1,
  gamma: 1,
  temperature: 2,
  kdRemoves: 'attention',
  heads: 'shared',
  freezeOldHeads: null,
};

/**
 * The attention distillation loss (unweighted): Grad-CAM of the teacher's top-1 class on the student's and the
 * teacher's last-stage feature maps, L2-normalised, L1 distance, batch mean.
 */
export function lwmAttentionLoss(step: StepContext, layout: HeadLayout): tf.Scalar {
  // No tidy here: the memoised teacher output must outlive this term (see lwf.ts).
  const teacher = step.teacherOut();
  const top1 = tf.argMax(teacher.logits, 1) as tf.Tensor1D;
  const camOld = gradCam(teacher.featureMap, layout.teacherKernel(step), top1);
  // The student's map in eval mode, like the teacher's (see the header): its own, differentiable, forward pass.
  const studentMap = step.net.forward(step.batch.x, { training: false }).featureMap;
  const camNew = gradCam(studentMap, layout.oldKernel(step), top1);
  return attentionDistillation(camNew, camOld);
}

export function createLwm(overrides: Partial<LwmConfig> = {}): Method<LwmConfig> {
  const name = 'lwm';
  const config = resolveMethodConfig(name, LWM_DEFAULTS, overrides, {
    beta: weight(),
    gamma: weight(),
    temperature: positiveNumber(),
    heads: z.enum(['shared', 'per-task']),
    freezeOldHeads: z.boolean().nullable(),
    kdRemoves: z.enum(['attention', 'all']),
  });
  const layout = headLayout(name, config);
  return {
    name,
    config,
    kdTerms: config.kdRemoves === 'all' ? ['attention', 'logitKd'] : ['attention'],
    memory: null,
    ...(layout.createHead ? { createHead: layout.createHead } : {}),
    beforeTask: (ctx) => layout.expand(ctx),
    lossTerms(step) {
      // The attention term's eval-mode pass runs before the training-mode pass (CE, logit KD), which updates the
      // batch-norm running statistics: FACIL's order, so both maps see the statistics the teacher left.
      const attention = weightedKdTerm(step, config.gamma, () => lwmAttentionLoss(step, layout));
      // With kdRemoves 'attention' (the survey's reading) the logit KD stays on with kd: false.
      const logitKdOn = step.kd || config.kdRemoves === 'attention';
      const logitKd = step.teacher && logitKdOn
        ? (tf.mul(distillationLoss('ce', step, layout, config.temperature), config.beta) as tf.Scalar)
        : tf.scalar(0);
      return { ce: newTaskCrossEntropy(step, layout), logitKd, attention };
    },
  };
}
