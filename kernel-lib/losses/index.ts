/**
 * Losses for KD-based class-incremental learning: pure functions of tensors. Each doc comment gives the formula,
 * the reduction and the reference it follows (paper section or reference repository file).
 *
 * - classification.ts: crossEntropy, bceWithLogits + icarlTargets (iCaRL), separatedSoftmaxCE (SS-IL),
 *   marginRanking (LUCIR), isdaLogits (IL2A)
 * - distillation.ts: softTargetCE (LwF/EEIL/BiC), klDistillation, taskwiseKD (SS-IL), logitL2, featureL2
 *   (PASS/IL2A/PRAKA), featureCosine (LUCIR), gradCam + attentionDistillation (LwM), asymmetricKD and the rotation
 *   helpers (PRAKA)
 * - util.ts: stopGradient, l2Normalize
 */
export * from './classification';
export * from './distillation';
export { type LabelsLike, l2Normalize, stopGradient } from './util';
