/**
 * Replay + one KD loss, under a global or a separated softmax: the generic method of the survey's replay
 * experiment (Tables 5a and 5b). None of the ten methods isolates these two factors (iCaRL uses sigmoid BCE, SS-IL
 * fixes both its softmax and its task-wise KD), so this method holds everything else fixed:
 *
 *   L = CE + lamb * KD(kdLoss)
 *   CE  'global':    cross-entropy over every seen class, for new and replayed samples alike (5a)
 *       'separated': SS-IL's separated softmax (Ahn et al., ICCV 2021, Eq. 3; losses separatedSoftmaxCE): a new
 *                    sample's CE over the new classes' logits, a replayed sample's over the old classes' (5b)
 *   KD  one of the standalone-KD losses of survey Table 4 (methods/lwf.ts distillationLoss, shared head): on the
 *       old classes' logits ('ce' soft-target CE, 'kl', 'logit-l2', T = 2 for the softened ones) or on the backbone
 *       features ('feature-l2', 'feature-cosine'), over every sample of the batch (new and replayed), or 'none'.
 *
 * Memory: herding (iCaRL Alg. 4, kernel-lib/memory), 20 exemplars per class: the survey's replay setting (profiles
 * scale it by their memoryScale: 5 at `standard`).
 * Head: one expandable linear head (PyCIL's IncrementalNet). Batches mix new and replayed samples as the trainer
 * draws them (SS-IL's ratio-preserving batches are not reproduced: the softmax is the only factor varied).
 *
 * KD removal (`kd: false`): the 'kd' term is exactly 0 (same as kdLoss 'none'); CE and replay are unchanged.
 */
import { separatedSoftmaxCE } from '../losses/classification';
import { resolveMethodConfig, weight } from '../train/method-config';
import { positiveInt, positiveNumber, z } from '../schema';
import { rangeCrossEntropy } from './shared/classification-terms';
import { distillationLoss, LWF_KD_LOSSES, weightedKdTerm, type LwfKdLoss } from './shared/distillation-terms';
import { expandLinearHead, headLayout } from './shared/heads';
import type { Method, StepContext } from './types';

export const REPLAY_SOFTMAXES = ['global', 'separated'] as const;
export type ReplaySoftmax = (typeof REPLAY_SOFTMAXES)[number];

export interface ReplayKdConfig {
  kd: boolean;
  /** Distillation loss (survey Table 4's set). Default 'ce': LwF / iCaRL-style soft targets. */
  kdLoss: LwfKdLoss;
  /** 'global' (survey Table 5a) or 'separated' (Table 5b, SS-IL). */
  softmax: ReplaySoftmax;
  /** KD weight. 1: FACIL src/approach/lwf.py `--lamb` default, as the standalone experiment. */
  lamb: number;
  /** Temperature of the softened losses. 2: LwF paper p. 5, SS-IL trainer/ssil.py `T=2`. */
  temperature: number;
  /** Herding exemplars per class. 20: the survey's replay setting (also PyCIL's fixed_memory 20 per class). */
  memoryPerClass: number;
}

export const REPLAY_KD_DEFAULTS: ReplayKdConfig = {
  kd: true,
  kdLoss: 'ce',
  softmax: 'global',
  lamb: 1,
  temperature: 2,
  memoryPerClass: 20,
};

export function createReplayKd(overrides: Partial<ReplayKdConfig> = {}): Method<ReplayKdConfig> {
  const name = 'replay-kd';
  const config = resolveMethodConfig(name, REPLAY_KD_DEFAULTS, overrides, {
    lamb: weight(),
    temperature: positiveNumber(),
    kdLoss: z.enum(LWF_KD_LOSSES),
    softmax: z.enum(REPLAY_SOFTMAXES),
    memoryPerClass: positiveInt(),
  });
  const layout = headLayout(name, { heads: 'shared', freezeOldHeads: null });
  const classification = (step: StepContext) => {
    if (config.softmax === 'global' || step.oldClasses === 0) return rangeCrossEntropy(step, 0, step.seenClasses);
    const logits = step.student().logits;
    const seen = logits.shape[1] === step.seenClasses ? logits : logits.slice([0, 0], [-1, step.seenClasses]);
    return separatedSoftmaxCE(seen, step.batch.y, step.batch.replay, step.oldClasses);
  };
  return {
    name,
    config,
    kdTerms: ['kd'],
    memory: { selection: 'herding', perClass: config.memoryPerClass },
    beforeTask: (ctx) => expandLinearHead(ctx.net, ctx.seenClasses, name),
    lossTerms: (step) => ({
      ce: classification(step),
      kd: weightedKdTerm(step, config.lamb, () => distillationLoss(config.kdLoss, step, layout, config.temperature)),
    }),
  };
}
