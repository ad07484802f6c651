/** Models: ResNet backbones, CIL heads and the Network that combines them. Contracts in ./types.ts. */
export type { Backbone, BackboneOutput, BatchNormMode, ForwardOptions, Head, Module, NetworkOutput } from './types';
export {
  BACKBONE_KINDS,
  ResNet,
  createBackbone,
  resolveBackboneSpec,
  type BackboneKind,
  type BackboneSpec,
  type ResolvedBackboneSpec,
  type ShortcutKind,
} from './resnet';
export { BatchNorm, Conv2d, BN_EPS, BN_MOMENTUM } from './layers';
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
} from './heads';
export { Network, createNetwork, type CreateNetworkOptions, type NetworkArchitecture } from './network';
export { variableSeed } from './init';
