/**
 * PASS: Prototype Augmentation and Self-Supervision (Zhu, Zhang, Wang, Yin, Liu; CVPR 2021), exemplar-free.
 * Follows the official code, Impression2805/CVPR21_PASS PASS.py (`protoAugSSL`) and main.py (its defaults).
 *
 *   L = CE(joint(f(x_rot)) / temp, 4y + r)                                   'ce'
 *     + protoAugWeight * CE(joint(mu_c + r_0 * e) / temp, 4c), e ~ N(0, I)   'proto-aug'   (tasks > 0)
 *     + kdWeight * || f(x_rot) - f_old(x_rot) ||_F                           'feature-kd'  (tasks > 0)
 *
 * - Self-supervised label augmentation (PASS.py `train`): each batch of B images becomes 4B, sample-major
 *   (row 4b + r = image b rotated by r * 90 degrees, `torch.rot90(images, k, (2, 3))`), with joint labels 4y + r,
 *   trained over a 4N-way classifier, logits divided by `temp` = 0.1 (main.py `--temp`).
 * - Prototype augmentation (PASS.py `_compute_loss`): each step draws B old classes uniformly (the official code
 *   draws `args.batch_size`, the run's batch size, which differs only on an epoch's last, smaller batch), takes
 *   their stored prototype plus Gaussian noise of scale `radius`, labels them with their rotation-0 joint class
 *   4c, and adds their CE through the same 4N-way classifier, weight `protoAug_weight` = 10.
 * - Prototypes (PASS.py `protoSave`): after each task, the mean feature of every new class (memory's classMeans);
 *   the radius r_0 = sqrt(mean_c tr(Sigma_c) / D) from the first task's classes only (memory's prototypeRadius).
 *   Old prototypes are never recomputed. kdcl computes them from eval-mode features of the un-augmented training
 *   images; the official code feeds its augmenting training loader and drops the last incomplete batch.
 * - Feature KD (PASS.py `_compute_loss`): `torch.dist(feature, feature_old, 2)` on the rotated batch
 *   (losses' featureL2), weight `kd_weight` = 10.
 *
 * Head layout: PASS's classifier is one nn.Linear with 4N outputs, column 4y + r, and the official test uses only
 * its rotation-0 columns (`outputs[:, ::4]`). kdcl stores the same 4N-output linear map in two pieces so that the
 * network's own logits ARE the N-way rotation-0 view: the network head (an expandable LinearHead, column y = joint
 * column 4y) and an aux head 'rotated' (a LinearHead, column 3y + r - 1 = joint column 4y + r for r = 1..3).
 * `passJointLogits` interleaves them into the 4N layout for training. Both pieces get nn.Linear's default init, so
 * this is the same model as the official one up to a permutation of output units. Inference (the trainer's CNN
 * prediction) therefore uses the rotation-0 logits only, and no `predict` is needed; classifier-norm and logit
 * metrics see the N real classes.
 *
 * Training recipe: PASS_TRAINING below (Adam, lr 1e-3, weight decay 2e-4, StepLR(45, 0.1), 101 epochs, batch 64).
 *
 * KD removal (`kd: false`): `kdTerms = ['feature-kd']`; the feature-L2 term is exactly 0. The prototype
 * augmentation CE and the self-supervised CE are unchanged (they are classification losses on stored prototypes
 * and rotated images, not distillation from the old model).
 *
 * Also exported for PRAKA and IL2A (same authors' family, same mechanisms): the rotation batch expansion and the
 * prototype store.
 */
import { tf } from '../tf';
import { crossEntropy, featureL2 } from '../losses/index';
import { classMeans, prototypeRadius } from '../memory/index';
import { LinearHead, deriveSeed } from '../models/index';
import { resolveMethodConfig } from '../train/method-config';
import { fillStandardNormal, randomInt, type Uniform } from './sampling';
import { expandLinearHead } from './finetune';
import { kdTerm, type Batch, type Method, type NetworkLike, type StepContext, type TaskContext } from './types';

export const ROTATIONS = 4;

// ---------------------------------------------------------------------------------------------------------------
// Rotation label augmentation (shared with PRAKA)

/**
 * x rotated by k * 90 degrees in the image plane, NHWC, as `torch.rot90(x, k, (2, 3))` on NCHW (and np.rot90):
 * counter-clockwise, out[h][w] = in[w][W - 1 - h] for k = 1. Needs square images (as the official code, which
 * views the result back as size x size).
 */
export function rot90(x: tf.Tensor4D, k: number): tf.Tensor4D {
  return rotatedCopies(x, [((k % 4) + 4) % 4]);
}

/** A batch expanded 4x by rotations: rows sample-major (4b + r), `y` the joint labels 4y + r. */
export interface RotatedBatch extends Batch {
  /** Class label of each of the 4B rows (= y div 4). */
  classes: tf.Tensor1D;
  /** Number of original images B (rows = 4B). */
  images: number;
}

/** Stacks one value per image into 4 per image, sample-major: [B, ...] -> [4B, ...]. */
function repeatPerRotation<T extends tf.Tensor>(parts: tf.Tensor[], rows: number): T {
  const stacked = tf.stack(parts, 1);
  return tf.reshape(stacked, [rows, ...stacked.shape.slice(2)]) as T;
}

/** Source pixel (row, column) of output pixel (h, w) of an s x s image rotated by k * 90 degrees (as rot90). */
function rotationSource(k: number, h: number, w: number, s: number): [number, number] {
  switch (k) {
    case 0:
      return [h, w];
    case 1:
      return [w, s - 1 - h];
    case 2:
      return [s - 1 - h, s - 1 - w];
    default:
      return [s - 1 - w, h];
  }
}

/**
 * Each image of x rotated by each of `turns` (quarter turns in 0..3), rows sample-major (row b T + i = image b
 * rotated by turns[i]). Built on the host: rotations are data (prepareBatch runs outside the tape), and tfjs's
 * reverse / transpose kernels walk element by element (they made PASS and PRAKA 4x slower than their 4x batch).
 */
function rotatedCopies(x: tf.Tensor4D, turns: number[]): tf.Tensor4D {
  const [images, height, width, channels] = x.shape;
  if (height !== width) throw new Error(`rot90: rotation augmentation needs square images, got ${height}x${width}`);
  const source = x.dataSync();
  const pixels = height * width;
  const offsets = new Int32Array(turns.length * pixels);
  turns.forEach((k, i) => {
    for (let h = 0; h < height; h++) {
      for (let w = 0; w < width; w++) {
        const [sh, sw] = rotationSource(k, h, w, height);
        offsets[i * pixels + h * width + w] = (sh * width + sw) * channels;
      }
    }
  });
  const imageSize = pixels * channels;
  const out = new Float32Array(turns.length * images * imageSize);
  let o = 0;
  for (let b = 0; b < images; b++) {
    for (let i = 0; i < turns.length; i++) {
      for (let p = 0; p < pixels; p++) {
        const from = b * imageSize + offsets[i * pixels + p];
        for (let c = 0; c < channels; c++) out[o++] = source[from + c];
      }
    }
  }
  return tf.tensor4d(out, [turns.length * images, height, width, channels]);
}

/** PASS/PRAKA's self-supervised label augmentation (PASS.py and PRAKA jointSSL.py `train`). */
export function rotateBatch(batch: Batch): RotatedBatch {
  const images = batch.x.shape[0];
  const rows = ROTATIONS * images;
  const turns = Array.from({ length: ROTATIONS }, (_, r) => r);
  const x = rotatedCopies(batch.x, turns);
  const labels = tf.tidy(() => {
    const y = tf.cast(batch.y, 'int32') as tf.Tensor1D;
    const joint = repeatPerRotation<tf.Tensor1D>(turns.map((r) => tf.add(tf.mul(y, ROTATIONS), r)), rows);
    const classes = repeatPerRotation<tf.Tensor1D>(turns.map(() => y), rows);
    const replay = repeatPerRotation<tf.Tensor1D>(turns.map(() => batch.replay), rows);
    return { y: joint, replay, classes };
  });
  return { x, ...labels, images } as RotatedBatch;
}

/** The step's batch as prepareBatch rotated it (an error if lossTerms runs on a batch that was not rotated). */
export function rotatedBatch(step: StepContext, method: string): RotatedBatch {
  const batch = step.batch as Partial<RotatedBatch>;
  if (!(batch.classes instanceof tf.Tensor) || typeof batch.images !== 'number') {
    throw new Error(`${method}: lossTerms needs the rotation-expanded batch from ${method}'s prepareBatch (an extra stage must pass prepareBatch)`);
  }
  return step.batch as RotatedBatch;
}

// ---------------------------------------------------------------------------------------------------------------
// Prototype store (shared with IL2A and PRAKA)

/** Class means of every class learnt so far, row c = class c, kept in the method's checkpointed state. */
export interface PrototypeStore {
  dim: number;
  /** Classes 0..classes-1 have a prototype. */
  classes: number;
  /** [classes, dim] row-major. */
  means: Float32Array;
}

/** Eval-mode features of the current task's training images and their labels; the caller disposes `features`. */
export function currentTaskFeatures(ctx: TaskContext): { features: tf.Tensor2D; labels: Int32Array; classes: number[] } {
  const indices = ctx.services.taskIndices(ctx.task);
  const classes = Array.from({ length: ctx.task.end - ctx.task.start }, (_, i) => ctx.task.start + i);
  return { features: ctx.services.features(indices), labels: ctx.services.labels(indices), classes };
}

/** The store with the current task's class means appended (PASS/IL2A/PRAKA `protoSave`). */
export function appendClassMeans(
  store: PrototypeStore | undefined,
  ctx: TaskContext,
  taskData: { features: tf.Tensor2D; labels: Int32Array; classes: number[] },
  method: string,
): PrototypeStore {
  const dim = ctx.net.featureDim;
  const have = store?.classes ?? 0;
  if (have !== ctx.task.start) {
    throw new Error(`${method}: the method state holds prototypes of ${have} classes but task ${ctx.task.index} starts at class ${ctx.task.start} (was the method state lost or reset?)`);
  }
  if (store && store.dim !== dim) throw new Error(`${method}: stored prototypes are ${store.dim}-d but the network's features are ${dim}-d`);
  const means = classMeans(taskData.features, taskData.labels, taskData.classes);
  const all = new Float32Array((have + taskData.classes.length) * dim);
  if (store) all.set(store.means.subarray(0, have * dim));
  all.set(means.data, have * dim);
  return { dim, classes: have + taskData.classes.length, means: all };
}

/** The stored prototypes from the state (an error naming the method if there are none for the old classes). */
export function storedPrototypes(store: PrototypeStore | undefined, oldClasses: number, method: string): PrototypeStore {
  if (!store || store.classes < oldClasses) {
    throw new Error(`${method}: no stored prototypes for the ${oldClasses} old classes (afterTask of the previous task did not run, or the method state was lost)`);
  }
  return store;
}

/**
 * `count` old classes drawn uniformly with replacement from [0, oldClasses) and their prototypes, [count, dim]
 * (PASS.py/IL2A.py: `np.random.shuffle(index); index[0]` per sample, i.e. a uniform class per sample).
 */
export function sampleOldPrototypes(
  store: PrototypeStore, oldClasses: number, count: number, random: Uniform,
): { rows: Float32Array; classes: Int32Array } {
  const { dim } = store;
  const rows = new Float32Array(count * dim);
  const classes = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const c = randomInt(random, oldClasses);
    classes[k] = c;
    rows.set(store.means.subarray(c * dim, (c + 1) * dim), k * dim);
  }
  return { rows, classes };
}

export function zeroTerm(): tf.Scalar {
  return tf.scalar(0);
}

// ---------------------------------------------------------------------------------------------------------------
// PASS

/** Aux head holding the joint classifier's rotation 1..3 columns (column 3y + r - 1). */
export const PASS_ROTATED_HEAD = 'rotated';

export interface PassConfig {
  kd: boolean;
  /** Feature-KD weight. 10: CVPR21_PASS main.py `--kd_weight` default 10.0 (paper Sec. 4.1, lambda = 10). */
  kdWeight: number;
  /** Prototype-augmentation CE weight. 10: main.py `--protoAug_weight` default 10.0 (paper Sec. 4.1, gamma = 10). */
  protoAugWeight: number;
  /** Logits are divided by this before every CE. 0.1: main.py `--temp` default 0.1. */
  temperature: number;
}

export const PASS_DEFAULTS: PassConfig = { kd: true, kdWeight: 10, protoAugWeight: 10, temperature: 0.1 };

/**
 * The official training recipe (CVPR21_PASS main.py defaults, PASS.py `train`), to pass to createRun: Adam
 * (lr 0.001, weight_decay 2e-4), 101 epochs per task, batch 64, StepLR(step_size 45, gamma 0.1) stepped at the
 * START of each epoch, so epoch e (0-based) runs at lr * 0.1^floor((e + 1) / 45): decays before epochs 44 and 89.
 */
export const PASS_TRAINING = {
  optimizer: { kind: 'adam', lr: 0.001, weightDecay: 2e-4 },
  schedule: { kind: 'multistep', milestones: [44, 89], gamma: 0.1 },
  epochs: 101,
  batchSize: 64,
} as const;

/** What PASS keeps in the checkpointed method state. */
export interface PassState extends PrototypeStore {
  /** Prototype-augmentation noise scale, from the first task. */
  radius: number;
}

/**
 * Joint 4N logits in PASS's layout (column 4y + r) from the rotation-0 logits [M, N] (the network head) and the
 * rotations-1..3 logits [M, 3N] (aux head 'rotated', column 3y + r - 1).
 */
export function passJointLogits(rotationZero: tf.Tensor2D, rotated: tf.Tensor2D): tf.Tensor2D {
  const [rows, classes] = rotationZero.shape;
  if (rotated.shape[0] !== rows || rotated.shape[1] !== (ROTATIONS - 1) * classes) {
    throw new Error(`passJointLogits: rotated logits must be [${rows}, ${(ROTATIONS - 1) * classes}] for ${classes} classes, got [${rotated.shape.join(', ')}]`);
  }
  return tf.tidy(() =>
    tf.reshape(
      tf.concat([tf.reshape(rotationZero, [rows, classes, 1]), tf.reshape(rotated, [rows, classes, ROTATIONS - 1])], 2),
      [rows, ROTATIONS * classes],
    ),
  ) as tf.Tensor2D;
}

/** PASS's joint logits of a network on features (training mode: the heads are linear, the mode changes nothing). */
export function passJointOf(net: NetworkLike, features: tf.Tensor2D, rotationZero?: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() =>
    passJointLogits(rotationZero ?? net.head.apply(features, { training: true }), net.applyAux(PASS_ROTATED_HEAD, features, { training: true })),
  );
}

function checkWeights(method: string, config: Record<string, unknown>, names: string[]): void {
  for (const name of names) {
    const v = config[name];
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new Error(`${method}: ${name} must be a finite number >= 0, got ${JSON.stringify(v)}`);
  }
}

/** Config checks shared by the prototype family: weights >= 0 and a positive temperature. */
export function checkPrototypeConfig(method: string, config: { temperature: number }, weights: string[]): void {
  checkWeights(method, config as unknown as Record<string, unknown>, weights);
  if (!(config.temperature > 0) || !Number.isFinite(config.temperature)) {
    throw new Error(`${method}: temperature must be a positive number, got ${JSON.stringify(config.temperature)}`);
  }
}

export function createPass(overrides: Partial<PassConfig> = {}): Method<PassConfig> {
  const config = resolveMethodConfig('pass', PASS_DEFAULTS, overrides);
  checkPrototypeConfig('pass', config, ['kdWeight', 'protoAugWeight']);
  const temperature = config.temperature;

  return {
    name: 'pass',
    config,
    kdTerms: ['feature-kd'],
    memory: null,

    beforeTask(ctx: TaskContext) {
      expandLinearHead(ctx.net, ctx.seenClasses, 'pass');
      if (!ctx.net.aux[PASS_ROTATED_HEAD]) {
        ctx.net.setAux(PASS_ROTATED_HEAD, new LinearHead(ctx.net.featureDim, 0, deriveSeed(ctx.seed, 'pass/rotated')));
      }
      const rotated = ctx.net.aux[PASS_ROTATED_HEAD];
      if (!(rotated instanceof LinearHead)) throw new Error(`pass: aux head '${PASS_ROTATED_HEAD}' must be a LinearHead, got '${rotated.kind}'`);
      rotated.addClasses((ROTATIONS - 1) * ctx.seenClasses - rotated.outputs);
    },

    prepareBatch(_ctx: TaskContext, batch: Batch) {
      return rotateBatch(batch);
    },

    lossTerms(step: StepContext) {
      const batch = rotatedBatch(step, 'pass');
      const out = step.student();
      const joint = passJointOf(step.net, out.features, out.logits);
      const ce = crossEntropy(joint, batch.y, { temperature });

      let protoAug = zeroTerm();
      if (step.oldClasses > 0) {
        const state = storedPrototypes(step.state.pass as PassState | undefined, step.oldClasses, 'pass') as PassState;
        const random = step.services.random();
        const { rows, classes } = sampleOldPrototypes(state, step.oldClasses, batch.images, random);
        // Official order per sample: the class, then its D normals (PASS.py `_compute_loss`).
        const noise = new Float32Array(state.dim);
        for (let k = 0; k < classes.length; k++) {
          fillStandardNormal(random, noise);
          for (let d = 0; d < state.dim; d++) rows[k * state.dim + d] += noise[d] * state.radius;
        }
        protoAug = tf.tidy(() => {
          const protoJoint = passJointOf(step.net, tf.tensor2d(rows, [classes.length, state.dim]));
          const labels = tf.tensor1d(Int32Array.from(classes, (c) => ROTATIONS * c), 'int32');
          return tf.mul(crossEntropy(protoJoint, labels, { temperature }), config.protoAugWeight) as tf.Scalar;
        });
      }

      const featureKd = kdTerm(step, () =>
        step.oldClasses === 0 ? zeroTerm() : (tf.mul(featureL2(out.features, step.teacherOut().features), config.kdWeight) as tf.Scalar),
      );
      return { ce, 'proto-aug': protoAug, 'feature-kd': featureKd };
    },

    afterTask(ctx: TaskContext) {
      const taskData = currentTaskFeatures(ctx);
      try {
        const previous = ctx.state.pass as PassState | undefined;
        const store = appendClassMeans(previous, ctx, taskData, 'pass');
        const radius = ctx.task.index === 0 ? prototypeRadius(taskData.features, taskData.labels, taskData.classes) : previous!.radius;
        ctx.state.pass = { ...store, radius } satisfies PassState;
      } finally {
        taskData.features.dispose();
      }
    },
  };
}
