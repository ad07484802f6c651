/**
 * Per-method results versions: a change to one method's numbers that its config does not show (a fix in eeil.ts)
 * bumps that method's entry. A run's identity (train/config.ts runIdentity) records a version above 1, so a
 * checkpoint or result of the earlier code is not resumed or reused; a grid row's id hashes it too (on top of the
 * grid's RESULTS_VERSION), so only that method's rows run again. Methods not listed are at version 1.
 */
export const METHOD_RESULTS_VERSIONS: Readonly<Record<string, number>> = {
  // 2: the attention term without gradient by default (FACIL), both maps under the batch statistics (lwm.ts).
  lwm: 2,
  // 2: the balanced fine-tuning set is the old exemplars plus a random new subset; new exemplars selected after it.
  eeil: 2,
  // 2: the BCE is a mean over the scenario's whole class count, as the original's 100 output units (icarl.ts).
  icarl: 2,
  // 2: stage 2 runs its full 200 epochs on cached, un-augmented held-out logits (bic.ts).
  bic: 2,
};

export function methodResultsVersion(method: string): number {
  return METHOD_RESULTS_VERSIONS[method] ?? 1;
}
