/** What every classification head shares: its description for checkpoints, and the checks of its inputs. */
import { tf } from '../tf';
import type { Head } from './types';
import type { NamedVariables } from './init';

/** A contiguous range of logits [start, end), e.g. one task's classes. */
export interface LogitRange {
  start: number;
  end: number;
}

/** JSON description of a head's shapes, enough to rebuild it (values come from a checkpoint). */
export type HeadArchitecture =
  | { kind: 'linear'; inFeatures: number; outputs: number }
  | { kind: 'task-heads'; inFeatures: number; taskSizes: number[] }
  | { kind: 'cosine'; inFeatures: number; blockSizes: number[]; learnableSigma: boolean }
  | { kind: 'bias'; range: LogitRange };

/** A head kdcl can describe, name and rebuild. */
export interface DescribedHead extends Head, NamedVariables {
  describe(): HeadArchitecture;
}

export function checkFeatures(kind: string, features: tf.Tensor2D, inFeatures: number): void {
  if (features.rank !== 2 || features.shape[1] !== inFeatures) {
    throw new Error(`${kind} head: features must be [batch, ${inFeatures}], got [${features.shape.join(', ')}]`);
  }
}

export function checkCount(what: string, n: number): void {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`${what} must be an integer >= 0, got ${n}`);
}
