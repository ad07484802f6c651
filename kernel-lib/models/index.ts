/** Models: ResNet backbones, CIL heads and the Network that combines them. Contracts in ./types.ts. */
export type { Backbone, BackboneOutput, ForwardOptions, Head, Module, NetworkOutput } from './types.ts';
export {
  BACKBONE_KINDS,
  ResNet,
  createBackbone,
  resolveBackboneSpec,
  type BackboneKind,
  type BackboneSpec,
  type ResolvedBackboneSpec,
  type ShortcutKind,
} from './resnet.ts';
export { BatchNorm, Conv2d, BN_EPS, BN_MOMENTUM } from './layers.ts';
export {
  BiasLayer,
  CosineHead,
  LinearHead,
  TaskHeads,
  createAuxHead,
  headFromArchitecture,
  mixedClassIndex,
  rotationLabel,
  type AuxHeadKind,
  type DescribedHead,
  type HeadArchitecture,
  type LogitRange,
} from './heads.ts';
export { Network, createNetwork, type CreateNetworkOptions, type NetworkArchitecture } from './network.ts';
export { deriveSeed } from './init.ts';
