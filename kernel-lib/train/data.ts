/**
 * The run's view of its dataset: relabelled to arrival order, indexed by class, and batched through
 * kernel-lib/data's seeded batching and augmentation.
 */
import { concatIndices } from '../data/indices';
import { tf } from '../tf';
import type { ImageDataset, ImageSplit } from '../data/types';
import type { Batch, NetworkLike } from '../methods/types';
import { classOrder as namedClassOrder } from '../data/class-orders';
import { makeScenario, relabelDataset, type Scenario } from '../data/scenario';
import { makeBatches, toTensor, type ImageBatch } from '../data/batches';
import type { ClassOrderSpec, ScenarioSpec } from './config';
import { DEFAULTS } from './config';

/** A batch on the CPU, as kernel-lib/data's makeBatches yields it (NHWC normalised, labels, split indices). */
export type CpuBatch = ImageBatch;

export interface BatchingOptions {
  batchSize: number;
  seed: number;
  epoch: number;
  augment: boolean;
}

export interface PreparedData {
  /** The dataset with labels in arrival order (label k = the k-th class of the class order). */
  dataset: ImageDataset;
  scenario: Scenario;
  /** Original class id of each incremental label. */
  classOrder: number[];
  trainIndicesOfClasses(start: number, end: number): Int32Array;
  testIndicesOfClasses(start: number, end: number): Int32Array;
  /** Incremental labels of training / test images. */
  labels(indices: Int32Array): Int32Array;
  testLabels(indices: Int32Array): Int32Array;
  /** 1 at every training index in `replayIndices`, over the whole training split. */
  replayMask(replayIndices: Int32Array): Uint8Array;
  /** Shuffled, augmented training batches of one epoch (seeded by seed and epoch). */
  batches(indices: Int32Array, options: BatchingOptions): Iterable<CpuBatch>;
  /** Unshuffled, unaugmented batches (evaluation, features). */
  evalBatches(split: 'train' | 'test', indices: Int32Array, batchSize: number): Iterable<CpuBatch>;
  imagesTensor(batch: CpuBatch): tf.Tensor4D;
  batchTensors(batch: CpuBatch, replayMask: Uint8Array): Batch;
  /**
   * Eval-mode features of training images, [n, featureDim], in the order of `indices`. With `augmentSeed`, each image
   * goes through the training augmentation first (keyed by that seed), as the official PASS / IL2A / PRAKA
   * `protoSave` reads the augmented training loader in eval mode. Caller disposes.
   */
  features(net: NetworkLike, indices: Int32Array, batchSize: number, augmentSeed?: number): tf.Tensor2D;
}

function checkSplit(split: ImageSplit | undefined, name: string, classes: number): void {
  const where = `createRun: dataset.${name}`;
  if (!split) throw new Error(`${where} is missing`);
  const { count, height, width, channels } = split;
  if (channels !== 3) throw new Error(`${where}.channels must be 3, got ${channels}`);
  if (split.images.length !== count * height * width * 3) {
    throw new Error(`${where}.images has ${split.images.length} bytes, expected count*height*width*3 = ${count * height * width * 3}`);
  }
  if (split.labels.length !== count) throw new Error(`${where}.labels has ${split.labels.length} entries for ${count} images`);
  for (let i = 0; i < count; i++) {
    const y = split.labels[i];
    if (!(y >= 0 && y < classes)) throw new Error(`${where}.labels[${i}] = ${y} is outside [0, ${classes})`);
  }
}

function indexByClass(labels: Int32Array, classes: number): Int32Array[] {
  const counts = new Int32Array(classes);
  for (const y of labels) counts[y]++;
  const lists = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(classes);
  for (let i = 0; i < labels.length; i++) lists[labels[i]][fill[labels[i]]++] = i;
  return lists;
}

function resolveOrder(spec: ClassOrderSpec, numClasses: number): number[] {
  if (Array.isArray(spec)) {
    const seen = new Set(spec);
    if (spec.length !== numClasses || seen.size !== numClasses || spec.some((c) => !Number.isInteger(c) || c < 0 || c >= numClasses)) {
      throw new Error(`createRun: classOrder must be a permutation of 0..${numClasses - 1} (${numClasses} distinct class ids), got ${spec.length} entries`);
    }
    return spec.slice();
  }
  return namedClassOrder(spec, numClasses);
}

export function prepareData(raw: ImageDataset, scenarioSpec: ScenarioSpec, orderSpec: ClassOrderSpec | undefined): PreparedData {
  const numClasses = raw.classNames?.length ?? 0;
  if (numClasses < 1) throw new Error('createRun: dataset.classNames is empty');
  checkSplit(raw.train, 'train', numClasses);
  checkSplit(raw.test, 'test', numClasses);
  const order = resolveOrder(orderSpec ?? DEFAULTS.classOrder, numClasses);
  const scenario = makeScenario(scenarioSpec, numClasses);
  const dataset = relabelDataset(raw, order);
  const trainByClass = indexByClass(dataset.train.labels, numClasses);
  const testByClass = indexByClass(dataset.test.labels, numClasses);
  const ofClasses = (lists: Int32Array[], start: number, end: number) => {
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= numClasses && start <= end)) {
      throw new Error(`class range [${start}, ${end}) is outside [0, ${numClasses})`);
    }
    return concatIndices(lists.slice(start, end));
  };
  const { mean, std } = dataset;
  const imagesTensor = (batch: CpuBatch): tf.Tensor4D => tf.tidy(() => toTensor(batch).x);
  const evalBatches = (split: 'train' | 'test', indices: Int32Array, batchSize: number) =>
    makeBatches(dataset[split], indices, { batchSize, seed: 0, epoch: 0, augment: false, mean, std, shuffle: false, dropLast: false });
  const labelsOf = (split: ImageSplit) => (indices: Int32Array) => Int32Array.from(indices, (i) => split.labels[i]);
  return {
    dataset,
    scenario,
    classOrder: order,
    trainIndicesOfClasses: (start, end) => ofClasses(trainByClass, start, end),
    testIndicesOfClasses: (start, end) => ofClasses(testByClass, start, end),
    labels: labelsOf(dataset.train),
    testLabels: labelsOf(dataset.test),
    replayMask: (replayIndices) => {
      const mask = new Uint8Array(dataset.train.count);
      for (const i of replayIndices) mask[i] = 1;
      return mask;
    },
    batches: (indices, o) =>
      makeBatches(dataset.train, indices, { batchSize: o.batchSize, seed: o.seed, epoch: o.epoch, augment: o.augment, mean, std, shuffle: true, dropLast: false }),
    evalBatches,
    imagesTensor,
    batchTensors: (batch, replayMask) => ({
      ...toTensor(batch),
      replay: tf.tensor1d(Float32Array.from(batch.indices, (i) => replayMask[i]), 'float32'),
    }),
    features: (net, indices, batchSize, augmentSeed) => {
      const out = new Float32Array(indices.length * net.featureDim);
      let offset = 0;
      const batches = augmentSeed === undefined
        ? evalBatches('train', indices, batchSize)
        : makeBatches(dataset.train, indices, { batchSize, seed: augmentSeed, epoch: 0, augment: true, mean, std, shuffle: false, dropLast: false });
      for (const batch of batches) {
        const f = tf.tidy(() => net.forward(imagesTensor(batch), { training: false }).features);
        out.set(f.dataSync(), offset * net.featureDim);
        f.dispose();
        offset += batch.n;
      }
      return tf.tensor2d(out, [indices.length, net.featureDim]);
    },
  };
}
