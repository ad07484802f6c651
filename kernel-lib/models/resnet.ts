/**
 * ResNet backbones built from explicit variables (no tf.layers), NHWC.
 *
 * - `resnet32`: the CIFAR ResNet of iCaRL / PyCIL / FACIL (He et al. 2016, sec. 4.2): 3x3 conv 16 + BN + ReLU,
 *   3 stages of 5 basic blocks with 16/32/64 channels (stride 2 at stages 2 and 3), global average pooling,
 *   64-d features. Shortcuts that change shape are "option A" as in PyCIL convs/cifar_resnet.py (DownsampleA:
 *   a stride-2 subsample, `AvgPool2d(kernel_size=1, stride=2)`, then zero channels appended): parameter-free.
 *   0.46M parameters (He et al. 2016, Table 6).
 * - `resnet18-cifar`: ResNet-18 with the CIFAR stem of PASS / IL2A / PRAKA (CVPR21_PASS ResNet.py: 3x3 conv
 *   stride 1, no max-pool), 4 stages of 2 blocks with 64/128/256/512 channels, 1x1 conv + BN projection
 *   shortcuts, 512-d features.
 * - `resnet18-imagenet`: the same with torchvision's ImageNet stem (7x7 conv stride 2 + 3x3 max-pool stride 2),
 *   for 64x64 and 224x224 input.
 *
 * Options: `width` multiplies every channel count (rounded, at least 1), `blocksPerStage` replaces the number
 * of blocks per stage, `lastRelu: false` drops the ReLU after the last block (LUCIR's cosine head:
 * PyCIL convs/ucir_cifar_resnet.py builds its last block without the final ReLU), `shortcut` overrides the
 * kind's shortcut (that same PyCIL file switches ResNet-32 to 1x1 conv + BN projections for LUCIR).
 *
 * Weights: convs kaiming-normal fan_out, BN gamma 1 / beta 0 (PyCIL and torchvision), each drawn from a seed
 * derived from the model seed and the variable's name. Verified against PyTorch 1.13 (same weights, eval and
 * training mode, running statistics) in test/models.test.ts.
 */
import { tf } from '../tf';
import type { Backbone, BackboneOutput, BatchNormMode, ForwardOptions } from './types';
import { Conv2d, BatchNorm } from './layers';
import type { NamedVariables } from './init';
import { BACKBONE_LAYOUTS, resolveBackboneSpec, scaledChannels, type BackboneKind, type BackboneSpec, type ResolvedBackboneSpec, type ShortcutKind } from './backbone-spec';

export {
  BACKBONE_KINDS,
  backboneSpecSchema,
  resolveBackboneSpec,
  SHORTCUT_KINDS,
  type BackboneKind,
  type BackboneSpec,
  type ResolvedBackboneSpec,
  type ShortcutKind,
} from './backbone-spec';

/** A shortcut that changes shape: option A (strided subsample + zero channels) or a 1x1 conv + BN projection. */
interface Shortcut {
  apply(x: tf.Tensor4D, training: BatchNormMode): tf.Tensor4D;
  named(prefix: string, into: Map<string, tf.Variable>): void;
  clone(trainable: boolean): Shortcut;
  dispose(): void;
}

/**
 * Option A as one constant 1x1 conv: output channel c copies input channel c at every second pixel, the extra
 * channels are zero. Same values as PyCIL's DownsampleA (avg-pool kernel 1 stride 2, then cat with zeros), and
 * it stays on the conv2d path that every backend makes fast. No trainable parameters.
 */
class SubsamplePadShortcut implements Shortcut {
  private readonly selection: tf.Tensor4D;

  constructor(private readonly inChannels: number, private readonly outChannels: number, private readonly stride: number) {
    if (outChannels < inChannels) throw new Error(`option-A shortcut cannot shrink channels (${inChannels} -> ${outChannels})`);
    const buffer = tf.buffer([1, 1, inChannels, outChannels], 'float32');
    for (let c = 0; c < inChannels; c++) buffer.set(1, 0, 0, c, c);
    // Kept: a backbone built inside someone's tidy must not lose its constant.
    this.selection = tf.keep(buffer.toTensor() as tf.Tensor4D);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.conv2d(x, this.selection, this.stride, 0);
  }

  named(): void {}

  clone(): Shortcut {
    return new SubsamplePadShortcut(this.inChannels, this.outChannels, this.stride);
  }

  dispose(): void {
    this.selection.dispose();
  }
}

class ProjectionShortcut implements Shortcut {
  constructor(private readonly conv: Conv2d, private readonly bn: BatchNorm) {}

  apply(x: tf.Tensor4D, training: BatchNormMode): tf.Tensor4D {
    return this.bn.apply(this.conv.apply(x), training);
  }

  named(prefix: string, into: Map<string, tf.Variable>): void {
    into.set(`${prefix}/conv`, this.conv.filter);
    nameBatchNorm(`${prefix}/bn`, this.bn, into);
  }

  clone(trainable: boolean): Shortcut {
    return new ProjectionShortcut(this.conv.clone(trainable), this.bn.clone(trainable));
  }

  dispose(): void {
    this.conv.dispose();
    this.bn.dispose();
  }
}

function nameBatchNorm(prefix: string, bn: BatchNorm, into: Map<string, tf.Variable>): void {
  into.set(`${prefix}/gamma`, bn.gamma);
  into.set(`${prefix}/beta`, bn.beta);
  into.set(`${prefix}/running_mean`, bn.runningMean);
  into.set(`${prefix}/running_var`, bn.runningVariance);
}

/** conv3x3-BN-ReLU-conv3x3-BN, plus shortcut, then ReLU (He et al. 2016, Fig. 2). */
class BasicBlock {
  constructor(
    private readonly convA: Conv2d,
    private readonly bnA: BatchNorm,
    private readonly convB: Conv2d,
    private readonly bnB: BatchNorm,
    private readonly shortcut: Shortcut | null,
  ) {}

  static create(
    inChannels: number,
    outChannels: number,
    stride: number,
    shortcutKind: ShortcutKind,
    seed: number,
    name: string,
    trainable: boolean,
  ): BasicBlock {
    const convA = Conv2d.create({ kernel: 3, inChannels, outChannels, stride, pad: 1 }, seed, `${name}/conv_a`, trainable);
    const convB = Conv2d.create({ kernel: 3, inChannels: outChannels, outChannels, stride: 1, pad: 1 }, seed, `${name}/conv_b`, trainable);
    let shortcut: Shortcut | null = null;
    if (stride !== 1 || inChannels !== outChannels) {
      shortcut =
        shortcutKind === 'subsample-pad'
          ? new SubsamplePadShortcut(inChannels, outChannels, stride)
          : new ProjectionShortcut(
              Conv2d.create({ kernel: 1, inChannels, outChannels, stride, pad: 0 }, seed, `${name}/shortcut/conv`, trainable),
              BatchNorm.create(outChannels, trainable),
            );
    }
    return new BasicBlock(convA, BatchNorm.create(outChannels, trainable), convB, BatchNorm.create(outChannels, trainable), shortcut);
  }

  apply(x: tf.Tensor4D, training: BatchNormMode, relu: boolean): tf.Tensor4D {
    const a = tf.relu(this.bnA.apply(this.convA.apply(x), training));
    const b = this.bnB.apply(this.convB.apply(a), training);
    const residual = this.shortcut ? this.shortcut.apply(x, training) : x;
    const sum = tf.add(b, residual) as tf.Tensor4D;
    return relu ? tf.relu(sum) : sum;
  }

  named(prefix: string, into: Map<string, tf.Variable>): void {
    into.set(`${prefix}/conv_a`, this.convA.filter);
    nameBatchNorm(`${prefix}/bn_a`, this.bnA, into);
    into.set(`${prefix}/conv_b`, this.convB.filter);
    nameBatchNorm(`${prefix}/bn_b`, this.bnB, into);
    this.shortcut?.named(`${prefix}/shortcut`, into);
  }

  clone(trainable: boolean): BasicBlock {
    return new BasicBlock(
      this.convA.clone(trainable),
      this.bnA.clone(trainable),
      this.convB.clone(trainable),
      this.bnB.clone(trainable),
      this.shortcut?.clone(trainable) ?? null,
    );
  }

  dispose(): void {
    for (const part of [this.convA, this.bnA, this.convB, this.bnB]) part.dispose();
    this.shortcut?.dispose();
  }
}

interface ResNetParts {
  stemConv: Conv2d;
  stemBn: BatchNorm;
  /** Blocks per stage, in order. */
  stages: BasicBlock[][];
}

export class ResNet implements Backbone, NamedVariables {
  readonly kind: BackboneKind;
  readonly featureDim: number;
  private readonly parts: ResNetParts;
  private readonly variables: Map<string, tf.Variable>;
  private disposed = false;

  private constructor(readonly spec: ResolvedBackboneSpec, parts: ResNetParts, readonly trainable: boolean) {
    this.kind = spec.kind;
    this.parts = parts;
    const lastStage = BACKBONE_LAYOUTS[spec.kind].stages.at(-1)!;
    this.featureDim = scaledChannels(lastStage.channels, spec.width);
    this.variables = new Map();
    this.variables.set('stem/conv', parts.stemConv.filter);
    nameBatchNorm('stem/bn', parts.stemBn, this.variables);
    parts.stages.forEach((blocks, s) => blocks.forEach((block, b) => block.named(`stage${s + 1}/block${b}`, this.variables)));
  }

  static create(spec: BackboneSpec, seed: number, trainable = true): ResNet {
    const resolved = resolveBackboneSpec(spec);
    const layout = BACKBONE_LAYOUTS[resolved.kind];
    const { width, blocksPerStage } = resolved;
    const stemChannels = scaledChannels(layout.stem.channels, width);
    const stemConv = Conv2d.create(
      { kernel: layout.stem.kernel, inChannels: 3, outChannels: stemChannels, stride: layout.stem.stride, pad: layout.stem.pad },
      seed,
      'backbone/stem/conv',
      trainable,
    );
    let inChannels = stemChannels;
    const stages = layout.stages.map((stage, s) => {
      const outChannels = scaledChannels(stage.channels, width);
      return Array.from({ length: blocksPerStage }, (_, b) => {
        const block = BasicBlock.create(
          inChannels,
          outChannels,
          b === 0 ? stage.stride : 1,
          resolved.shortcut,
          seed,
          `backbone/stage${s + 1}/block${b}`,
          trainable,
        );
        inChannels = outChannels;
        return block;
      });
    });
    return new ResNet(resolved, { stemConv, stemBn: BatchNorm.create(stemChannels, trainable), stages }, trainable);
  }

  get trainableVariables(): tf.Variable[] {
    return [...this.variables.values()].filter((v) => v.trainable);
  }

  get stateVariables(): tf.Variable[] {
    return [...this.variables.values()].filter((v) => !v.trainable);
  }

  /** Every variable (trainable and state) by stable name, e.g. 'stage2/block0/bn_a/running_mean'. */
  namedVariables(): Map<string, tf.Variable> {
    return new Map(this.variables);
  }

  apply(x: tf.Tensor4D, options: ForwardOptions): BackboneOutput {
    if (this.disposed) throw new Error(`${this.kind}: apply() after dispose()`);
    if (x.rank !== 4 || x.shape[3] !== 3) {
      throw new Error(`${this.kind}: input must be NHWC with 3 channels, got shape [${x.shape.join(', ')}]`);
    }
    const training = options.training;
    const { stem } = BACKBONE_LAYOUTS[this.kind];
    return tf.tidy(() => {
      let h = tf.relu(this.parts.stemBn.apply(this.parts.stemConv.apply(x), training));
      // torchvision resnet: MaxPool2d(kernel_size=3, stride=2, padding=1).
      if (stem.maxPool) h = tf.maxPool(h, 3, 2, 1);
      const blocks = this.parts.stages.flat();
      blocks.forEach((block, i) => {
        h = block.apply(h, training, this.spec.lastRelu || i < blocks.length - 1);
      });
      return { featureMap: h, features: tf.mean(h, [1, 2]) as tf.Tensor2D };
    });
  }

  clone(trainable = false): ResNet {
    const parts: ResNetParts = {
      stemConv: this.parts.stemConv.clone(trainable),
      stemBn: this.parts.stemBn.clone(trainable),
      stages: this.parts.stages.map((blocks) => blocks.map((block) => block.clone(trainable))),
    };
    return new ResNet(this.spec, parts, trainable);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.parts.stemConv.dispose();
    this.parts.stemBn.dispose();
    for (const block of this.parts.stages.flat()) block.dispose();
  }
}

/** Builds a backbone with weights drawn from `seed` (same seed, same weights). */
export function createBackbone(spec: BackboneSpec, seed: number): ResNet {
  return ResNet.create(spec, seed);
}
