import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import {
  BatchNorm,
  BiasLayer,
  CosineHead,
  LinearHead,
  Network,
  TaskHeads,
  createAuxHead,
  createBackbone,
  createNetwork,
  mixedClassIndex,
  rotationLabel,
  type BackboneSpec,
} from '../kernel-lib/models/index';

/** Tiny profile: every test must take seconds on the cpu backend. */
const TINY = { width: 0.25, blocksPerStage: 1 } as const;
const TINY_RESNET32: BackboneSpec = { kind: 'resnet32', ...TINY };

function paramCount(vars: tf.Variable[]): number {
  return vars.reduce((sum, v) => sum + v.size, 0);
}

function input(n: number, size: number, seed = 7): tf.Tensor4D {
  return tf.randomNormal([n, size, size, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}

function snapshot(vars: Map<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...vars].map(([name, v]) => [name, (v.dataSync() as Float32Array).slice()]));
}

function disposeOutput(out: object): void {
  tf.dispose(Object.values(out) as tf.Tensor[]);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Cross-entropy of logits against labels, the usual training loss. */
function crossEntropy(logits: tf.Tensor2D, labels: number[]): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, logits.shape[1]), logits) as tf.Scalar;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

afterAll(() => {
  tf.disposeVariables();
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
      const x = input(c.size > 64 ? 1 : 2, c.size);
      for (const training of [true, false]) {
        const out = bb.apply(x, { training });
        expect(out.featureMap.shape, `${c.kind} ${c.size}`).toEqual([x.shape[0], c.map, c.map, c.dim]);
        expect(out.features.shape).toEqual([x.shape[0], c.dim]);
        tf.dispose([out.featureMap, out.features]);
      }
      x.dispose();
      bb.dispose();
    }
  });

  it('reproduces PyTorch outputs for the same weights (option-A shortcut, 7x7 stem, max-pool, BN train/eval)', () => {
    // Expected features were computed once with PyTorch 1.13 (nn.Conv2d, nn.BatchNorm2d, PyCIL's DownsampleA,
    // F.max_pool2d(3, 2, 1)) from these backbones' own seed-5 weights and this seed-11 input: eval mode, then
    // training mode (batch statistics), then eval mode again (running statistics after one momentum update).
    const reference = {
      resnet32: {
        spec: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
        size: 32,
        eval: [1.2706, 0.19873, 1.07544, 0.419198, 0.449293, 0.380739, 0.53818, 0.113264, 0.091879, 0.424148, 0.095287, 0.127266, 0.305203, 0.255831, 0.214941, 0.419608, 1.15771, 0.246165, 0.893608, 0.678966, 0.470322, 0.422697, 0.456007, 0.074104, 0.145757, 0.474968, 0.170987, 0.065495, 0.355433, 0.230908, 0.2372, 0.354881],
        train: [1.25293, 0.934476, 1.13328, 0.897235, 0.769589, 0.599707, 0.782221, 0.709748, 0.314089, 0.392111, 0.29305, 0.445186, 0.443399, 0.389942, 0.383387, 0.409889, 1.19279, 1.01432, 1.05457, 1.09946, 0.709944, 0.741005, 0.552342, 0.613381, 0.48064, 0.434303, 0.475655, 0.316769, 0.383377, 0.381048, 0.413693, 0.371614],
        evalAfterUpdate: [1.20061, 0.258159, 1.06769, 0.416688, 0.489639, 0.383218, 0.533646, 0.139036, 0.10009, 0.377397, 0.104861, 0.137432, 0.307618, 0.257, 0.214067, 0.388276, 1.06597, 0.288876, 0.88259, 0.68365, 0.503117, 0.439655, 0.434996, 0.092552, 0.160585, 0.420564, 0.189177, 0.074426, 0.366577, 0.237695, 0.234491, 0.324547],
      },
      resnet18imagenet: {
        spec: { kind: 'resnet18-imagenet', width: 0.0625, blocksPerStage: 1 },
        size: 64,
        eval: [0.277501, 0, 0.272325, 0.166185, 0.669951, 0.108443, 0.84014, 0.068223, 0.966787, 0.132029, 0, 0.101945, 0.38843, 0.186894, 0.08741, 0.805951, 0.180205, 0.521665, 0.446154, 0.059514, 0.109336, 0.552385, 0.848658, 0.545889, 0, 0.302213, 0.601993, 0.691067, 0, 0, 0.082925, 2.11227, 0.107711, 0, 0.048714, 0.222889, 0.528951, 0.272098, 0.804514, 0.013116, 0.584996, 0.105414, 0, 0.275247, 0.193164, 0.083127, 0.152021, 0.627363, 0.510487, 0.386398, 0.859748, 0.071803, 0.437036, 0.553259, 0.634476, 0.615041, 0, 0.338557, 0.799445, 0.399189, 0, 0, 0, 1.56508],
        train: [0.288493, 0.422891, 0.581942, 0.801779, 0.650944, 0.688273, 0.742792, 1.36362, 1.0287, 0.421386, 0.402065, 0.051277, 0.638274, 0.921561, 0.851116, 1.08776, 1.05316, 0.324798, 0.218574, 0.374278, 1.28945, 0.67592, 0.439551, 0.41746, 0.929688, 0.784948, 0.197911, 0.722804, 0.578405, 0.841985, 0.599221, 0.240124, 0.903311, 0.459866, 0.636269, 0.584197, 0.705018, 0.751571, 0.666477, 0.165301, 0, 0.980398, 0.867461, 0.474546, 0.734567, 0.631323, 0.453491, 0.185802, 0.329083, 0.362745, 0.97791, 0.8912, 0.251066, 0.670507, 0.525212, 0.570139, 0.403248, 0.944798, 0.839206, 0.269318, 0.22576, 0.130929, 0.318384, 1.21335],
        evalAfterUpdate: [0.263948, 0, 0.253329, 0.090549, 0.625944, 0.116809, 0.751895, 0.073036, 0.78269, 0.194993, 0, 0.120285, 0.391786, 0.2078, 0.051588, 0.747376, 0.213747, 0.526021, 0.410269, 0.047364, 0.07021, 0.588694, 0.797771, 0.515993, 0, 0.350246, 0.533745, 0.622761, 0, 0.002587, 0.07536, 1.87219, 0.095995, 0.018822, 0.04358, 0.237768, 0.509449, 0.246149, 0.734994, 0, 0.410775, 0.126045, 0, 0.295249, 0.201436, 0.094068, 0.140471, 0.553856, 0.526478, 0.370115, 0.815176, 0.094996, 0.373028, 0.532614, 0.591184, 0.577329, 0, 0.405412, 0.739916, 0.265244, 0, 0, 0, 1.27499],
      },
    } as const;
    for (const [name, ref] of Object.entries(reference)) {
      const bb = createBackbone(ref.spec, 5);
      const x = tf.randomNormal([2, ref.size, ref.size, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
      for (const [mode, expected, training] of [
        ['eval', ref.eval, false],
        ['train', ref.train, true],
        ['eval after update', ref.evalAfterUpdate, false],
      ] as const) {
        const out = bb.apply(x, { training });
        expect(maxAbsDiff(out.features.dataSync(), expected), `${name} ${mode}`).toBeLessThan(1e-5);
        tf.dispose([out.featureMap, out.features]);
      }
      x.dispose();
      bb.dispose();
    }
  });

  it('width, blocksPerStage, lastRelu and shortcut options shape the network', () => {
    const narrow = createBackbone({ kind: 'resnet32', width: 0.5, blocksPerStage: 2 }, 1);
    expect(narrow.featureDim).toBe(32);
    const names = [...narrow.namedVariables().keys()];
    expect(names.filter((n) => n.endsWith('/conv_a'))).toHaveLength(3 * 2);
    expect(names.some((n) => n.includes('shortcut'))).toBe(false); // option A has no parameters
    expect(narrow.namedVariables().get('stage3/block1/conv_b')!.shape).toEqual([3, 3, 32, 32]);

    const projection = createBackbone({ ...TINY_RESNET32, shortcut: 'projection' }, 1);
    expect([...projection.namedVariables().keys()].filter((n) => n.endsWith('shortcut/conv'))).toEqual([
      'stage2/block0/shortcut/conv',
      'stage3/block0/shortcut/conv',
    ]);

    const x = input(2, 32);
    const withRelu = createBackbone(TINY_RESNET32, 2);
    const withoutRelu = createBackbone({ ...TINY_RESNET32, lastRelu: false }, 2);
    const a = withRelu.apply(x, { training: false });
    const b = withoutRelu.apply(x, { training: false });
    expect(a.featureMap.min().dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(b.featureMap.min().dataSync()[0]).toBeLessThan(0);
    // Same weights (same seed): dropping the last ReLU is the only difference.
    expect(maxAbsDiff(a.featureMap.dataSync(), tf.relu(b.featureMap).dataSync())).toBe(0);

    expect(() => createBackbone({ kind: 'resnet50' as never }, 1)).toThrow(/BackboneSpec.kind 'resnet50'.*resnet32/);
    expect(() => createBackbone({ kind: 'resnet32', width: 0 }, 1)).toThrow(/BackboneSpec.width/);
    expect(() => createBackbone({ kind: 'resnet32', blocksPerStage: 1.5 }, 1)).toThrow(/BackboneSpec.blocksPerStage/);
    expect(() => withRelu.apply(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D, { training: false })).toThrow(/3 channels/);
    tf.dispose([x, a.featureMap, a.features, b.featureMap, b.features]);
    for (const bb of [narrow, projection, withRelu, withoutRelu]) bb.dispose();
  });

  it('the same seed gives identical weights, another seed different ones', () => {
    const spec: BackboneSpec = { kind: 'resnet18-cifar', width: 0.125, blocksPerStage: 1 };
    const [a, b, c] = [createBackbone(spec, 42), createBackbone(spec, 42), createBackbone(spec, 43)];
    const [sa, sb, sc] = [a, b, c].map((bb) => snapshot(bb.namedVariables()));
    for (const [name, values] of sa) {
      expect(maxAbsDiff(values, sb.get(name)!), name).toBe(0);
      if (name.endsWith('conv') || name.endsWith('conv_a') || name.endsWith('conv_b')) {
        expect(maxAbsDiff(values, sc.get(name)!), name).toBeGreaterThan(0);
      }
    }
    const h1 = new LinearHead(16, 3, 9);
    const h2 = new LinearHead(16, 3, 9);
    h1.addClasses(2);
    h2.addClasses(2);
    expect(maxAbsDiff(h1.weights!.dataSync(), h2.weights!.dataSync())).toBe(0);
    for (const m of [a, b, c, h1, h2]) m.dispose();
  });

  it('initialises convs kaiming-normal fan_out and BN to gamma=1, beta=0', () => {
    const bb = createBackbone({ kind: 'resnet32' }, 3);
    const named = bb.namedVariables();
    const filter = named.get('stage3/block2/conv_a')!; // 3x3x64x64: 36,864 draws
    const values = Array.from(filter.dataSync());
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(std / Math.sqrt(2 / (3 * 3 * 64))).toBeCloseTo(1, 1);
    expect([...named.get('stage3/block2/bn_a/gamma')!.dataSync()].every((v) => v === 1)).toBe(true);
    expect([...named.get('stage3/block2/bn_a/beta')!.dataSync()].every((v) => v === 0)).toBe(true);
    bb.dispose();
  });
});

describe('batch norm', () => {
  it('training mode updates running stats as PyTorch (momentum 0.1, unbiased variance); eval mode uses them', () => {
    const bn = BatchNorm.create(2, true);
    // Channel 0 takes 1, 2, 3, 4; channel 1 takes 10, 10, 10, 14 (over N=2, H=2, W=1).
    const x = tf.tensor4d([1, 10, 2, 10, 3, 10, 4, 14], [2, 2, 1, 2]);
    const y = bn.apply(x, true);
    tf.dispose(y);
    const y2 = bn.apply(x, true);
    // Batch mean (2.5, 11); biased var (1.25, 3), unbiased (5/3, 4).
    // After two identical steps: m = 0.19 * batch; v = 0.81 * 1 + 0.19 * unbiased.
    const rm = bn.runningMean.dataSync();
    const rv = bn.runningVariance.dataSync();
    expect(rm[0]).toBeCloseTo(0.19 * 2.5, 6);
    expect(rm[1]).toBeCloseTo(0.19 * 11, 5);
    expect(rv[0]).toBeCloseTo(0.81 + 0.19 * (5 / 3), 6);
    expect(rv[1]).toBeCloseTo(0.81 + 0.19 * 4, 6);
    // Training output: batch statistics.
    expect(y2.dataSync()[0]).toBeCloseTo((1 - 2.5) / Math.sqrt(1.25 + 1e-5), 5);
    // Eval: (x - running mean) / sqrt(running var + eps), and the running stats stay put.
    const e = bn.apply(x, false);
    expect(e.dataSync()[0]).toBeCloseTo((1 - rm[0]) / Math.sqrt(rv[0] + 1e-5), 5);
    expect(bn.runningMean.dataSync()[0]).toBe(rm[0]);
    // One value per channel has no batch variance (PyTorch refuses it too).
    expect(() => bn.apply(tf.zeros([1, 1, 1, 2]) as tf.Tensor4D, true)).toThrow(/more than one value per channel/);
    tf.dispose([x, y2, e]);
    bn.dispose();
  });

  it("a backbone's training forward moves its running stats and its eval forward does not", () => {
    const bb = createBackbone(TINY_RESNET32, 1);
    const x = input(4, 32);
    const before = snapshot(bb.namedVariables());
    disposeOutput(bb.apply(x, { training: false }));
    const afterEval = snapshot(bb.namedVariables());
    disposeOutput(bb.apply(x, { training: true }));
    const afterTrain = snapshot(bb.namedVariables());
    for (const [name, values] of before) {
      expect(maxAbsDiff(values, afterEval.get(name)!), name).toBe(0);
      const moved = maxAbsDiff(values, afterTrain.get(name)!) > 0;
      expect(moved, name).toBe(name.includes('running_'));
    }
    x.dispose();
    bb.dispose();
  });
});

describe('heads', () => {
  it('LinearHead.addClasses keeps old weights and old logits', () => {
    const head = new LinearHead(8, 3, 1);
    const f = tf.randomNormal([4, 8], 0, 1, 'float32', 2) as tf.Tensor2D;
    const before = head.apply(f);
    const oldWeights = head.weights!.dataSync().slice();
    head.addClasses(2);
    expect(head.outputs).toBe(5);
    expect(head.weights!.shape).toEqual([8, 5]);
    const after = head.apply(f);
    expect(maxAbsDiff(before.dataSync(), tf.slice(after, [0, 0], [4, 3]).dataSync())).toBe(0);
    const w = head.weights!.arraySync();
    expect(w.flatMap((row) => row.slice(0, 3))).toEqual([...oldWeights]);
    // New weights follow PyTorch's nn.Linear default: U(-1/sqrt(8), 1/sqrt(8)).
    expect(w.flatMap((row) => row.slice(3)).every((v) => Math.abs(v) <= 1 / Math.sqrt(8))).toBe(true);
    const empty = new LinearHead(8, 0, 1);
    expect(empty.apply(f).shape).toEqual([4, 0]);
    expect(() => head.apply(tf.zeros([4, 7]) as tf.Tensor2D)).toThrow(/\[batch, 8\]/);
    tf.dispose([f, before, after]);
    head.dispose();
    empty.dispose();
  });

  it('TaskHeads concatenates per-task logits in task order and exposes task ranges', () => {
    const heads = new TaskHeads(6, [2, 3], 4);
    heads.addTask(4);
    expect(heads.outputs).toBe(9);
    expect([0, 1, 2].map((t) => heads.taskRange(t))).toEqual([
      { start: 0, end: 2 },
      { start: 2, end: 5 },
      { start: 5, end: 9 },
    ]);
    const f = tf.randomNormal([3, 6], 0, 1, 'float32', 5) as tf.Tensor2D;
    const all = heads.apply(f);
    for (let t = 0; t < 3; t++) {
      const { start, end } = heads.taskRange(t);
      const own = heads.taskLogits(f, t);
      expect(maxAbsDiff(tf.slice(all, [0, start], [3, end - start]).dataSync(), own.dataSync())).toBe(0);
    }
    // Each task's head has its own variables: the current one can be trained alone.
    expect(heads.taskHead(2).trainableVariables).toHaveLength(2);
    expect(heads.trainableVariables).toHaveLength(6);
    expect(() => heads.taskRange(3)).toThrow(/no task 3/);
    tf.dispose([f, all]);
    heads.dispose();
  });

  it('CosineHead is sigma * cosine, invariant to the scale of its weights, with imprinting and an old/new split', () => {
    const head = new CosineHead(5, 3, 1);
    expect(head.sigma!.dataSync()[0]).toBe(1); // PyCIL: sigma.data.fill_(1)
    const f = tf.randomNormal([4, 5], 0, 1, 'float32', 3) as tf.Tensor2D;
    const logits = head.apply(f);
    expect(Math.max(...logits.abs().dataSync())).toBeLessThanOrEqual(1 + 1e-6);
    // Scaling features or a class's weights leaves the logits unchanged.
    const block = head.weightBlocks[0];
    const original = block.dataSync().slice();
    block.assign(tf.mul(block, tf.tensor2d([[7, 0.01, 3]])));
    const scaled = head.apply(tf.mul(f, 11) as tf.Tensor2D);
    expect(maxAbsDiff(logits.dataSync(), scaled.dataSync())).toBeLessThan(1e-5);
    block.assign(tf.tensor2d(original, [5, 3]));
    head.sigma!.assign(tf.tensor1d([4]));
    expect(maxAbsDiff(tf.mul(logits, 4).dataSync(), head.apply(f).dataSync())).toBeLessThan(1e-5);
    // Imprinted class: its weight is the given embedding, so a feature equal to it scores cos = 1.
    const embedding = tf.tensor2d([[1, 2, 0, -1, 0.5]]);
    head.addClasses(1, embedding);
    expect(head.outputs).toBe(4);
    expect(head.blockRange(1)).toEqual({ start: 3, end: 4 });
    const cos = head.cosine(tf.mul(embedding, 3) as tf.Tensor2D);
    expect(cos.dataSync()[3]).toBeCloseTo(1, 5);
    const split = head.applySplit(f, 3);
    expect(split.oldScores.shape).toEqual([4, 3]);
    expect(split.newScores.shape).toEqual([4, 1]);
    expect(maxAbsDiff(split.logits.dataSync(), head.apply(f).dataSync())).toBe(0);
    expect(() => head.addClasses(1, tf.zeros([1, 4]) as tf.Tensor2D)).toThrow(/imprint must be \[1, 5\]/);
    tf.dispose([f, logits, scaled, embedding, cos, split.logits, split.oldScores, split.newScores]);
    head.dispose();
  });

  it('BiasLayer changes only the newest task logits and trains only alpha and beta', () => {
    const bias = new BiasLayer({ start: 3, end: 5 });
    expect(bias.trainableVariables).toEqual([bias.alpha, bias.beta]);
    const logits = tf.tensor2d([
      [1, -2, 3, 4, -5],
      [0.5, 0, 1, 2, 3],
    ]);
    // Identity at start (alpha = 1, beta = 0).
    expect(maxAbsDiff(bias.apply(logits).dataSync(), logits.dataSync())).toBe(0);
    bias.alpha.assign(tf.tensor1d([2]));
    bias.beta.assign(tf.tensor1d([-1]));
    expect(bias.apply(logits).arraySync()).toEqual([
      [1, -2, 3, 7, -11],
      [0.5, 0, 1, 3, 5],
    ]);
    // An explicit range overrides the default one.
    expect(bias.apply(logits, { start: 0, end: 1 }).arraySync()[0]).toEqual([1, -2, 3, 4, -5]);
    const { grads } = tf.variableGrads(() => tf.sum(bias.apply(logits)) as tf.Scalar, bias.trainableVariables);
    expect(grads[bias.alpha.name].dataSync()[0]).toBeCloseTo(4 - 5 + 2 + 3, 5); // sum of corrected logits
    expect(grads[bias.beta.name].dataSync()[0]).toBe(4); // 2 rows x 2 columns
    expect(() => bias.apply(tf.zeros([1, 4]) as tf.Tensor2D)).toThrow(/does not fit/);
    tf.dispose([logits, ...Object.values(grads)]);
    bias.dispose();
  });

  it('aux heads: 4N rotation classes and n(n-1)/2 IL2A mixed classes with their label layouts', () => {
    const rotation = createAuxHead('rotation', { featureDim: 8, classes: 5, seed: 1 });
    expect(rotation.outputs).toBe(20);
    expect(rotationLabel(2, 3)).toBe(11);
    const mixup = createAuxHead('class-mixup', { featureDim: 8, classes: 4, seed: 1 });
    expect(mixup.outputs).toBe(6);
    const pairs = [];
    for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) pairs.push(mixedClassIndex(a, b, 4));
    expect(pairs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(mixedClassIndex(3, 1, 4)).toBe(mixedClassIndex(1, 3, 4));
    expect(() => mixedClassIndex(2, 2, 4)).toThrow(/two different classes/);
    rotation.dispose();
    mixup.dispose();
  });
});

describe('Network', () => {
  function tinyNetwork(seed = 3): Network {
    const net = createNetwork({ backbone: TINY_RESNET32, seed });
    (net.head as LinearHead).addClasses(5);
    return net;
  }

  it('forward gives featureMap, features and logits over the classes of its head', () => {
    const net = createNetwork({ backbone: TINY_RESNET32, seed: 3 });
    expect(net.head.outputs).toBe(0);
    (net.head as LinearHead).addClasses(5);
    const x = input(3, 32);
    const out = net.forward(x, { training: false });
    expect(out.logits.shape).toEqual([3, 5]);
    expect(out.features.shape).toEqual([3, net.featureDim]);
    expect(out.featureMap.shape).toEqual([3, 8, 8, net.featureDim]);
    expect(() => net.applyAux('rotation', out.features, { training: false })).toThrow(/no aux head 'rotation'/);
    tf.dispose([x, out.featureMap, out.features, out.logits]);
    net.dispose();
  });

  it('a clone is a frozen, independent teacher: training the student leaves it unchanged', () => {
    const student = tinyNetwork();
    const teacher = student.clone();
    expect(teacher.trainableVariables).toEqual([]);
    expect([...teacher.namedVariables().values()].every((v) => !v.trainable)).toBe(true);
    expect([...teacher.namedVariables().keys()]).toEqual([...student.namedVariables().keys()]);
    const x = input(4, 32);
    const teacherBefore = snapshot(teacher.namedVariables());
    const t0 = teacher.forward(x, { training: false });
    const optimizer = tf.train.sgd(0.5);
    for (let step = 0; step < 2; step++) {
      // No var list: tfjs takes every trainable variable, and the teacher's are not among them.
      optimizer.minimize(() => crossEntropy(student.forward(x, { training: true }).logits, [0, 1, 2, 3]));
    }
    const teacherAfter = snapshot(teacher.namedVariables());
    for (const [name, values] of teacherBefore) expect(maxAbsDiff(values, teacherAfter.get(name)!), name).toBe(0);
    const studentNow = snapshot(student.namedVariables());
    expect(maxAbsDiff(studentNow.get('head/weight')!, teacherAfter.get('head/weight')!)).toBeGreaterThan(0);
    const t1 = teacher.forward(x, { training: false });
    expect(maxAbsDiff(t0.logits.dataSync(), t1.logits.dataSync())).toBe(0);
    // A trainable clone is a plain copy.
    const copy = student.clone(true);
    expect(copy.trainableVariables).toHaveLength(student.trainableVariables.length);
    tf.dispose([x, t0.featureMap, t0.features, t0.logits, t1.featureMap, t1.features, t1.logits]);
    optimizer.dispose();
    for (const net of [student, teacher, copy]) net.dispose();
  });

  it('gradients reach every trainable variable, through head and aux heads', () => {
    const net = tinyNetwork();
    net.setAux('rotation', createAuxHead('rotation', { featureDim: net.featureDim, classes: 5, seed: 3 }));
    const x = input(4, 32);
    const named = net.namedVariables();
    const { value, grads } = tf.variableGrads(() => {
      const out = net.forward(x, { training: true });
      const aux = net.applyAux('rotation', out.features, { training: true });
      return tf.add(crossEntropy(out.logits, [0, 1, 2, 3]), crossEntropy(aux, [0, 5, 10, 19])) as tf.Scalar;
    }, net.trainableVariables);
    expect(Object.keys(grads)).toHaveLength(net.trainableVariables.length);
    for (const [name, variable] of named) {
      if (!variable.trainable) continue;
      const g = grads[variable.name].dataSync();
      expect(g.every(Number.isFinite), name).toBe(true);
      expect(g.some((v) => v !== 0), name).toBe(true);
    }
    tf.dispose([x, value, ...Object.values(grads)]);
    net.dispose();
  });

  it('architecture() round-trips through JSON, including expanded and aux heads, and loads checkpoint values', () => {
    const net = createNetwork({ backbone: { ...TINY_RESNET32, lastRelu: false }, head: new CosineHead(16, 4, 2), seed: 6 });
    (net.head as CosineHead).addClasses(3);
    net.setAux('rotation', createAuxHead('rotation', { featureDim: 16, classes: 7, seed: 6 }));
    net.setAux('tasks', new TaskHeads(16, [4, 3], 6));
    net.setAux('bias', new BiasLayer({ start: 4, end: 7 }));
    const arch = JSON.parse(JSON.stringify(net.architecture()));
    expect(arch.head).toEqual({ kind: 'cosine', inFeatures: 16, blockSizes: [4, 3], learnableSigma: true });
    const rebuilt = Network.fromArchitecture(arch, 99);
    expect(rebuilt.architecture()).toEqual(arch);
    const shapes = (n: Network) => [...n.namedVariables()].map(([name, v]) => [name, v.shape]);
    expect(shapes(rebuilt)).toEqual(shapes(net));
    // Restore values by name: the rebuilt network then computes the same outputs.
    const x = input(2, 32);
    disposeOutput(net.forward(x, { training: true })); // move the running stats off their initial values
    rebuilt.loadVariables(new Map([...net.namedVariables()].map(([name, v]) => [name, v as tf.Tensor])));
    const a = net.forward(x, { training: false });
    const b = rebuilt.forward(x, { training: false });
    expect(maxAbsDiff(a.logits.dataSync(), b.logits.dataSync())).toBe(0);
    const ra = net.applyAux('rotation', a.features, { training: false });
    const rb = rebuilt.applyAux('rotation', b.features, { training: false });
    expect(maxAbsDiff(ra.dataSync(), rb.dataSync())).toBe(0);
    const wrong = new Map([...net.namedVariables()].map(([name, v]) => [name, v as tf.Tensor]));
    wrong.delete('head/sigma');
    expect(() => rebuilt.loadVariables(wrong)).toThrow(/missing: head\/sigma/);
    tf.dispose([x, a.featureMap, a.features, a.logits, b.featureMap, b.features, b.logits, ra, rb]);
    net.dispose();
    rebuilt.dispose();
  });

  it('replaceHead and setAux dispose what they replace; the network checks feature sizes', () => {
    const net = tinyNetwork();
    const old = net.head as LinearHead;
    const oldWeight = old.weights!;
    net.replaceHead(new CosineHead(net.featureDim, 5, 1));
    expect(oldWeight.isDisposed).toBe(true);
    expect(() => net.replaceHead(new LinearHead(net.featureDim + 1, 2, 1))).toThrow(/takes 17 features but the backbone gives 16/);
    const aux = createAuxHead('rotation', { featureDim: net.featureDim, classes: 5, seed: 1 });
    net.setAux('rotation', aux);
    expect(Object.keys(net.aux)).toEqual(['rotation']);
    net.setAux('rotation', null);
    expect(aux.weights).toBeNull();
    expect(Object.keys(net.aux)).toEqual([]);
    net.dispose();
  });

  it('keeps tf.memory().numTensors flat across training steps, evaluation, cloning and head growth', () => {
    const net = tinyNetwork();
    net.setAux('rotation', createAuxHead('rotation', { featureDim: net.featureDim, classes: 5, seed: 3 }));
    const x = input(2, 32);
    const optimizer = tf.train.momentum(0.1, 0.9);
    const step = () => {
      const loss = optimizer.minimize(() => {
        const out = net.forward(x, { training: true });
        const aux = net.applyAux('rotation', out.features, { training: true });
        return tf.add(crossEntropy(out.logits, [0, 1]), crossEntropy(aux, [0, 19])) as tf.Scalar;
      }, true, net.trainableVariables as tf.Variable[]);
      loss?.dispose();
      tf.tidy(() => {
        net.forward(x, { training: false });
      });
    };
    step(); // creates the momentum accumulators
    const baseline = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(baseline);
    // A teacher per task, disposed at the end of the next one: no growth either.
    for (let task = 0; task < 2; task++) {
      const teacher = net.clone();
      tf.tidy(() => {
        teacher.forward(x, { training: false });
      });
      teacher.dispose();
    }
    expect(tf.memory().numTensors).toBe(baseline);
    // Growing the head replaces its two variables by two larger ones.
    (net.head as LinearHead).addClasses(3);
    expect(tf.memory().numTensors).toBe(baseline);
    x.dispose();
    optimizer.dispose();
    net.dispose();
  });
});

describe('default backend', () => {
  /** Eval and training logits, and the gradients of a training step's loss, by variable name. */
  function run(xValues: Float32Array) {
    const net = createNetwork({ backbone: TINY_RESNET32, seed: 21 }); // same seed: same weights on any backend
    (net.head as LinearHead).addClasses(4);
    const x = tf.tensor4d(xValues, [2, 32, 32, 3]);
    const evalOut = net.forward(x, { training: false });
    const trainOut = net.forward(x, { training: true });
    const names = new Map([...net.namedVariables()].map(([name, v]) => [v.name, name]));
    const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x, { training: true }).logits, [1, 3]), net.trainableVariables);
    const result = {
      eval: evalOut.logits.dataSync().slice(),
      train: trainOut.logits.dataSync().slice(),
      loss: value.dataSync()[0],
      grads: new Map(Object.entries(grads).map(([id, g]) => [names.get(id)!, g.dataSync().slice()])),
    };
    tf.dispose([x, value, ...Object.values(grads)]);
    disposeOutput(evalOut);
    disposeOutput(trainOut);
    net.dispose();
    return result;
  }

  it('runs the tiny ResNet-32 forward and backward like the cpu backend', async () => {
    const xValues = input(2, 32, 13).dataSync().slice() as Float32Array;
    const reference = run(xValues);
    const info = await initBackend({ log: false });
    expect(tf.getBackend()).toBe(info.tfBackend);
    const result = run(xValues);
    expect(maxAbsDiff(result.eval, reference.eval), info.name).toBeLessThan(1e-3);
    expect(maxAbsDiff(result.train, reference.train), info.name).toBeLessThan(1e-3);
    expect(result.loss).toBeCloseTo(reference.loss, 3);
    expect([...result.grads.keys()].sort()).toEqual([...reference.grads.keys()].sort());
    for (const [name, g] of reference.grads) {
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      expect(maxAbsDiff(result.grads.get(name)!, g) / scale, `${info.name} grad ${name}`).toBeLessThan(1e-2);
    }
  });
});
