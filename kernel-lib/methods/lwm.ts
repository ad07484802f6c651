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
 *   GAP + linear head (alpha_k = W[k, c] / HW), differentiable in the student's feature map and head weights.
 * - Whether that gradient reaches the student is `attentionGradient` (below). By default it does not, as in FACIL,
 *   whose hook-based Grad-CAM detaches the student's map (FACIL issue 37): the term is computed and reported, and
 *   LwM has LwF's loss gradient. With it on (the paper's reading), at FACIL's gamma = 1 the term's gradient is ~400x
 *   the CE's and the new task is not learnt (measured; see the field). So kdcl's LwM rows equal its LwF rows
 *   unless a run turns it on with a smaller gamma.
 * - Both maps are taken under the same batch normalisation, the batch's own statistics: the student's from its
 *   training pass, the teacher's from a pass with batch statistics that leaves its running averages alone
 *   (`training: 'batch-statistics'`), so two identical networks give distance 0 and the term measures forgetting
 *   only. (A training-mode student map against an eval-mode teacher map is 1.6 apart for the SAME network on a
 *   batch of new-task images; with both in eval mode, as FACIL, the student's running averages move to the new
 *   task's within an epoch and the distance with them.)
 * - beta = gamma = 1: FACIL lwm.py `--beta` / `--gamma` defaults ("Paper, sec 4: beta and gamma introduced in
 *   Eq. 3, but no values are given in the paper").
 *
 * Heads: as LwF (`heads` 'shared' by default, or 'per-task' with frozen old heads as FACIL lwm.py `_get_optimizer`).
 *
 * KD removal (`kd: false`): removes ONLY the attention term, as the survey's Table 3 does for LwM ('attention' is
 * exactly 0); CE and the logit KD ('logitKd') are unchanged, so LwM without KD is LwF.
 */
import { tf } from '../tf';
import { attentionDistillation, gradCam, stopGradient } from '../losses/index';
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
  /**
   * Whether the attention term trains the student. false (default): FACIL's behaviour, the reference the weights
   * above come from: its hook-based Grad-CAM detaches the student's map (lwm.py `forward_hook`: `output.detach()`,
   * FACIL issue 37), so the term is reported but gives no gradient and LwM has LwF's loss gradient. true: the paper's
   * differentiable L_AD. At gamma = 1 its gradient on the feature map is ~400x the CE's (measured: norm 4.42 vs
   * 0.0103 on a batch of new-task images, standard profile, task 2): the L2 normalisation divides by maps of norm
   * ~0.002, and the new task stops being learnt (newest-task accuracy 0-14% against LwF's 40%). The paper gives no
   * gamma; use a much smaller one with it.
   */
  attentionGradient: boolean;
}

export const LWM_DEFAULTS: LwmConfig = {
  kd: true,
  beta: 1,
  gamma: 1,
  temperature: 2,
  kdRemoves: 'attention',
  attentionGradient: false,
  heads: 'shared',
  freezeOldHeads: null,
};

/**
 * The attention distillation loss (unweighted): Grad-CAM of the teacher's top-1 class on the student's and the
 * teacher's last-stage feature maps, L2-normalised, L1 distance, batch mean.
 */
export function lwmAttentionLoss(step: StepContext, layout: HeadLayout, attentionGradient = true): tf.Scalar {
  // No tidy here: the memoised student / teacher outputs must outlive this term (see lwf.ts).
  const top1 = tf.argMax(step.teacherOut().logits, 1) as tf.Tensor1D;
  // The teacher under the batch's statistics, as the student's training pass (see the header); no gradient flows
  // into it (attentionDistillation stops it).
  const teacherMap = step.teacher!.forward(step.batch.x, { training: 'batch-statistics' }).featureMap;
  const camOld = gradCam(teacherMap, layout.teacherKernel(step), top1);
  const studentMap = step.student().featureMap;
  const kernel = layout.oldKernel(step);
  const camNew = attentionGradient ? gradCam(studentMap, kernel, top1) : gradCam(stopGradient(studentMap), stopGradient(kernel), top1);
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
    attentionGradient: z.boolean(),
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
      const attention = weightedKdTerm(step, config.gamma, () => lwmAttentionLoss(step, layout, config.attentionGradient));
      // With kdRemoves 'attention' (the survey's reading) the logit KD stays on with kd: false.
      const logitKdOn = step.kd || config.kdRemoves === 'attention';
      const logitKd = step.teacher && logitKdOn
        ? (tf.mul(distillationLoss('ce', step, layout, config.temperature), config.beta) as tf.Scalar)
        : tf.scalar(0);
      return { ce: newTaskCrossEntropy(step, layout), logitKd, attention };
    },
  };
}
