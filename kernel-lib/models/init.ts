/**
 * Seeded weight initialisers and variable helpers shared by backbones and heads.
 *
 * Every variable's initial value is drawn with its own seed, derived from the model seed and the variable's
 * stable name, so the same seed gives identical weights whatever order modules are built in.
 */
import { tf } from '../tf';

/** The seed of one variable's initial value: 32-bit FNV-1a of `${seed}/${name}`, for tf.random* (train/rng's streamSeed seeds random streams). */
export function variableSeed(seed: number, name: string): number {
  const text = `${seed}/${name}`;
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * Kaiming-normal, fan_out mode, for a conv filter [kh, kw, in, out]: N(0, 2 / (kh * kw * out)).
 * As PyCIL convs/cifar_resnet.py (`normal_(0, sqrt(2 / n))`, n = k * k * out_channels) and torchvision's
 * resnet (`kaiming_normal_(mode='fan_out', nonlinearity='relu')`).
 */
export function kaimingNormalFanOut(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  const [kh, kw, , out] = shape;
  return tf.randomNormal(shape, 0, Math.sqrt(2 / (kh * kw * out)), 'float32', seed) as tf.Tensor4D;
}

/** PyTorch nn.Linear's default init for weight and bias: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function fanInUniform<R extends tf.Rank>(shape: number[], fanIn: number, seed: number): tf.Tensor<R> {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.randomUniform(shape as tf.ShapeMap[R], -bound, bound, 'float32', seed) as tf.Tensor<R>;
}

/** A variable holding `value` (which it takes over: do not use or dispose `value` afterwards). */
export function makeVariable<R extends tf.Rank>(value: tf.Tensor<R>, trainable: boolean): tf.Variable<R> {
  // No name: tfjs registers variable names globally, and several networks (student, teacher) coexist.
  const variable = tf.variable(value, trainable);
  value.dispose();
  return variable;
}

/** A new variable with a deep copy of `source`'s values (no shared buffer, whatever the backend does in place). */
export function copyVariable<R extends tf.Rank>(source: tf.Variable<R>, trainable: boolean): tf.Variable<R> {
  const values = source.dataSync().slice();
  return makeVariable(tf.tensor(values, source.shape, source.dtype) as tf.Tensor<R>, trainable);
}

/** Assigns a deep copy of `source`'s values to `target` (same shape). */
export function assignCopy<R extends tf.Rank>(target: tf.Variable<R>, source: tf.Variable<R>): void {
  tf.tidy(() => target.assign(tf.tensor(source.dataSync().slice(), source.shape, source.dtype) as tf.Tensor<R>));
}

/** Concatenates a variable's value with `extra` along `axis` into a new variable; disposes the old one. */
export function growVariable<R extends tf.Rank>(old: tf.Variable<R>, extra: tf.Tensor<R>, axis: number): tf.Variable<R> {
  const grown = tf.concat([old, extra], axis) as tf.Tensor<R>;
  const variable = makeVariable(grown, old.trainable);
  old.dispose();
  extra.dispose();
  return variable;
}

/** Variables by stable local name; a module exposes these so a Network can name them for checkpoints. */
export interface NamedVariables {
  namedVariables(): Map<string, tf.Variable>;
}

export function hasNamedVariables(x: object): x is NamedVariables {
  return typeof (x as Partial<NamedVariables>).namedVariables === 'function';
}
