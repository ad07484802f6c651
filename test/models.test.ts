import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf.ts';
import { createBackbone, createNetwork, LinearHead } from '../kernel-lib/models/index.ts';

/** Tiny profile: every test must take seconds on the cpu backend. */
const TINY = { width: 0.25, blocksPerStage: 1 } as const;

function paramCount(vars: tf.Variable[]): number {
  return vars.reduce((sum, v) => sum + v.size, 0);
}

function input(n: number, size: number, seed = 7): tf.Tensor4D {
  return tf.randomNormal([n, size, size, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}

function values(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

describe('backbones', () => {
  it('ResNet-32 has 0.46M parameters (He et al. 2016, Table 6) and 64-d features', () => {
    const bb = createBackbone({ kind: 'resnet32' }, 1);
    // 3x3 stem 16 + BN, 3 stages x 5 blocks (16/32/64), option-A shortcuts (no parameters): 463,504.
    expect(paramCount(bb.trainableVariables)).toBe(463_504);
    // Running mean and variance of the 31 batch norms.
    expect(paramCount(bb.stateVariables)).toBe(2 * (16 + 10 * 16 + 10 * 32 + 10 * 64));
    expect(bb.featureDim).toBe(64);
    bb.dispose();
  });

  it('ResNet-18 parameter counts match torchvision (11,689,512 with its 1000-way fc) for both stems', () => {
    const imagenet = createBackbone({ kind: 'resnet18-imagenet' }, 1);
    const cifar = createBackbone({ kind: 'resnet18-cifar' }, 1);
    const torchvisionFc = 512 * 1000 + 1000;
    expect(paramCount(imagenet.trainableVariables)).toBe(11_689_512 - torchvisionFc);
    // The CIFAR stem swaps the 7x7x3x64 conv for a 3x3x3x64 one.
    expect(paramCount(cifar.trainableVariables)).toBe(11_689_512 - torchvisionFc - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64);
    expect(imagenet.featureDim).toBe(512);
    expect(cifar.featureDim).toBe(512);
    imagenet.dispose();
    cifar.dispose();
  });

  it('gives featureMap and features of the right shapes for each backbone and stem', () => {
    const cases = [
      { kind: 'resnet32', size: 32, map: 8, dim: 16 },
      { kind: 'resnet18-cifar', size: 32, map: 4, dim: 128 },
      { kind: 'resnet18-imagenet', size: 64, map: 2, dim: 128 },
      { kind: 'resnet18-imagenet', size: 224, map: 7, dim: 128 },
    ] as const;
    for (const c of cases) {
      const bb = createBackbone({ kind: c.kind, ...TINY }, 1);
      const x = input(2, c.size);
      for (const training of [true, false]) {
        const out = bb.apply(x, { training });
        expect(out.featureMap.shape, `${c.kind} ${c.size}`).toEqual([2, c.map, c.map, c.dim]);
        expect(out.features.shape).toEqual([2, c.dim]);
        tf.dispose([out.featureMap, out.features]);
      }
      x.dispose();
      bb.dispose();
    }
  });
});

describe('Network', () => {
  it('forward gives logits over the classes added to its linear head', () => {
    const net = createNetwork({ backbone: { kind: 'resnet32', ...TINY }, seed: 3 });
    expect(net.head.outputs).toBe(0);
    (net.head as LinearHead).addClasses(5);
    const x = input(3, 32);
    const out = net.forward(x, { training: false });
    expect(out.logits.shape).toEqual([3, 5]);
    expect(out.features.shape).toEqual([3, net.featureDim]);
    tf.dispose([x, out.featureMap, out.features, out.logits]);
    net.dispose();
  });
});

afterAll(() => {
  tf.disposeVariables();
});

