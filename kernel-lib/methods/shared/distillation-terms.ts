/**
 * The distillation terms several methods share: the survey's Table 4 loss kinds between student and teacher, and
 * a weighted KD term that is exactly 0 with KD off and on the first task.
 */
import { tf } from '../../tf';
import { featureCosine, featureL2, klDistillation, logitL2, softTargetCE } from '../../losses/index';
import { kdTerm, type StepContext } from '../types';
import type { HeadLayout } from './heads';

export const LWF_KD_LOSSES = ['ce', 'kl', 'logit-l2', 'feature-l2', 'feature-cosine', 'none'] as const;
export type LwfKdLoss = (typeof LWF_KD_LOSSES)[number];
/** The distillation loss of survey Table 4 between the student and the teacher (unweighted). */
export function distillationLoss(kind: LwfKdLoss, step: StepContext, layout: HeadLayout, temperature: number): tf.Scalar {
  const teacher = step.teacherOut();
  switch (kind) {
    case 'ce':
      return softTargetCE(layout.oldLogits(step), teacher.logits, temperature);
    case 'kl':
      return klDistillation(layout.oldLogits(step), teacher.logits, temperature);
    case 'logit-l2':
      return logitL2(layout.oldLogits(step), teacher.logits);
    case 'feature-l2':
      return featureL2(step.student().features, teacher.features);
    case 'feature-cosine':
      return featureCosine(step.student().features, teacher.features);
    case 'none':
      return tf.scalar(0);
  }
}

/** A KD term weighted by `weight`: exactly 0 with KD off and on the first task (no teacher). */
export function weightedKdTerm(step: StepContext, weight: number, compute: () => tf.Scalar): tf.Scalar {
  if (!step.teacher) return tf.scalar(0);
  return kdTerm(step, () => tf.mul(compute(), weight) as tf.Scalar);
}

