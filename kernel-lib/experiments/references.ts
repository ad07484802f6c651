/**
 * Published reference numbers that REPORT.md puts beside ours, each with its citation, its metric (AIA or last
 * accuracy) and the exact setting it was measured in.
 *
 * Rule: a number is listed only if it was read in its source during this implementation (repository READMEs and
 * configs fetched with the search tools); nothing is recalled from memory. Sources that were checked but gave no
 * usable number are listed in SOURCES_CHECKED with the reason, so the gaps are visible.
 *
 * Matching: REPORT.md shows a reference beside a run only when dataset, scenario shape (first-task classes and
 * classes per later task) and method agree. The backbone and recipe may still differ; `note` says how.
 */

export type ReferenceMetric = 'aia' | 'last';

export interface ReferenceNumber {
  method: string;
  dataset: 'cifar100' | 'tiny-imagenet' | 'imagenet100';
  /** Scenario shape: classes of the first task, classes of each later task (total 100 for CIFAR-100). */
  scenario: { initial: number; increment: number };
  metric: ReferenceMetric;
  /** Percent. */
  value: number;
  /** Who measured it: the method's own paper, or a reproduction. */
  kind: 'original paper' | 'reproduction';
  /** Where the number was read: repository + file (+ commit), or paper + table. */
  citation: string;
  /** Setting details that differ from kdcl's, memory, backbone, what the source calls the metric. */
  note: string;
}

const LIBCONTINUAL_PRAKA =
  'LibContinual (RL-VIG/LibContinual), reproduce/praka/README.md @35108fa6, table "Reproduced Average Accuracy | Reported Average Accuracy"; ' +
  'split from config/PRAKA.yaml @25568f93 (init_cls_num 50; inc_cls_num 10 -> task_num 6, inc_cls_num 5 -> task_num 11)';

export const REFERENCES: ReferenceNumber[] = [
  {
    method: 'praka',
    dataset: 'cifar100',
    scenario: { initial: 50, increment: 10 },
    metric: 'aia',
    value: 70.02,
    kind: 'original paper',
    citation: `Shi & Ye, ICCV 2023 (PRAKA), as quoted in ${LIBCONTINUAL_PRAKA}`,
    note: "README row 'Num of Tasks 5' (5 incremental tasks of 10 after 50 base classes); no exemplars; PRAKA's ResNet-18.",
  },
  {
    method: 'praka',
    dataset: 'cifar100',
    scenario: { initial: 50, increment: 10 },
    metric: 'aia',
    value: 69.54,
    kind: 'reproduction',
    citation: LIBCONTINUAL_PRAKA,
    note: "README row 'Num of Tasks 5'; no exemplars; config backbone resnet18_cbam, Adam lr 1e-3, 100 epochs.",
  },
  {
    method: 'praka',
    dataset: 'cifar100',
    scenario: { initial: 50, increment: 5 },
    metric: 'aia',
    value: 68.86,
    kind: 'original paper',
    citation: `Shi & Ye, ICCV 2023 (PRAKA), as quoted in ${LIBCONTINUAL_PRAKA}`,
    note: "README row 'Num of Tasks 10' (10 incremental tasks of 5 after 50 base classes); no exemplars; PRAKA's ResNet-18.",
  },
  {
    method: 'praka',
    dataset: 'cifar100',
    scenario: { initial: 50, increment: 5 },
    metric: 'aia',
    value: 67.12,
    kind: 'reproduction',
    citation: LIBCONTINUAL_PRAKA,
    note: "README row 'Num of Tasks 10'; no exemplars; config backbone resnet18_cbam, Adam lr 1e-3, 100 epochs.",
  },
  {
    method: 'bic',
    dataset: 'cifar100',
    scenario: { initial: 20, increment: 20 },
    metric: 'last',
    value: 56.7,
    kind: 'original paper',
    citation:
      'Wu et al., CVPR 2019 (BiC), as quoted in LibContinual (RL-VIG/LibContinual) reproduce/bic/README.md @35108fa6, row "original bic" (accuracy after 20/40/60/80/100 classes)',
    note: 'Accuracy after the last of 5 tasks of 20 classes (0.567 in the README); 2000 exemplars.',
  },
  {
    method: 'bic',
    dataset: 'cifar100',
    scenario: { initial: 20, increment: 20 },
    metric: 'last',
    value: 57.8,
    kind: 'reproduction',
    citation: 'LibContinual (RL-VIG/LibContinual) reproduce/bic/README.md @35108fa6, row "Ours (stage 2)"',
    note: 'Accuracy after the last of 5 tasks of 20 classes (0.578 in the README); the README title says "with 180 episodes".',
  },
];

/** Sources read for reference numbers that gave none usable, and why (kept so the gaps are explicit). */
export const SOURCES_CHECKED: { source: string; outcome: string }[] = [
  {
    source: 'The survey (Li, Su, Zhang, Wang, IEEE TNNLS 2024)',
    outcome: 'text not reachable with the search tools available here: none of its table values are reproduced.',
  },
  {
    source: 'PyCIL (G-U-N/PyCIL) README.md @06da7617',
    outcome: 'reproduced results are given only as images (resources/cifar10s.png, ImageNet100.png): no number could be read.',
  },
  {
    source: 'PyCIL paper (Zhou et al., arXiv 2112.12533)',
    outcome: 'only the first page of the text was reachable; its results table was not.',
  },
  {
    source: 'FACIL (mmasana/FACIL) README.md @3b2b05af and scripts/README.md',
    outcome: 'results are in the TPAMI paper and in images (docs/_static/tb1.png, tb2.png): no number could be read.',
  },
  {
    source: 'LibContinual reproduce/lwf/README.md, reproduce/icarl/README.md, reproduce/lucir/README.md',
    outcome: 'numbers present, but the README does not say whether they are average incremental or last accuracy (and for LUCIR not the split): left out.',
  },
  {
    source: 'Official repositories of PASS (Impression2805/CVPR21_PASS), IL2A (Impression2805/IL2A), SS-IL (hongjoon0805/SS-IL-Official), LUCIR (hshustc/CVPR19_Incremental_Learning)',
    outcome: 'READMEs hold no CIFAR-100 numbers as text (SS-IL: ImageNet results as an image).',
  },
  {
    source: 'Original papers of LwF, LwM, iCaRL, EEIL, BiC, LUCIR, SS-IL, PASS, IL2A',
    outcome: 'paper text beyond the first page was not reachable: their reported numbers are not listed (BiC and PRAKA only via LibContinual, above).',
  },
];

/** References for a method in a dataset and scenario shape. */
export function referencesFor(method: string, dataset: string, scenario: { initial: number; increment: number }): ReferenceNumber[] {
  return REFERENCES.filter(
    (r) => r.method === method && r.dataset === dataset && r.scenario.initial === scenario.initial && r.scenario.increment === scenario.increment,
  );
}

/** Problems in the reference table (empty when valid). */
export function validateReferences(refs: ReferenceNumber[] = REFERENCES): string[] {
  return refs.flatMap((r, i) => {
    const problems: string[] = [];
    if (!(r.value > 0 && r.value <= 100)) problems.push(`REFERENCES[${i}]: value ${r.value} is not a percentage`);
    if (r.metric !== 'aia' && r.metric !== 'last') problems.push(`REFERENCES[${i}]: metric must be 'aia' or 'last'`);
    if (!r.citation.trim()) problems.push(`REFERENCES[${i}]: citation missing`);
    return problems;
  });
}
