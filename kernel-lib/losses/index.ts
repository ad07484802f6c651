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
// Named re-exports (not `export *`) so ES-module importers of this CommonJS build see every name.
export {
  crossEntropy,
  bceWithLogits,
  icarlTargets,
  separatedSoftmaxCE,
  marginRanking,
  isdaLogits,
} from './classification';
export {
  softTargetCE,
  klDistillation,
  taskwiseKD,
  logitL2,
  featureL2,
  featureCosine,
  gradCam,
  attentionDistillation,
  aggregateRotationLogits,
  rotationZeroColumns,
  rotationZeroRows,
  asymmetricKD,
} from './distillation';
export { type LabelsLike, l2Normalize, stopGradient } from './util';
