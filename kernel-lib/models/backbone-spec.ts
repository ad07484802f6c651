/**
 * What a ResNet backbone is, as data: its kind, width, blocks per stage and shortcut (the schema that training
 * settings and profiles validate), each kind's layout, and the defaults filled in. The network itself is in
 * resnet.ts.
 */
import { positiveInt, positiveNumber, z } from '../schema';

export const BACKBONE_KINDS = ['resnet32', 'resnet18-cifar', 'resnet18-imagenet'] as const;
export type BackboneKind = (typeof BACKBONE_KINDS)[number];

export const backboneSpecSchema = z.strictObject({
  kind: z.enum(BACKBONE_KINDS),
  /** Channel multiplier (default 1), e.g. 0.25 for tests. */
  width: positiveNumber().optional(),
  /** Basic blocks per stage (default 5 for resnet32, 2 for resnet18). */
  blocksPerStage: positiveInt().optional(),
  /** ReLU after the last block (default true). */
  lastRelu: z.boolean().optional(),
  /**
   * Shortcut of the blocks that change shape (default: 'subsample-pad' for resnet32, 'projection' for resnet18).
   * PyCIL's LUCIR ResNet-32 (convs/ucir_cifar_resnet.py, "DownsampleA => DownsampleB") uses 'projection'.
   */
  shortcut: z.enum(['subsample-pad', 'projection']).optional(),
});
export type BackboneSpec = z.infer<typeof backboneSpecSchema>;

/** 'subsample-pad': option A, parameter-free (PyCIL DownsampleA). 'projection': 1x1 conv + BN (option B). */
export type ShortcutKind = 'subsample-pad' | 'projection';
export const SHORTCUT_KINDS: readonly ShortcutKind[] = ['subsample-pad', 'projection'];

export type ResolvedBackboneSpec = Required<BackboneSpec>;

export interface BackboneLayout {
  stem: { kernel: number; stride: number; pad: number; channels: number; maxPool: boolean };
  stages: { channels: number; stride: number }[];
  defaultBlocks: number;
  /** Default shortcut of the blocks whose input and output shapes differ. */
  shortcut: ShortcutKind;
}

export const BACKBONE_LAYOUTS: Record<BackboneKind, BackboneLayout> = {
  resnet32: {
    stem: { kernel: 3, stride: 1, pad: 1, channels: 16, maxPool: false },
    stages: [
      { channels: 16, stride: 1 },
      { channels: 32, stride: 2 },
      { channels: 64, stride: 2 },
    ],
    defaultBlocks: 5,
    shortcut: 'subsample-pad',
  },
  'resnet18-cifar': {
    stem: { kernel: 3, stride: 1, pad: 1, channels: 64, maxPool: false },
    stages: resnet18Stages(),
    defaultBlocks: 2,
    shortcut: 'projection',
  },
  'resnet18-imagenet': {
    stem: { kernel: 7, stride: 2, pad: 3, channels: 64, maxPool: true },
    stages: resnet18Stages(),
    defaultBlocks: 2,
    shortcut: 'projection',
  },
};

function resnet18Stages(): BackboneLayout['stages'] {
  return [
    { channels: 64, stride: 1 },
    { channels: 128, stride: 2 },
    { channels: 256, stride: 2 },
    { channels: 512, stride: 2 },
  ];
}

/** Fills in defaults and checks a spec, with errors that name the bad field. */
export function resolveBackboneSpec(spec: BackboneSpec): ResolvedBackboneSpec {
  if (!spec || !BACKBONE_KINDS.includes(spec.kind)) {
    throw new Error(`BackboneSpec.kind '${spec?.kind}' is not a backbone; valid kinds: ${BACKBONE_KINDS.join(', ')}`);
  }
  const width = spec.width ?? 1;
  if (!(Number.isFinite(width) && width > 0)) {
    throw new Error(`BackboneSpec.width must be a positive number (a channel multiplier, e.g. 0.25), got ${spec.width}`);
  }
  const blocksPerStage = spec.blocksPerStage ?? BACKBONE_LAYOUTS[spec.kind].defaultBlocks;
  if (!(Number.isInteger(blocksPerStage) && blocksPerStage >= 1)) {
    throw new Error(`BackboneSpec.blocksPerStage must be an integer >= 1, got ${spec.blocksPerStage}`);
  }
  const shortcut = spec.shortcut ?? BACKBONE_LAYOUTS[spec.kind].shortcut;
  if (!SHORTCUT_KINDS.includes(shortcut)) {
    throw new Error(`BackboneSpec.shortcut '${spec.shortcut}' is not a shortcut; valid: ${SHORTCUT_KINDS.join(', ')}`);
  }
  return { kind: spec.kind, width, blocksPerStage, lastRelu: spec.lastRelu ?? true, shortcut };
}

/** A layout's channel count under a width multiplier (rounded, at least 1). */
export function scaledChannels(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}
