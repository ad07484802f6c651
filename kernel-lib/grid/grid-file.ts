/**
 * A grid file: one experiment at one profile and dataset, planned as rows, one row per run (method, scenario,
 * seed) with its fully resolved spec. Rows are independent: any worker (a local pool's child, a Slurm array task,
 * a Kubernetes Job index) runs row i, and results land in the grid's results store.
 *
 * A row's id is a content hash of its spec plus RESULTS_VERSION. The git commit is provenance only (recorded in
 * each result), never part of the id: committing results does not invalidate a grid.
 */
import { PRECISIONS } from '../backend/types';
import fs from 'node:fs';
import path from 'node:path';
import { getExperiment, type ExperimentName, type RunSpec } from '../experiments/experiments';
import { checkDatasetName, getProfile, profileSchema, validateProfile, type DatasetName, type Profile } from '../experiments/profiles';
import { experimentRunSpecs } from '../experiments/runner-options';
import { repoRoot } from '../paths';
import { resultsStore } from '../experiments/results';
import { describeIssues, z } from '../schema';
import { canonicalJson, sha256Hex, writeFileAtomic } from '../train/checkpoint';
import { firstDifference } from './differences';
import { methodResultsVersion } from '../methods/results-versions';

/**
 * Bump this with any change to kdcl that alters a run's numbers (a loss, a default, the trainer, a kernel's
 * rounding). Every row id changes with it, so results of the old code are recognised as another plan's.
 */
export const RESULTS_VERSION = 1;

export { METHOD_RESULTS_VERSIONS, methodResultsVersion } from '../methods/results-versions';

/** The engine a row must run on: results depend on each field (engineIdentity in train/config.ts). */
const engineSchema = z.strictObject({
  backend: z.string(),
  threads: z.number().int().positive(),
  isa: z.string().nullable(),
  loops: z.string().nullable(),
  precision: z.enum(PRECISIONS),
});
export type RowEngine = z.infer<typeof engineSchema>;

const runSpecSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]+$/),
  method: z.string(),
  config: z.record(z.string(), z.unknown()),
  scenario: z.enum(['b0-10', 'b50-10']),
  labels: z.record(z.string(), z.string()),
  role: z.enum(['method', 'baseline']),
});

const rowSpecSchema = z.strictObject({
  experiment: z.enum(['main-comparison', 'kd-removal', 'standalone-kd', 'replay-softmax']),
  profile: profileSchema,
  dataset: z.enum(['embedded', 'cifar100', 'tiny-imagenet', 'imagenet100']),
  run: runSpecSchema,
  seed: z.number().int(),
  engine: engineSchema,
});
export type RowSpec = z.infer<typeof rowSpecSchema>;

const rowSchema = z.strictObject({
  index: z.number().int().nonnegative(),
  /** Content hash of { resultsVersion, methodVersion, spec }. */
  id: z.string().regex(/^[0-9a-f]{16}$/),
  /** The results version of the row's method (METHOD_RESULTS_VERSIONS). */
  methodVersion: z.number().int().positive(),
  /** `<run id>_s<seed>`: the name of the row's result file, checkpoint folder and log. */
  name: z.string(),
  spec: rowSpecSchema,
});
export type GridRow = z.infer<typeof rowSchema>;

const gridSchema = z.strictObject({
  kind: z.literal('kdcl-grid'),
  version: z.literal(1),
  resultsVersion: z.number().int().positive(),
  experiment: z.string(),
  profile: z.string(),
  dataset: z.string(),
  /** Results store: relative to the repository root, or absolute (a shared cluster filesystem). */
  store: z.string(),
  /** Dataset folder for datasets read from disk (null: the loader's default). */
  dataDir: z.string().nullable(),
  createdAt: z.string(),
  /** Provenance of the plan only (not part of any id). */
  plannedAt: z.strictObject({ commit: z.string().nullable(), host: z.string() }),
  rows: z.array(rowSchema).min(1),
});
export type GridFile = z.infer<typeof gridSchema>;

export class GridFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GridFileError';
  }
}

export function rowId(spec: RowSpec, resultsVersion = RESULTS_VERSION, methodVersion = methodResultsVersion(spec.run.method)): string {
  return sha256Hex(canonicalJson({ resultsVersion, methodVersion, spec })).slice(0, 16);
}

/**
 * The profile as one method's rows record it: the method overrides of that method only, no exclusion list. A row's
 * id hashes its spec, so a change to another method's overrides (or to which methods a profile leaves out) does not
 * change the ids, and the finished results, of this method's rows.
 */
export function profileForMethod(profile: Profile, method: string): Profile {
  const own = profile.methodOverrides[method];
  return { ...profile, methodOverrides: own ? { [method]: own } : {}, excludeMethods: [] };
}

/**
 * Whether a stored result whose row id is not `row`'s is nevertheless `row`'s run: the same results version and
 * method results version, and the same spec once its profile is reduced as profileForMethod does. Results written
 * before that reduction (their rows hashed the whole profile) are recognised this way. The method results version
 * is not in a result file: it is recovered as the one under which the recorded spec hashes to the recorded id.
 */
export function sameRunUnderEarlierId(stored: { id?: string; resultsVersion?: number; spec?: unknown } | undefined, row: GridRow, resultsVersion: number): boolean {
  if (!stored?.id || stored.resultsVersion !== resultsVersion || !stored.spec) return false;
  const spec = stored.spec as RowSpec;
  if (!spec.profile || !spec.run) return false;
  const version = Array.from({ length: 20 }, (_, v) => v + 1).find((v) => rowId(spec, resultsVersion, v) === stored.id);
  if (version !== row.methodVersion) return false;
  return canonicalJson({ ...spec, profile: profileForMethod(spec.profile, spec.run.method) }) === canonicalJson(row.spec);
}

/**
 * Whether a finished row of another experiment (`stored`: its result's `row`) is this row's run: the same results
 * version, the same method results version (recovered from its id as in sameRunUnderEarlierId) and the same spec but
 * for the experiment's name, which no training step reads (e.g. KD removal's with-KD rows are the main comparison's
 * B0 runs, digit for digit).
 */
export function sameRunInOtherExperiment(stored: { id?: string; resultsVersion?: number; spec?: unknown } | undefined, row: GridRow, resultsVersion: number): boolean {
  if (!stored?.id || stored.resultsVersion !== resultsVersion || !stored.spec) return false;
  const spec = stored.spec as RowSpec;
  if (spec.experiment === row.spec.experiment) return false;
  const sameSpec = rowId(spec, resultsVersion, row.methodVersion) === stored.id && canonicalJson({ ...spec, experiment: row.spec.experiment }) === canonicalJson(row.spec);
  // A result its own store has not re-keyed yet (it keeps its earlier id until its row runs again) is the same run too.
  return sameSpec || sameRunUnderEarlierId(stored, { ...row, spec: { ...row.spec, experiment: spec.experiment } }, resultsVersion);
}

export function rowName(run: Pick<RunSpec, 'id'>, seed: number): string {
  return `${run.id}_s${seed}`;
}

/** The default results store of an experiment (experiments/results.ts resultsStore). */
export const defaultStore = resultsStore;

/** A store path as written in a grid file, resolved (relative paths are relative to the repository root). */
export function resolveStore(store: string): string {
  return path.isAbsolute(store) ? store : path.join(repoRoot(), store);
}

export interface PlanOptions {
  experiment: string;
  profile: string;
  dataset?: string;
  seeds?: number[];
  methods?: string[];
  scenarios?: string[];
  engine: RowEngine;
  store?: string;
  dataDir?: string | null;
  commit?: string | null;
  host?: string;
}

/** The rows of a grid (every run of the experiment x every seed), as this code version resolves them. */
export function planGrid(o: PlanOptions): GridFile {
  const experiment = getExperiment(o.experiment);
  const profile = getProfile(o.profile);
  const problems = validateProfile(profile);
  if (problems.length) throw new Error(problems.join('\n'));
  const dataset = checkDatasetName(o.dataset ?? profile.dataset);
  const seeds = o.seeds ?? profile.seeds;
  if (!seeds.length) throw new Error('no seeds: give at least one (--seeds 1993,...)');
  if (new Set(seeds).size !== seeds.length) throw new Error(`--seeds lists a seed twice: ${seeds.join(',')}`);
  const specs = experimentRunSpecs(experiment, profile, { methods: o.methods, scenarios: o.scenarios });
  const rows: GridRow[] = [];
  for (const run of specs) {
    for (const seed of seeds) {
      const spec: RowSpec = { experiment: experiment.name, profile: profileForMethod(profile, run.method), dataset, run, seed, engine: o.engine };
      rows.push({ index: rows.length, id: rowId(spec), methodVersion: methodResultsVersion(run.method), name: rowName(run, seed), spec });
    }
  }
  return {
    kind: 'kdcl-grid',
    version: 1,
    resultsVersion: RESULTS_VERSION,
    experiment: experiment.name,
    profile: profile.name,
    dataset,
    store: o.store ?? defaultStore(experiment.name, profile.name, dataset),
    dataDir: o.dataDir ?? null,
    createdAt: new Date().toISOString(),
    plannedAt: { commit: o.commit ?? null, host: o.host ?? '' },
    rows,
  };
}

export function writeGrid(file: string, grid: GridFile): void {
  writeFileAtomic(file, new TextEncoder().encode(`${JSON.stringify(grid, null, 1)}\n`));
}

/**
 * Reads and checks a grid file. Each check names the row and the field it failed on:
 *   - the file's shape (a hand edit that breaks it);
 *   - each row's id against the hash of its spec (a hand edit of a spec);
 *   - each row's spec against what this code version plans for the same run (a grid of another code version).
 */
export function readGrid(file: string): GridFile {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new GridFileError(`grid file ${file} cannot be read: ${(err as Error).message}`);
  }
  const parsed = gridSchema.safeParse(raw);
  if (!parsed.success) throw new GridFileError(describeIssues(`grid file ${file}`, gridSchema, raw, parsed.error.issues));
  const grid = parsed.data;
  if (grid.resultsVersion !== RESULTS_VERSION) {
    throw new GridFileError(
      `grid file ${file} was planned with resultsVersion ${grid.resultsVersion}, this code is resultsVersion ${RESULTS_VERSION}: ` +
        `its numbers would differ; plan it again (npm run grid -- plan ${grid.experiment} --profile ${grid.profile} --dataset ${grid.dataset})`,
    );
  }
  grid.rows.forEach((row, i) => checkRow(file, grid, row, i));
  return grid;
}

function checkRow(file: string, grid: GridFile, row: GridRow, i: number): void {
  const where = `grid file ${file}, row ${i}`;
  if (row.index !== i) throw new GridFileError(`${where}: field 'index' is ${row.index}, expected ${i} (rows must stay in order)`);
  const { spec } = row;
  for (const field of ['experiment', 'profile', 'dataset'] as const) {
    const own = field === 'profile' ? spec.profile.name : spec[field];
    if (own !== grid[field]) throw new GridFileError(`${where}: field 'spec.${field}' is '${own}', the grid's is '${grid[field]}'`);
  }
  if (row.name !== rowName(spec.run, spec.seed)) {
    throw new GridFileError(`${where}: field 'name' is '${row.name}', expected '${rowName(spec.run, spec.seed)}'`);
  }
  const methodVersion = methodResultsVersion(spec.run.method);
  if (row.methodVersion !== methodVersion) {
    throw new GridFileError(
      `${where}: field 'methodVersion' is ${row.methodVersion}, this code has ${spec.run.method} at results version ${methodVersion}: ` +
        `its numbers changed; plan the grid again (only ${spec.run.method}'s rows get new ids)`,
    );
  }
  const current = currentSpec(spec, where);
  const changed = firstDifference(current, spec, 'spec');
  if (changed) {
    throw new GridFileError(
      `${where}: field '${changed.path}' is ${changed.right}, this code version plans ${changed.left}: the grid was edited by hand ` +
        'or written by another version of kdcl; plan it again',
    );
  }
  if (rowId(spec, grid.resultsVersion, row.methodVersion) !== row.id) {
    throw new GridFileError(`${where}: field 'id' is ${row.id}, but its spec hashes to ${rowId(spec)}: the row was edited by hand; plan the grid again`);
  }
}

/** The row's spec as this code version resolves it (its engine and seed as planned). */
function currentSpec(spec: RowSpec, where: string): RowSpec {
  let profile: Profile;
  let run: RunSpec | undefined;
  try {
    profile = getProfile(spec.profile.name);
    run = getExperiment(spec.experiment).runs.find((r) => r.id === spec.run.id);
  } catch (err) {
    throw new GridFileError(`${where}: ${(err as Error).message}`);
  }
  if (!run) throw new GridFileError(`${where}: field 'spec.run.id' names run '${spec.run.id}', which experiment '${spec.experiment}' does not have`);
  return { ...spec, experiment: spec.experiment as ExperimentName, profile: profileForMethod(profile, run.method), dataset: spec.dataset as DatasetName, run };
}
