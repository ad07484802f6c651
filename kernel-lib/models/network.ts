/**
 * Network = backbone + classification head + named auxiliary heads (e.g. PASS/PRAKA's rotation head).
 *
 * The network owns its modules: replacing a head or an aux head disposes the previous one (unless told not
 * to), and dispose() frees everything. A teacher is `net.clone()`: new variables with copied values, created
 * non-trainable, so they take no gradient and are in no trainableVariables list.
 */
import { tf } from '../tf';
import type { NetworkLike } from '../methods/types';
import type { Backbone, ForwardOptions, Head, NetworkOutput } from './types';
import { variableSeed, hasNamedVariables } from './init';
import { createBackbone, ResNet, resolveBackboneSpec, type BackboneSpec, type ResolvedBackboneSpec } from './resnet';
import { headFromArchitecture, LinearHead, type DescribedHead, type HeadArchitecture } from './heads';

/** Shapes of a network: `Network.fromArchitecture(arch, seed)` rebuilds it (then load a checkpoint's values). */
export interface NetworkArchitecture {
  backbone: ResolvedBackboneSpec;
  head: HeadArchitecture;
  aux: Record<string, HeadArchitecture>;
}

function isDescribed(head: Head): head is DescribedHead {
  return typeof (head as Partial<DescribedHead>).describe === 'function' && hasNamedVariables(head);
}

/** A module's variables by local name; modules without names get positional ones. */
function moduleVariables(module: Backbone | Head): Map<string, tf.Variable> {
  if (hasNamedVariables(module)) return module.namedVariables();
  const named = new Map<string, tf.Variable>();
  module.trainableVariables.forEach((v, i) => named.set(`trainable${i}`, v));
  module.stateVariables.forEach((v, i) => named.set(`state${i}`, v));
  return named;
}

function checkHeadInput(head: Head, featureDim: number, where: string): void {
  const inFeatures = (head as { inFeatures?: unknown }).inFeatures;
  if (typeof inFeatures === 'number' && inFeatures !== featureDim) {
    throw new Error(`${where}: head '${head.kind}' takes ${inFeatures} features but the backbone gives ${featureDim}`);
  }
}

export class Network implements NetworkLike {
  private currentHead: Head;
  private readonly auxHeads = new Map<string, Head>();
  private disposed = false;

  constructor(readonly backbone: Backbone, head: Head, aux: Record<string, Head> = {}) {
    checkHeadInput(head, backbone.featureDim, 'Network');
    this.currentHead = head;
    for (const [name, auxHead] of Object.entries(aux)) this.setAux(name, auxHead);
  }

  get head(): Head {
    return this.currentHead;
  }

  /** A snapshot of the aux heads by name (use setAux to change them). */
  get aux(): Record<string, Head> {
    return Object.fromEntries(this.auxHeads);
  }

  get featureDim(): number {
    return this.backbone.featureDim;
  }

  forward(x: tf.Tensor4D, options: ForwardOptions): NetworkOutput {
    if (this.disposed) throw new Error('Network.forward() after dispose()');
    return tf.tidy(() => {
      const { featureMap, features } = this.backbone.apply(x, options);
      return { featureMap, features, logits: this.currentHead.apply(features, options) };
    });
  }

  applyAux(name: string, features: tf.Tensor2D, options: ForwardOptions): tf.Tensor2D {
    const head = this.auxHeads.get(name);
    if (!head) {
      const known = [...this.auxHeads.keys()].join(', ') || 'none';
      throw new Error(`Network.applyAux: no aux head '${name}' (aux heads: ${known}); add it with setAux('${name}', head)`);
    }
    return head.apply(features, options);
  }

  /** Sets (or with null removes) an aux head; the one it replaces is disposed unless `dispose: false`. */
  setAux(name: string, head: Head | null, options: { dispose?: boolean } = {}): void {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`Network.setAux: name '${name}' must match [A-Za-z0-9_-]+`);
    const previous = this.auxHeads.get(name);
    if (head) {
      checkHeadInput(head, this.featureDim, `Network.setAux('${name}')`);
      this.auxHeads.set(name, head);
    } else {
      this.auxHeads.delete(name);
    }
    if (previous && previous !== head && (options.dispose ?? true)) previous.dispose();
  }

  /** Replaces the classification head; the old one is disposed unless `dispose: false`. */
  replaceHead(head: Head, options: { dispose?: boolean } = {}): void {
    checkHeadInput(head, this.featureDim, 'Network.replaceHead');
    const previous = this.currentHead;
    this.currentHead = head;
    if (previous !== head && (options.dispose ?? true)) previous.dispose();
  }

  private modules(): [string, Backbone | Head][] {
    return [
      ['backbone', this.backbone],
      ['head', this.currentHead],
      ...[...this.auxHeads].map(([name, head]): [string, Head] => [`aux/${name}`, head]),
    ];
  }

  get trainableVariables(): tf.Variable[] {
    return this.modules().flatMap(([, module]) => module.trainableVariables);
  }

  get stateVariables(): tf.Variable[] {
    return this.modules().flatMap(([, module]) => module.stateVariables);
  }

  /** Every variable (trainable and state) under a stable name, e.g. 'backbone/stage1/block0/conv_a', 'head/weight'. */
  namedVariables(): Map<string, tf.Variable> {
    const named = new Map<string, tf.Variable>();
    for (const [prefix, module] of this.modules()) {
      for (const [name, variable] of moduleVariables(module)) named.set(`${prefix}/${name}`, variable);
    }
    return named;
  }

  /**
   * Assigns checkpoint values by name. Every variable must be given, with its exact shape: a mismatch is an
   * error naming the variable (rebuild the shapes first with Network.fromArchitecture).
   */
  loadVariables(values: Map<string, tf.Tensor> | Record<string, tf.Tensor>): void {
    const given = values instanceof Map ? values : new Map(Object.entries(values));
    const named = this.namedVariables();
    const missing = [...named.keys()].filter((name) => !given.has(name));
    const unknown = [...given.keys()].filter((name) => !named.has(name));
    if (missing.length || unknown.length) {
      throw new Error(
        `Network.loadVariables: checkpoint does not match the network` +
          (missing.length ? `; missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' ...' : ''}` : '') +
          (unknown.length ? `; unknown: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ' ...' : ''}` : ''),
      );
    }
    for (const [name, variable] of named) {
      const value = given.get(name)!;
      if (!tf.util.arraysEqual(value.shape, variable.shape)) {
        throw new Error(`Network.loadVariables: '${name}' has shape [${value.shape}] in the checkpoint, [${variable.shape}] in the network`);
      }
    }
    for (const [name, variable] of named) variable.assign(given.get(name)!);
  }

  architecture(): NetworkArchitecture {
    if (!(this.backbone instanceof ResNet)) {
      throw new Error(`Network.architecture: backbone '${this.backbone.kind}' was not built by createBackbone, so it cannot be described`);
    }
    const describe = (head: Head, where: string): HeadArchitecture => {
      if (!isDescribed(head)) throw new Error(`Network.architecture: ${where} '${head.kind}' has no describe(); use a kdcl head`);
      return head.describe();
    };
    return {
      backbone: { ...this.backbone.spec },
      head: describe(this.currentHead, 'head'),
      aux: Object.fromEntries([...this.auxHeads].map(([name, head]) => [name, describe(head, `aux head '${name}'`)])),
    };
  }

  /** Rebuilds the shapes described by `arch` (e.g. from a checkpoint), with fresh weights from `seed`. */
  static fromArchitecture(arch: NetworkArchitecture, seed: number): Network {
    if (!arch || typeof arch !== 'object' || !arch.backbone || !arch.head) {
      throw new Error('Network.fromArchitecture: expected { backbone, head, aux } as written by Network.architecture()');
    }
    const backbone = createBackbone(resolveBackboneSpec(arch.backbone), seed);
    const head = headFromArchitecture(arch.head, seed);
    const aux = Object.fromEntries(
      Object.entries(arch.aux ?? {}).map(([name, auxArch]) => [name, headFromArchitecture(auxArch, variableSeed(seed, `aux/${name}`))]),
    );
    return new Network(backbone, head, aux);
  }

  /** A deep copy with new variables (frozen by default: the teacher). */
  clone(trainable = false): Network {
    const aux = Object.fromEntries([...this.auxHeads].map(([name, head]) => [name, head.clone(trainable)]));
    return new Network(this.backbone.clone(trainable), this.currentHead.clone(trainable), aux);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [, module] of this.modules()) module.dispose();
    this.auxHeads.clear();
  }
}

export interface CreateNetworkOptions {
  backbone: BackboneSpec;
  /** Classification head (default: an expandable LinearHead with 0 classes, grown per task). */
  head?: Head;
  seed: number;
}

export function createNetwork(options: CreateNetworkOptions): Network {
  const backbone = createBackbone(options.backbone, options.seed);
  const head = options.head ?? new LinearHead(backbone.featureDim, 0, options.seed);
  return new Network(backbone, head);
}
