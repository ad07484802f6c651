/**
 * LwF: trains 3 tasks through createRun (shared head, and the per-task-heads variant of the standalone-KD-loss
 * experiment) with no tensor leak; per-task heads train only the current head with CE and never update frozen old
 * heads; every kdLoss is the kernel-lib/losses function it names; kd: false zeroes 'kd' and leaves CE bit-identical.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import type { ImageDataset } from '../kernel-lib/data/types';
import { createMethod } from '../kernel-lib/methods/registry';
import { createLwf, LWF_KD_LOSSES, type LwfConfig } from '../kernel-lib/methods/lwf';
import { featureCosine, featureL2, klDistillation, logitL2, softTargetCE } from '../kernel-lib/losses/index';
import { TaskHeads } from '../kernel-lib/models/index';
import {
  TASKS, expectExactKdRemoval, networksForTask1, randomBatch, runOptions, stepContext, tinyEmbedded, taskContext,
  trainAllWithoutLeak, withKdProbe,
} from './methods-kd-fixture';

let dataset: ImageDataset;

beforeAll(async () => {
  await initBackend({ log: false });
  dataset = await tinyEmbedded();
});

function snapshot(vars: Map<string, tf.Variable>, prefix: string): Map<string, Float32Array> {
  return new Map([...vars].filter(([name]) => name.startsWith(prefix)).map(([name, v]) => [name, Float32Array.from(v.dataSync() as Float32Array)]));
}

function sameValues(a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean {
  return a.size === b.size && [...a].every(([name, v]) => b.get(name)!.every((x, i) => Object.is(x, v[i])));
}

describe('LwF', () => {
  it('is registered with its typed defaults and refuses bad config', () => {
    expect(createMethod('lwf').config).toEqual({ kd: true, lamb: 1, temperature: 2, heads: 'shared', freezeOldHeads: null, kdLoss: 'ce' });
    expect(createMethod('lwf').memory).toBeNull();
    expect(() => createLwf({ kdLoss: 'l1' as LwfConfig['kdLoss'] })).toThrow(/lwf: kdLoss: Invalid option: expected one of "ce"\|"kl"\|"logit-l2".*\(got "l1"\)/);
    expect(() => createLwf({ heads: 'shared', freezeOldHeads: true })).toThrow(/freezeOldHeads needs heads 'per-task'/);
    expect(() => createLwf({ temperature: 0 })).toThrow(/lwf: temperature: Too small: expected number to be >0 \(got 0\)/);
  });

  it('shared head: trains 3 tasks with no tensor leak, and kd: false gives kd = 0 and the same CE on every real step', async () => {
    const { method, probe } = withKdProbe(createLwf(), createLwf({ kd: false }));
    const { run, metrics, dispose } = await trainAllWithoutLeak(runOptions(dataset, method));
    try {
      expect(metrics.map((m) => m.classes)).toEqual([[0, 2], [2, 4], [4, 6]]);
      expect(run.state.net.head.outputs).toBe(6);
      expect(metrics[0].terms.kd).toBe(0);
      expect(metrics[2].terms.kd).toBeGreaterThan(0);
      expect(metrics.every((m) => m.replayImages === 0)).toBe(true);
      expectExactKdRemoval(probe, ['kd']);
    } finally {
      dispose();
    }
  });

  it('per-task heads: one head per task, frozen old heads never change while the backbone does, exact KD removal', async () => {
    const config: Partial<LwfConfig> = { heads: 'per-task', kdLoss: 'kl' };
    const { method, probe } = withKdProbe(createLwf(config), createLwf({ ...config, kd: false }));
    const seen: Map<string, Float32Array>[] = [];
    const backbones: Map<string, Float32Array>[] = [];
    const recording = {
      ...method,
      afterTask(ctx: Parameters<NonNullable<typeof method.afterTask>>[0]) {
        const named = (ctx.net as unknown as { namedVariables(): Map<string, tf.Variable> }).namedVariables();
        seen.push(snapshot(named, 'head/task0/'));
        backbones.push(snapshot(named, 'backbone/'));
      },
    };
    const { run, dispose } = await trainAllWithoutLeak(runOptions(dataset, recording));
    try {
      const head = run.state.net.head as TaskHeads;
      expect(head).toBeInstanceOf(TaskHeads);
      expect(head.tasks).toBe(3);
      expect([0, 1, 2].map((t) => head.taskRange(t))).toEqual(TASKS.map(({ start, end }) => ({ start, end })));
      expect(seen[0].size).toBe(2);
      expect(sameValues(seen[0], seen[1]) && sameValues(seen[0], seen[2])).toBe(true);
      expect(sameValues(backbones[0], backbones[1])).toBe(false);
      expectExactKdRemoval(probe, ['kd']);
    } finally {
      dispose();
    }
  });

  it('per-task heads: CE gives the old heads no gradient; frozen old heads get none from KD either, unfrozen ones do', () => {
    for (const freezeOldHeads of [true, false]) {
      const method = createLwf({ heads: 'per-task', freezeOldHeads });
      const { net, teacher, state } = networksForTask1(method);
      const batch = randomBatch(TASKS[1]);
      try {
        const named = net.namedVariables();
        const oldHead = [named.get('head/task0/weight')!, named.get('head/task0/bias')!];
        const newHead = [named.get('head/task1/weight')!, named.get('head/task1/bias')!];
        const backbone = net.backbone.trainableVariables;
        const gradNorms = (term: 'ce' | 'kd' | 'both') =>
          tf.tidy(() => {
            const step = stepContext(taskContext(method, net, teacher, TASKS[1], state), batch);
            const { grads } = tf.variableGrads(() => {
              const terms = method.lossTerms(step);
              return term === 'both' ? (tf.add(terms.ce, terms.kd) as tf.Scalar) : terms[term];
            }, [...oldHead, ...newHead, ...backbone]);
            const norm = (vs: tf.Variable[]) => vs.reduce((sum, v) => sum + (grads[v.name] ? tf.norm(grads[v.name]).dataSync()[0] : 0), 0);
            return { old: norm(oldHead), current: norm(newHead), backbone: norm(backbone), oldHasGrad: oldHead.some((v) => grads[v.name] !== undefined) };
          });
        const ce = gradNorms('ce');
        expect(ce.old).toBe(0);
        expect(ce.current).toBeGreaterThan(0);
        expect(ce.backbone).toBeGreaterThan(0);
        const kd = gradNorms('kd');
        expect(kd.backbone).toBeGreaterThan(0);
        if (freezeOldHeads) {
          // Not even a zero gradient: the optimiser then skips the old heads entirely (no momentum, no weight decay).
          expect(gradNorms('both').oldHasGrad).toBe(false);
        } else {
          expect(kd.old).toBeGreaterThan(0);
        }
      } finally {
        tf.dispose([batch.x, batch.y, batch.replay]);
        net.dispose();
        teacher.dispose();
      }
    }
  });

  it('each kdLoss is the kernel-lib/losses function it names, weighted by lamb, on the old outputs', () => {
    const lamb = 0.5;
    const base = createLwf();
    const { net, teacher, state } = networksForTask1(base);
    const batch = randomBatch(TASKS[1]);
    try {
      const expected: Record<string, (s: ReturnType<typeof stepContext>) => tf.Scalar> = {
        ce: (s) => softTargetCE(s.student().logits.slice([0, 0], [-1, 2]), s.teacherOut().logits, 2),
        kl: (s) => klDistillation(s.student().logits.slice([0, 0], [-1, 2]), s.teacherOut().logits, 2),
        'logit-l2': (s) => logitL2(s.student().logits.slice([0, 0], [-1, 2]), s.teacherOut().logits),
        'feature-l2': (s) => featureL2(s.student().features, s.teacherOut().features),
        'feature-cosine': (s) => featureCosine(s.student().features, s.teacherOut().features),
        none: () => tf.scalar(0),
      };
      expect(Object.keys(expected).sort()).toEqual([...LWF_KD_LOSSES].sort());
      for (const kdLoss of LWF_KD_LOSSES) {
        const method = createLwf({ kdLoss, lamb });
        const [got, want] = tf.tidy(() => {
          const step = stepContext(taskContext(method, net, teacher, TASKS[1], state), batch);
          return [method.lossTerms(step).kd.dataSync()[0], expected[kdLoss](step).dataSync()[0] * lamb];
        });
        expect(got, kdLoss).toBeCloseTo(want, 6);
        if (kdLoss !== 'none') expect(got, kdLoss).toBeGreaterThan(0);
      }
    } finally {
      tf.dispose([batch.x, batch.y, batch.replay]);
      net.dispose();
      teacher.dispose();
    }
  });
});
