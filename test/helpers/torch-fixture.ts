/**
 * The float64 PyTorch fixture (test/fixtures/torch-resnet-gradients.json) and what the engine tests do with it:
 * a network with its weights, its batches, one training-mode step's loss and gradients by variable name.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { tf } from '../../kernel-lib/tf';
import { LinearHead, Network, createBackbone, type BackboneSpec } from '../../kernel-lib/models/index';
import { crossEntropy } from '../../kernel-lib/losses/index';

export interface Fixture {
  backbone: BackboneSpec;
  classes: number;
  batches: { shape: [number, number, number, number]; x: number[]; y: number[] }[];
  weights: Record<string, { shape: number[]; values: number[] }>;
  loss: number;
  grads: Record<string, number[]>;
  /** The first step's loss and gradients with bf16-emulating convolutions (see the generator). */
  bf16: { loss: number; grads: Record<string, number[]> };
  sgd: { lr: number; momentum: number; weightDecay: number; losses: number[]; after: Record<string, number[]> };
}

export const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/torch-resnet-gradients.json'), 'utf8')) as Fixture;


export { relativeError } from './relative-error';

export function networkWithFixtureWeights(): Network {
  const backbone = createBackbone(fixture.backbone, 1);
  const net = new Network(backbone, new LinearHead(backbone.featureDim, fixture.classes, 1));
  const named = net.namedVariables();
  expect([...named.keys()].sort()).toEqual(Object.keys(fixture.weights).sort());
  for (const [name, { shape, values }] of Object.entries(fixture.weights)) {
    const variable = named.get(name)!;
    expect(variable.shape, name).toEqual(shape);
    tf.tidy(() => variable.assign(tf.tensor(values, shape)));
  }
  return net;
}

export function batchTensors(i: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const b = fixture.batches[i];
  return { x: tf.tensor4d(b.x, b.shape), y: tf.tensor1d(b.y, 'int32') };
}

/** Loss and gradients (by variable name) of one training-mode cross-entropy step. */
export function lossAndGrads(net: Network, i: number): { loss: number; grads: Map<string, tf.Tensor> } {
  const names = new Map<tf.Variable, string>();
  for (const [name, v] of net.namedVariables()) names.set(v, name);
  const { x, y } = batchTensors(i);
  const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x, { training: true }).logits, y), net.trainableVariables);
  const loss = value.dataSync()[0];
  const byName = new Map<string, tf.Tensor>();
  for (const v of net.trainableVariables) byName.set(names.get(v)!, grads[v.name]);
  tf.dispose([x, y, value]);
  return { loss, grads: byName };
}

