/** What an experiment writes: one record per run, and the experiment's results file (shared by runner and analysis). */
import path from 'node:path';
import type { RunSpec } from './experiments';
import type { Profile } from './profiles';
import type { EngineIdentity } from '../train/config';

/** One finished (or failed) run. Accuracies are fractions in [0, 1]. */
export interface RunResult {
  /** `<spec id>_s<seed>`. */
  id: string;
  specId: string;
  experiment: string;
  method: string;
  scenario: string;
  kd: boolean;
  labels: Record<string, string>;
  role: RunSpec['role'];
  seed: number;
  status: 'done' | 'failed';
  error?: string;
  /** Average incremental accuracy (first task included), last accuracy, FACIL forgetting, BWT. */
  aia: number | null;
  last: number | null;
  forgetting: number | null;
  bwt: number | null;
  /** Accuracy on all seen classes after each task, and the number of classes seen then. */
  accuracies: number[];
  seenClasses: number[];
  /** acc[t][j]: after task t, on task j's classes. */
  accuracyMatrix: number[][];
  /** 'method' when the primary accuracy is the method's own classifier (iCaRL's NME), else 'cnn'. */
  primary: 'cnn' | 'method';
  /** The CNN (logit arg-max) numbers, when they differ from the primary ones. */
  cnn: { aia: number; last: number; accuracies: number[]; accuracyMatrix?: number[][] } | null;
  /** Wall seconds of each task (training, extra stages, evaluation), as recorded when the task ran. */
  taskSeconds?: number[];
  /** Method config actually used, and the training options. */
  methodConfig: Record<string, unknown>;
  training: Record<string, unknown>;
  scenarioShape: { numClasses: number; initial: number; increment: number; tasks: number };
  configHash: string;
  /** Backend, threads, ISA and precision the run computed on (results are reproducible on the same engine). */
  engine?: EngineIdentity;
  /** Wall seconds of this run in this session (resumed tasks not counted), and CPU seconds of the process then. */
  seconds: number;
  cpuSeconds: number;
  trainSeconds: number;
  /** CPU seconds of each task, kept in its checkpoint (null for a task checkpointed before they were recorded). */
  taskCpuSeconds?: (number | null)[];
  resumedTasks: number;
  /** Set by the grid runner: the row this result belongs to, and where and how it was computed. */
  row?: { id: string; index: number; resultsVersion: number; spec: Record<string, unknown> };
  provenance?: RunProvenance;
}

/** Where and how a grid row was computed (not part of its id: the same spec on another commit is the same row). */
export interface RunProvenance {
  commit: string | null;
  /** Whether the working tree differed from the commit (the results store itself left out); null without git. */
  dirty: boolean | null;
  host: string;
  /** The CPU's model name, and oneDNN's ISA cap where one was set (a row planned for an older ISA; see row-runner). */
  cpu?: { model: string; isaCap: string | null };
  backend: { name: string; tfBackend: string; version: string };
  precision: string;
  threads: number | null;
  seed: number;
  /** The dataset as the row loaded it (merge's REPORT.md states it without loading the data again). */
  dataset: ExperimentResults['datasetShape'];
  node: string;
  finishedAt: string;
  /** Set when the row's run was computed for another experiment, whose stored result this one copies. */
  sameRunAs?: { experiment: string; rowId: string; file: string };
}

export interface ExperimentResults {
  kind: 'kdcl-experiment-results';
  version: 1;
  experiment: string;
  surveyTable: string;
  profile: string;
  dataset: string;
  backend: string;
  createdAt: string;
  /** Wall and process CPU seconds of this session (resumed work not counted). */
  seconds: number;
  cpuSeconds: number;
  profileSettings: Profile;
  datasetShape: { classes: number; trainImages: number; testImages: number; imageSize: [number, number] };
  /** Methods of the experiment left out by the profile (excludeMethods). */
  excluded: string[];
  runs: RunResult[];
}

/** An experiment's results store, relative to the repository: reproductions/results/<profile>/<dataset>/<experiment>/. */
export function resultsStore(experiment: string, profile: string, dataset: string): string {
  return path.join('reproductions', 'results', profile, dataset, experiment);
}
