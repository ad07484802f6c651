/**
 * One training stage: the epochs over a stage's data (new and replayed images, shuffled together or in SS-IL's
 * ratio-preserving batches), one optimiser step per batch, and the stage's progress events and summary.
 */
import { tf } from '../tf';
import { concatIndices } from '../data/indices';
import type { LossTerms, StepContext, TaskContext, TrainingData, TrainLoopOptions } from '../methods/types';
import type { Network } from '../models/index';
import type { ResolvedTraining } from './config';
import type { CpuBatch, PreparedData } from './data';
import type { StageSummary } from './metrics';
import { learningRateAt, Optimizer, type NamedVariable, type OptimizerSpec } from './optim';
import type { ProgressSink } from './progress';
import { streamSeed } from './rng';
import { trainStep } from './step';

/** What a stage reads from its run. */
export interface StageEnvironment {
  data: PreparedData;
  training: ResolvedTraining;
  progress: ProgressSink;
  seed: number;
  net: Network;
  teacher: Network | null;
}

/** Yields to the event loop so progress output flushes and notebooks stay responsive. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The variables an optimiser updates, with the network's stable names (slots and checkpoints key on them). */
export function namedTrainable(net: Network, only?: tf.Variable[]): NamedVariable[] {
  const byVariable = new Map<tf.Variable, string>();
  for (const [name, v] of net.namedVariables()) byVariable.set(v, name);
  const list = only ?? net.trainableVariables;
  return list.map((variable) => ({ name: byVariable.get(variable) ?? `external/${variable.name}`, variable }));
}

/** One batch holding a's images, then b's. */
function concatBatches(a: CpuBatch, b: CpuBatch): CpuBatch {
  const x = new Float32Array(a.x.length + b.x.length);
  x.set(a.x);
  x.set(b.x, a.x.length);
  return { x, y: concatIndices([a.y, b.y]), indices: concatIndices([a.indices, b.indices]), n: a.n + b.n, height: a.height, width: a.width };
}

/** One stage: the epochs over `opts.data` with an optimiser of its own (or the given one). */
export async function runStage(
env: StageEnvironment,
  ctx: TaskContext,
  opts: TrainLoopOptions,
  stageCounts: Map<string, number>,
  optimizer?: Optimizer,
): Promise<StageSummary> {
  const t = ctx.task.index;
  const tasks = env.data.scenario.tasks.length;
  const occurrence = stageCounts.get(opts.stage) ?? 0;
  stageCounts.set(opts.stage, occurrence + 1);
  const stageName = occurrence === 0 ? opts.stage : `${opts.stage}#${occurrence + 1}`;
  if (!Number.isInteger(opts.epochs) || opts.epochs < 0) throw new Error(`trainLoop('${opts.stage}'): epochs must be an integer >= 0, got ${opts.epochs}`);
  const indices = concatIndices([opts.data.newIndices, opts.data.replayIndices]);
  if (indices.length === 0 && opts.epochs > 0) throw new Error(`trainLoop('${opts.stage}') on task ${t}: no training images (newIndices and replayIndices are empty)`);
  const replayFlags = env.data.replayMask(opts.data.replayIndices);
  const ratio = opts.data.replayRatio;
  if (ratio !== undefined && !(ratio > 0 && Number.isFinite(ratio))) {
    throw new Error(`trainLoop('${opts.stage}'): data.replayRatio must be a positive number, got ${ratio}`);
  }
  const composed = ratio !== undefined && opts.data.newIndices.length > 0 && opts.data.replayIndices.length > 0;
  const spec: OptimizerSpec = { ...(opts.optimizer ?? env.training.optimizer), lr: opts.learningRate };
  const ownOptimizer = optimizer ? null : new Optimizer(spec);
  const stepper = optimizer ?? ownOptimizer!;
  const schedule = opts.schedule ?? { kind: 'constant' };
  const batchSize = opts.batchSize ?? env.training.batchSize;
  const augment = opts.augment ?? env.training.augment;
  const batchSeed = streamSeed(env.seed, 'batches', t, stageName);
  const stepsPerEpoch = composed ? Math.max(1, Math.floor(opts.data.newIndices.length / batchSize)) : Math.ceil(indices.length / batchSize);
  const summary: StageSummary = { stage: stageName, epochs: opts.epochs, loss: NaN, terms: {}, lr: opts.learningRate, images: 0, seconds: 0 };
  const started = Date.now();
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const lr = learningRateAt(schedule, opts.learningRate, epoch, opts.epochs);
      const variables = namedTrainable(env.net, opts.variables);
      const sums: Record<string, number> = {};
      let steps = 0;
      let images = 0;
      const epochStart = Date.now();
      const batching = { batchSize, seed: batchSeed, epoch, augment };
      const epochBatches = composed
        ? ratioBatches(env.data, opts.data, Math.max(1, Math.round(batchSize * ratio!)), stepsPerEpoch, batching)
        : env.data.batches(indices, batching);
      for (const batch of epochBatches) {
        const terms = trainStep({
          ctx,
          net: env.net,
          teacher: env.teacher,
          makeBatch: () => env.data.batchTensors(batch, replayFlags),
          prepareBatch: opts.prepareBatch,
          lossTerms: opts.lossTerms as (step: StepContext) => LossTerms,
          variables,
          optimizer: stepper,
          lr,
          location: { task: t, stage: stageName, epoch, step: steps },
          state: () => env.net.namedVariables(),
        });
        for (const [name, v] of Object.entries(terms)) sums[name] = (sums[name] ?? 0) + v;
        steps++;
        images += batch.n;
        const elapsed = (Date.now() - epochStart) / 1000;
        const means = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / steps]));
        const rate = images / Math.max(elapsed, 1e-6);
        const stepsLeft = stepsPerEpoch - steps + (opts.epochs - epoch - 1) * stepsPerEpoch;
        env.progress({
          type: 'step',
          task: t,
          tasks,
          stage: stageName,
          epoch,
          epochs: opts.epochs,
          step: steps - 1,
          steps: stepsPerEpoch,
          loss: Object.values(means).reduce((a, b) => a + b, 0),
          terms: means,
          lr,
          imagesPerSecond: rate,
          etaSeconds: (stepsLeft * elapsed) / steps,
        });
        await yieldToEventLoop();
      }
      const seconds = (Date.now() - epochStart) / 1000;
      summary.terms = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(steps, 1)]));
      summary.loss = Object.values(summary.terms).reduce((a, b) => a + b, 0);
      summary.lr = lr;
      summary.images += images;
      env.progress({
        type: 'epoch',
        task: t,
        tasks,
        stage: stageName,
        epoch,
        epochs: opts.epochs,
        loss: summary.loss,
        terms: summary.terms,
        lr,
        images,
        seconds,
        imagesPerSecond: images / Math.max(seconds, 1e-6),
      });
    }
  } finally {
    ownOptimizer?.dispose();
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

/** Ratio-preserving batches (TrainingData.replayRatio): `steps` new-data batches, each followed by `replayPerBatch` exemplars. */
function* ratioBatches(
  prepared: PreparedData,
  data: TrainingData,
  replayPerBatch: number,
  steps: number,
  o: { batchSize: number; seed: number; epoch: number; augment: boolean },
): Generator<CpuBatch> {
  // Each exemplar appears equally often (+-1) in the epoch's replay stream; batches() shuffles it.
  const replay = data.replayIndices;
  const cycled = Int32Array.from({ length: steps * replayPerBatch }, (_, i) => replay[i % replay.length]);
  const replayBatches = prepared.batches(cycled, { ...o, batchSize: replayPerBatch, seed: streamSeed(o.seed, 'replay') })[Symbol.iterator]();
  let step = 0;
  for (const fresh of prepared.batches(data.newIndices, o)) {
    if (step++ === steps) return;
    yield concatBatches(fresh, replayBatches.next().value as CpuBatch);
  }
}
