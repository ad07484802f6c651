/**
 * LwM: trains 3 tasks through createRun with no tensor leak; the attention term (Grad-CAM of the teacher's top-1
 * class, L2-normalised, L1) carries gradient into the student's feature map and backbone (FACIL issue 37 is the bug
 * where it does not); kd: false removes only the attention term (survey Table 3), the logit KD stays.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import type { ImageDataset } from '../kernel-lib/data/types';
import { createMethod } from '../kernel-lib/methods/registry';
import { createLwm, LWM_DEFAULTS, lwmAttentionLoss, type LwmConfig } from '../kernel-lib/methods/lwm';
import { headLayout } from '../kernel-lib/methods/shared/heads';
import { attentionDistillation, gradCam } from '../kernel-lib/losses/index';
import type { LinearHead } from '../kernel-lib/models/index';
import {
  TASKS, expectExactKdRemoval, networksForTask1, randomBatch, runOptions, stepContext, tinyEmbedded, taskContext,
  trainAllWithoutLeak, withKdProbe,
} from './methods-kd-fixture';

let dataset: ImageDataset;

beforeAll(async () => {
  await initBackend({ log: false });
  dataset = await tinyEmbedded();
});

describe('LwM', () => {
  it('is registered with its typed defaults', () => {
    expect(createMethod('lwm').config).toEqual({ kd: true, beta: 1, gamma: 1, temperature: 2, kdRemoves: 'attention', attentionGradient: false, heads: 'shared', freezeOldHeads: null });
    expect(createMethod('lwm').kdTerms).toEqual(['attention']);
    expect(() => createLwm({ gamma: -1 })).toThrow(/lwm: gamma: Too small: expected number to be >=0 \(got -1\)/);
  });

  for (const heads of ['shared', 'per-task'] as const) {
    it(`${heads} head: trains 3 tasks with no tensor leak; kd: false zeroes only 'attention' on every real step`, async () => {
      const config: Partial<LwmConfig> = { heads };
      const { method, probe } = withKdProbe(createLwm(config), createLwm({ ...config, kd: false }));
      const { metrics, dispose } = await trainAllWithoutLeak(runOptions(dataset, method));
      try {
        expect(Object.keys(metrics[1].terms).sort()).toEqual(['attention', 'ce', 'logitKd']);
        expect(metrics[0].terms.attention).toBe(0);
        expect(metrics[2].terms.attention).toBeGreaterThan(0);
        expectExactKdRemoval(probe, ['attention']);
        // The logit KD is not removed: it is non-zero with kd: false.
        expect(probe.steps.some((s) => s.off.logitKd > 0)).toBe(true);
      } finally {
        dispose();
      }
    });
  }

  it("kdRemoves 'all': kd: false removes the logit KD too", async () => {
    expect(createLwm({ kdRemoves: 'all' }).kdTerms).toEqual(['attention', 'logitKd']);
    const { method, probe } = withKdProbe(createLwm({ kdRemoves: 'all' }), createLwm({ kdRemoves: 'all', kd: false }));
    const { dispose } = await trainAllWithoutLeak(runOptions(dataset, method));
    try {
      expectExactKdRemoval(probe, ['attention', 'logitKd']);
      expect(probe.steps.some((s) => s.on.logitKd > 0)).toBe(true);
    } finally {
      dispose();
    }
  });

  it('the attention term is 0 when the student is the teacher, whatever the batch (both maps under the batch statistics)', () => {
    const method = createLwm();
    const { net, teacher, state } = networksForTask1(method);
    const batch = randomBatch(TASKS[1]);
    try {
      // The student starts task 1 as a copy of the teacher: its attention maps are the teacher's.
      for (const [name, v] of teacher.namedVariables()) {
        const mine = net.namedVariables().get(name)!;
        // The head has the new classes' columns after the old ones: keep those, copy the old ones.
        tf.tidy(() => mine.assign(v.shape.join() === mine.shape.join() ? v
          : tf.concat([v, tf.slice(mine, Array(v.rank).fill(0).map((_, i) => (i === v.rank - 1 ? v.shape[i] : 0)))], v.rank - 1)));
      }
      const ctx = taskContext(method, net, teacher, TASKS[1], state);
      const attention = tf.tidy(() => method.lossTerms(stepContext(ctx, batch)).attention.dataSync()[0]);
      expect(attention).toBeLessThan(1e-6);
    } finally {
      tf.dispose([batch.x, batch.y, batch.replay]);
      net.dispose();
      teacher.dispose();
    }
  });

  it('the attention term is the L1 distance of normalised Grad-CAM maps of the teacher top-1 class, and it trains the student', () => {
    const method = createLwm();
    const layout = headLayout('lwm', LWM_DEFAULTS);
    const { net, teacher, state } = networksForTask1(method);
    const batch = randomBatch(TASKS[1]);
    try {
      const ctx = taskContext(method, net, teacher, TASKS[1], state);
      tf.tidy(() => {
        const step = stepContext(ctx, batch);
        // Both maps under the batch's statistics (lwm.ts); the teacher's top-1 class from its eval-mode output.
        const student = step.student();
        const old = { ...step.teacherOut(), featureMap: teacher.forward(batch.x, { training: 'batch-statistics' }).featureMap };
        const top1 = tf.argMax(old.logits, 1) as tf.Tensor1D;
        // Hand-computed map (Grad-CAM's definition with the explicit gradient of a GAP + linear head): for class c,
        // d logit_c / d A[h, w, k] = W[k, c] / HW, alpha_k = its spatial mean, cam = ReLU(sum_k alpha_k A[., ., k]).
        const [n, h, w, d] = student.featureMap.shape;
        const classes = top1.dataSync();
        const cam = (map: tf.Tensor4D, kernel: tf.Tensor2D) => {
          const a = map.arraySync();
          const weights = kernel.arraySync();
          return Array.from({ length: n }, (_, i) =>
            Array.from({ length: h * w }, (_, p) => {
              let v = 0;
              for (let k = 0; k < d; k++) v += (weights[k][classes[i]] / (h * w)) * a[i][Math.floor(p / w)][p % w][k];
              return Math.max(v, 0);
            }),
          );
        };
        const studentKernel = (net.head as LinearHead).weights!;
        const teacherKernel = (teacher.head as LinearHead).weights!;
        const camNew = cam(student.featureMap, studentKernel);
        const camOld = cam(old.featureMap, teacherKernel);
        const normalise = (v: number[]) => {
          const norm = Math.max(Math.hypot(...v), 1e-12);
          return v.map((x) => x / norm);
        };
        let expected = 0;
        for (let i = 0; i < n; i++) {
          const a = normalise(camNew[i]);
          const b = normalise(camOld[i]);
          expected += a.reduce((sum, x, p) => sum + Math.abs(x - b[p]), 0) / n;
        }
        expect(expected).toBeGreaterThan(0);
        expect(method.lossTerms(step).attention.dataSync()[0]).toBeCloseTo(expected * LWM_DEFAULTS.gamma, 5);

        // Gradient into the student's feature map (with the head held fixed) ...
        const mapGrad = tf.grad((map: tf.Tensor) =>
          attentionDistillation(gradCam(map as tf.Tensor4D, studentKernel, top1), gradCam(old.featureMap, teacherKernel, top1)),
        )(student.featureMap);
        expect(tf.norm(mapGrad).dataSync()[0]).toBeGreaterThan(0);
      });

      // ... and into every stage of the student's backbone through the method's own term.
      const norms = tf.tidy(() => {
        const step = stepContext(ctx, batch);
        const { grads } = tf.variableGrads(() => lwmAttentionLoss(step, layout), net.backbone.trainableVariables);
        return net.backbone.trainableVariables.map((v) => (grads[v.name] ? tf.norm(grads[v.name]).dataSync()[0] : 0));
      });
      expect(norms.length).toBeGreaterThan(5);
      expect(norms.every((x) => x > 0), `backbone gradient norms ${norms}`).toBe(true);

      // The default (FACIL's detached student map): the same term, no gradient into the backbone.
      tf.tidy(() => {
        const step = stepContext(ctx, batch);
        const [on, off] = [true, false].map((gradient) => lwmAttentionLoss(step, layout, gradient).dataSync()[0]);
        expect(off).toBeCloseTo(on, 6);
        // tfjs finds no path from any backbone variable to the detached term.
        expect(() => tf.variableGrads(() => lwmAttentionLoss(step, layout, false), net.backbone.trainableVariables))
          .toThrow(/Cannot find a connection between any variable and the result/);
      });
    } finally {
      tf.dispose([batch.x, batch.y, batch.replay]);
      net.dispose();
      teacher.dispose();
    }
  });
});
