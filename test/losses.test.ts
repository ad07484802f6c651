/**
 * Loss tests: values against numbers worked out by hand (closed forms in the comments) and against independent
 * float64 loop implementations written here; gradients of the tfjs implementation (tf.grad, float32) against
 * central finite differences of the float64 reference, or against hand-derived gradients.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import {
  aggregateRotationLogits, asymmetricKD, attentionDistillation, bceWithLogits, crossEntropy, featureCosine, featureL2,
  gradCam, icarlTargets, isdaLogits, klDistillation, logitL2, marginRanking, rotationZeroColumns, rotationZeroRows,
  separatedSoftmaxCE, softTargetCE, stopGradient, taskwiseKD,
} from '../kernel-lib/losses/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------- float64 reference helpers (plain loops, independent of the implementation) ----------

type Vec = number[];

function rows(data: ArrayLike<number>, r: number, c: number): Vec[] {
  return Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => data[i * c + j]));
}

function logSoftmax64(v: Vec): Vec {
  const m = Math.max(...v);
  const lse = m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
  return v.map((x) => x - lse);
}

function softmax64(v: Vec): Vec {
  return logSoftmax64(v).map(Math.exp);
}

function sigmoid64(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Deterministic values in [-scale, scale). */
function pseudoRandom(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296 * 2 - 1) * scale;
  });
}

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const ok = Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i]));
    if (!ok) throw new Error(`index ${i}: got ${actual[i]}, expected ${expected[i]} (tol ${tol})`);
  }
}

function scalarValue(t: tf.Scalar): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

/**
 * tf.grad of `lossTf` at x0 (float32) against central differences of the float64 `lossRef` (h = 1e-6).
 * Also checks the two agree in value, so the finite differences are of the same function.
 */
function checkGradient(
  lossTf: (x: tf.Tensor) => tf.Scalar, lossRef: (x: number[]) => number, x0: number[], shape: number[], tol = 2e-4,
): void {
  const x = tf.tensor(x0, shape);
  const value = scalarValue(tf.tidy(() => lossTf(x)));
  expect(value).toBeCloseTo(lossRef(x0), 4);
  const gradTensor = tf.grad(lossTf)(x);
  const analytic = gradTensor.dataSync();
  gradTensor.dispose();
  x.dispose();
  const h = 1e-6;
  const numeric = x0.map((_, i) => {
    const plus = x0.slice();
    const minus = x0.slice();
    plus[i] += h;
    minus[i] -= h;
    return (lossRef(plus) - lossRef(minus)) / (2 * h);
  });
  expectAllClose(analytic, numeric, tol);
}

const ref = {
  crossEntropy(z: Vec[], y: number[], T = 1): number {
    return -z.reduce((s, row, i) => s + logSoftmax64(row.map((v) => v / T))[y[i]], 0) / z.length;
  },
  softTargetCE(z: Vec[], t: Vec[], T: number): number {
    let total = 0;
    for (let i = 0; i < z.length; i++) {
      const p = softmax64(t[i].map((v) => v / T));
      const logQ = logSoftmax64(z[i].slice(0, t[i].length).map((v) => v / T));
      for (let c = 0; c < p.length; c++) total -= p[c] * logQ[c];
    }
    return total / z.length;
  },
  kl(z: Vec[], t: Vec[], T: number): number {
    let total = 0;
    for (let i = 0; i < z.length; i++) {
      const logP = logSoftmax64(t[i].map((v) => v / T));
      const logQ = logSoftmax64(z[i].slice(0, t[i].length).map((v) => v / T));
      for (let c = 0; c < logP.length; c++) total += Math.exp(logP[c]) * (logP[c] - logQ[c]);
    }
    return (total / z.length) * T * T;
  },
  bce(z: Vec[], t: Vec[]): number {
    let total = 0;
    let count = 0;
    for (let i = 0; i < z.length; i++) {
      for (let c = 0; c < z[i].length; c++) {
        const s = sigmoid64(z[i][c]);
        total -= t[i][c] * Math.log(s) + (1 - t[i][c]) * Math.log(1 - s);
        count++;
      }
    }
    return total / count;
  },
  separated(z: Vec[], y: number[], replay: number[], old: number): number {
    let total = 0;
    for (let i = 0; i < z.length; i++) {
      total -= replay[i] ? logSoftmax64(z[i].slice(0, old))[y[i]] : logSoftmax64(z[i].slice(old))[y[i] - old];
    }
    return total / z.length;
  },
  marginRanking(s: Vec[], y: number[], old: number, m: number, k: number): number {
    let total = 0;
    let pairs = 0;
    for (let i = 0; i < s.length; i++) {
      if (y[i] >= old) continue;
      const novel = s[i].slice(old).sort((a, b) => b - a).slice(0, k);
      for (const n of novel) total += Math.max(0, m - s[i][y[i]] + n);
      pairs += k;
    }
    return pairs === 0 ? 0 : total / pairs;
  },
  /** Grad-CAM by its definition for logits = GAP(A) W: alpha_k = mean_hw d logit_c / d A_hwk = W[k][c] / HW. */
  gradCam(a: number[], n: number, hw: number, d: number, w: Vec[], c: number[]): Vec[] {
    return Array.from({ length: n }, (_, i) => Array.from({ length: hw }, (_, p) => {
      let s = 0;
      for (let k = 0; k < d; k++) s += (w[k][c[i]] / hw) * a[(i * hw + p) * d + k];
      return Math.max(0, s);
    }));
  },
  attention(q: Vec[], qOld: Vec[]): number {
    const unit = (v: Vec) => {
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      return v.map((x) => (norm > 0 ? x / norm : 0));
    };
    let total = 0;
    for (let i = 0; i < q.length; i++) {
      const a = unit(q[i]);
      const b = unit(qOld[i]);
      for (let j = 0; j < a.length; j++) total += Math.abs(a[j] - b[j]);
    }
    return total / q.length;
  },
};

// ---------- tests ----------

describe('crossEntropy', () => {
  it('matches the hand-computed value and gradient', () => {
    // softmax([0, ln3]) = [1/4, 3/4], label 1: -ln(3/4); softmax([ln2, 0]) = [2/3, 1/3], label 0: -ln(2/3).
    // Mean = (ln(4/3) + ln(3/2)) / 2 = ln(2) / 2.
    const logits = tf.tensor2d([[0, Math.log(3)], [Math.log(2), 0]]);
    expect(scalarValue(crossEntropy(logits, [1, 0]))).toBeCloseTo(Math.log(2) / 2, 6);
    // d/dz = (softmax - onehot) / N.
    const g = tf.grad((z: tf.Tensor) => crossEntropy(z as tf.Tensor2D, tf.tensor1d([1, 0], 'int32')))(logits);
    expectAllClose(g.dataSync(), [1 / 8, -1 / 8, -1 / 6, 1 / 6], 1e-6);
    tf.dispose([logits, g]);
  });

  it('with a temperature matches the float64 reference; gradient check', () => {
    const x0 = pseudoRandom(12, 1, 3);
    const y = [0, 3, 2];
    checkGradient((z) => crossEntropy(z as tf.Tensor2D, y, { temperature: 0.5 }), (x) => ref.crossEntropy(rows(x, 3, 4), y, 0.5), x0, [3, 4]);
  });

  it('over a single class (a task of one class) is 0 with zero gradient', () => {
    // log softmax of one logit is 0 whatever the logit (torch's cross_entropy on an [N, 1] input agrees).
    const logits = tf.tensor2d([[2.5], [-1]]);
    expect(Math.abs(scalarValue(crossEntropy(logits, [0, 0])))).toBe(0);
    const g = tf.grad((z: tf.Tensor) => crossEntropy(z as tf.Tensor2D, [0, 0]))(logits);
    expectAllClose(g.dataSync(), [0, 0], 0);
    tf.dispose([logits, g]);
  });

  it('rejects out-of-range labels with a clear error', () => {
    const logits = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(() => crossEntropy(logits, [0, 3])).toThrow(/labels\[1\] = 3 is not a class index in \[0, 3\)/);
    logits.dispose();
  });
});

describe('softTargetCE (LwF/EEIL/BiC)', () => {
  it('matches the hand-computed value, distilling only the teacher\'s columns', () => {
    // T = 2: teacher [0, 2 ln3] / 2 -> p = softmax([0, ln3]) = [1/4, 3/4]; student [2 ln2, 0] / 2 -> q = [2/3, 1/3].
    // L = -(1/4 ln(2/3) + 3/4 ln(1/3)). The student's third column (a new class) is ignored.
    const student = tf.tensor2d([[2 * Math.log(2), 0, 5]]);
    const teacher = tf.tensor2d([[0, 2 * Math.log(3)]]);
    const expected = -(0.25 * Math.log(2 / 3) + 0.75 * Math.log(1 / 3));
    expect(expected).toBeCloseTo(0.925325, 5);
    expect(scalarValue(softTargetCE(student, teacher, 2))).toBeCloseTo(expected, 6);
    tf.dispose([student, teacher]);
  });

  it('gradient check (float64 reference), and no gradient to the teacher', () => {
    const teacherData = pseudoRandom(6, 2, 2);
    const teacher = tf.tensor2d(teacherData, [2, 3]);
    checkGradient((z) => softTargetCE(z as tf.Tensor2D, teacher, 2), (x) => ref.softTargetCE(rows(x, 2, 4), rows(teacherData, 2, 3), 2), pseudoRandom(8, 3, 2), [2, 4]);
    const student = tf.tensor2d(pseudoRandom(6, 4), [2, 3]);
    const gTeacher = tf.grad((t: tf.Tensor) => softTargetCE(student, t as tf.Tensor2D, 2))(teacher);
    expectAllClose(gTeacher.dataSync(), new Array(6).fill(0), 0);
    tf.dispose([teacher, student, gTeacher]);
  });
});

describe('klDistillation (SS-IL, T^2 batchmean)', () => {
  it('matches the hand-computed value', () => {
    // Same p, q as above: KL = 1/4 ln((1/4)/(2/3)) + 3/4 ln((3/4)/(1/3)) = 0.362990; times T^2 = 4.
    const student = tf.tensor2d([[2 * Math.log(2), 0]]);
    const teacher = tf.tensor2d([[0, 2 * Math.log(3)]]);
    const kl = 0.25 * Math.log(0.25 / (2 / 3)) + 0.75 * Math.log(0.75 / (1 / 3));
    expect(kl).toBeCloseTo(0.36299, 5);
    expect(scalarValue(klDistillation(student, teacher, 2))).toBeCloseTo(4 * kl, 5);
    // Identical distributions: zero.
    expect(scalarValue(klDistillation(teacher, teacher, 2))).toBeCloseTo(0, 6);
    tf.dispose([student, teacher]);
  });

  it('gradient check (float64 reference)', () => {
    const teacherData = pseudoRandom(9, 5, 2);
    const teacher = tf.tensor2d(teacherData, [3, 3]);
    checkGradient((z) => klDistillation(z as tf.Tensor2D, teacher, 2), (x) => ref.kl(rows(x, 3, 3), rows(teacherData, 3, 3), 2), pseudoRandom(9, 6, 2), [3, 3]);
    teacher.dispose();
  });
});

describe('taskwiseKD (SS-IL)', () => {
  it('sums the per-block KL (softmax within each old task) and leaves new-class logits alone', () => {
    const teacherData = pseudoRandom(10, 7, 2); // 2 samples x 5 old classes: tasks [0,2) and [2,5)
    const x0 = pseudoRandom(14, 8, 2); // student: 7 classes (2 new)
    const blocks = [{ start: 0, end: 2 }, { start: 2, end: 5 }];
    const refFn = (x: number[]) => {
      const z = rows(x, 2, 7);
      const t = rows(teacherData, 2, 5);
      return blocks.reduce((s, b) => s + ref.kl(z.map((r) => r.slice(b.start, b.end)), t.map((r) => r.slice(b.start, b.end)), 2), 0);
    };
    const teacher = tf.tensor2d(teacherData, [2, 5]);
    checkGradient((z) => taskwiseKD(z as tf.Tensor2D, teacher, blocks), refFn, x0, [2, 7]);
    // A block-wise KL differs from the KL over all old classes jointly.
    const z = tf.tensor2d(x0, [2, 7]);
    expect(Math.abs(scalarValue(taskwiseKD(z, teacher, blocks)) - ref.kl(rows(x0, 2, 7), rows(teacherData, 2, 5), 2))).toBeGreaterThan(1e-3);
    // Gradient to the new-class columns is zero.
    const g = tf.grad((s: tf.Tensor) => taskwiseKD(s as tf.Tensor2D, teacher, blocks))(z);
    const gr = rows(g.dataSync(), 2, 7);
    for (const r of gr) expect([r[5], r[6]]).toEqual([0, 0]);
    tf.dispose([teacher, z, g]);
  });

  it('rejects blocks outside the teacher', () => {
    const t = tf.zeros([1, 3]) as tf.Tensor2D;
    expect(() => taskwiseKD(t, t, [{ start: 0, end: 4 }])).toThrow(/blocks\[0\]/);
    expect(() => taskwiseKD(t, t, [])).toThrow(/blocks is empty/);
    t.dispose();
  });
});

describe('logitL2', () => {
  it('is the mean squared difference over all elements; gradient 2(z - t)/(NK)', () => {
    // Differences 1, 2, 2, 3 -> squares 1, 4, 4, 9 -> mean 4.5.
    const z = tf.tensor2d([[1, 2, 9], [3, 4, 9]]);
    const t = tf.tensor2d([[0, 0], [1, 1]]);
    expect(scalarValue(logitL2(z, t))).toBeCloseTo(4.5, 6);
    const g = tf.grad((s: tf.Tensor) => logitL2(s as tf.Tensor2D, t))(z);
    expectAllClose(g.dataSync(), [0.5, 1, 0, 1, 1.5, 0], 1e-6);
    tf.dispose([z, t, g]);
  });
});

describe('featureL2 (PASS/IL2A/PRAKA torch.dist)', () => {
  it('is the Frobenius norm over the batch; gradient (f - f_old)/norm', () => {
    // f - f_old = [[3, 0], [0, 4]] -> sqrt(9 + 16) = 5.
    const f = tf.tensor2d([[4, 1], [2, 6]]);
    const fOld = tf.tensor2d([[1, 1], [2, 2]]);
    expect(scalarValue(featureL2(f, fOld))).toBeCloseTo(5, 6);
    const g = tf.grad((x: tf.Tensor) => featureL2(x as tf.Tensor2D, fOld))(f);
    expectAllClose(g.dataSync(), [0.6, 0, 0, 0.8], 1e-6);
    tf.dispose([f, fOld, g]);
  });

  it('has a zero, not NaN, gradient when the features are equal (student == teacher at a task start)', () => {
    const f = tf.tensor2d([[1, 2], [3, 4]]);
    const g = tf.grad((x: tf.Tensor) => featureL2(x as tf.Tensor2D, f))(f);
    expectAllClose(g.dataSync(), [0, 0, 0, 0], 0);
    tf.dispose([f, g]);
  });
});

describe('featureCosine (LUCIR less-forget)', () => {
  it('is mean(1 - cos); gradient check', () => {
    // cos([1,0],[0,1]) = 0, cos([1,1],[1,1]) = 1 -> mean(1 - cos) = 0.5.
    const f = tf.tensor2d([[1, 0], [1, 1]]);
    const g = tf.tensor2d([[0, 1], [1, 1]]);
    expect(scalarValue(featureCosine(f, g))).toBeCloseTo(0.5, 6);
    const oldData = pseudoRandom(6, 9);
    const old = tf.tensor2d(oldData, [2, 3]);
    const refFn = (x: number[]) => {
      let s = 0;
      for (let i = 0; i < 2; i++) {
        const a = x.slice(3 * i, 3 * i + 3);
        const b = oldData.slice(3 * i, 3 * i + 3);
        const dot = a.reduce((acc, v, j) => acc + v * b[j], 0);
        s += 1 - dot / Math.sqrt(a.reduce((acc, v) => acc + v * v, 0) * b.reduce((acc, v) => acc + v * v, 0));
      }
      return s / 2;
    };
    checkGradient((x) => featureCosine(x as tf.Tensor2D, old), refFn, pseudoRandom(6, 10), [2, 3]);
    tf.dispose([f, g, old]);
  });
});

describe('bceWithLogits and icarlTargets (iCaRL)', () => {
  it('BCE matches the hand-computed value (mean over batch and classes)', () => {
    // -ln sigmoid(0) = ln2; -ln(1 - sigmoid(ln3)) = -ln(1/4) = 2 ln2; mean = 1.5 ln2.
    const z = tf.tensor2d([[0, Math.log(3)]]);
    const t = tf.tensor2d([[1, 0]]);
    expect(scalarValue(bceWithLogits(z, t))).toBeCloseTo(1.5 * Math.log(2), 6);
    tf.dispose([z, t]);
  });

  it('BCE gradient check (float64 reference), soft targets', () => {
    const targets = pseudoRandom(8, 11).map((v) => (v + 1) / 2);
    const t = tf.tensor2d(targets, [2, 4]);
    checkGradient((x) => bceWithLogits(x as tf.Tensor2D, t), (x) => ref.bce(rows(x, 2, 4), rows(targets, 2, 4)), pseudoRandom(8, 12, 4), [2, 4]);
    t.dispose();
  });

  it('targets: sigmoid of the old logits for old classes, one-hot for new ones', () => {
    // sigmoid(0) = 1/2, sigmoid(ln3) = 3/4, sigmoid(-ln3) = 1/4. Labels [2, 0] over 3 classes, 2 old.
    const teacher = tf.tensor2d([[0, Math.log(3)], [-Math.log(3), 0]]);
    const targets = icarlTargets([2, 0], teacher, 3);
    expectAllClose(targets.dataSync(), [0.5, 0.75, 1, 0.25, 0.5, 0], 1e-6);
    const first = icarlTargets([1, 0], null, 2);
    expectAllClose(first.dataSync(), [0, 1, 1, 0], 0);
    tf.dispose([teacher, targets, first]);
  });
});

describe('separatedSoftmaxCE (SS-IL)', () => {
  const old = 2;
  // Row 0 (new, label 3): new block [0, ln3] -> -ln(3/4); row 1 (replay, label 0): old block [ln2, 0] -> -ln(2/3).
  const data = [5, -1, 0, Math.log(3), Math.log(2), 0, 7, 9];

  it('matches the hand-computed value and gradient', () => {
    const logits = tf.tensor2d(data, [2, 4]);
    const replay = tf.tensor1d([0, 1]);
    expect(scalarValue(separatedSoftmaxCE(logits, [3, 0], replay, old))).toBeCloseTo(Math.log(2) / 2, 6);
    const g = tf.grad((z: tf.Tensor) => separatedSoftmaxCE(z as tf.Tensor2D, [3, 0], replay, old))(logits);
    // Row 0: old columns 0, new (softmax - onehot)/2 = [1/8, -1/8]; row 1: old [-1/6, 1/6], new 0.
    expectAllClose(g.dataSync(), [0, 0, 1 / 8, -1 / 8, -1 / 6, 1 / 6, 0, 0], 1e-6);
    tf.dispose([logits, replay, g]);
  });

  it('new-task samples send exactly zero gradient to the old-class logits; gradient check', () => {
    const x0 = pseudoRandom(20, 13, 3);
    const y = [2, 3, 2, 0, 1];
    const isReplay = [0, 0, 0, 1, 1];
    const replay = tf.tensor1d(isReplay);
    checkGradient((z) => separatedSoftmaxCE(z as tf.Tensor2D, y, replay, old), (x) => ref.separated(rows(x, 5, 4), y, isReplay, old), x0, [5, 4]);
    const logits = tf.tensor2d(x0, [5, 4]);
    const gradient = tf.grad((z: tf.Tensor) => separatedSoftmaxCE(z as tf.Tensor2D, y, replay, old))(logits);
    const g = rows(gradient.dataSync(), 5, 4);
    gradient.dispose();
    for (let i = 0; i < 3; i++) expect([g[i][0], g[i][1]]).toEqual([0, 0]);
    for (let i = 3; i < 5; i++) expect([g[i][2], g[i][3]]).toEqual([0, 0]);
    tf.dispose([replay, logits]);
  });

  it('on the first task (no old classes) is the plain CE', () => {
    const logits = tf.tensor2d(data, [2, 4]);
    const replay = tf.tensor1d([0, 0]);
    expect(scalarValue(separatedSoftmaxCE(logits, [3, 0], replay, 0))).toBeCloseTo(ref.crossEntropy(rows(data, 2, 4), [3, 0]), 5);
    tf.dispose([logits, replay]);
  });
});

describe('marginRanking (LUCIR)', () => {
  // Old classes 0, 1; new 2, 3. Row 0 (label 0): gt 0.9 vs 0.6 -> 0.2, vs 0.3 -> 0. Row 1 (label 1): gt 0.4 vs
  // 0.7 -> 0.8, vs -0.1 -> 0. Row 2 (new class) is not a hard sample. Mean over 2 x 2 pairs = 0.25.
  const scores = [0.9, 0.1, 0.3, 0.6, 0.2, 0.4, 0.7, -0.1, 0.1, 0.2, 0.3, 0.9];
  const y = [0, 1, 3];

  it('matches the hand-computed value and gradient', () => {
    const s = tf.tensor2d(scores, [3, 4]);
    expect(scalarValue(marginRanking(s, y, 2))).toBeCloseTo(0.25, 6);
    const g = tf.grad((x: tf.Tensor) => marginRanking(x as tf.Tensor2D, y, 2))(s);
    expectAllClose(g.dataSync(), [-0.25, 0, 0, 0.25, 0, -0.25, 0.25, 0, 0, 0, 0, 0], 1e-6);
    tf.dispose([s, g]);
  });

  it('uses the K hardest new classes; gradient check; zero without old-class samples', () => {
    const x0 = pseudoRandom(24, 14);
    const labels = [0, 2, 1, 5];
    checkGradient((x) => marginRanking(x as tf.Tensor2D, labels, 3, { k: 2 }), (x) => ref.marginRanking(rows(x, 4, 6), labels, 3, 0.5, 2), x0, [4, 6]);
    const s = tf.tensor2d(x0, [4, 6]);
    expect(scalarValue(marginRanking(s, [3, 4, 5, 5], 3))).toBe(0);
    expect(() => marginRanking(s, labels, 3, { k: 4 })).toThrow(/k must be an integer in \[1, 3\]/);
    s.dispose();
  });
  it('with a single new class (K = 1): gt score against that class', () => {
    // Old classes 0, 1; new class 2. Row 0 (label 0): 0.5 - 0.9 + 0.7 = 0.3; row 1 (label 1): 0.5 - 0.8 + 0.1 < 0.
    const s = tf.tensor2d([0.9, 0.2, 0.7, 0.3, 0.8, 0.1], [2, 3]);
    expect(scalarValue(marginRanking(s, [0, 1], 2, { k: 1 }))).toBeCloseTo(0.15, 6);
    s.dispose();
  });
});

describe('isdaLogits (IL2A)', () => {
  it('adds (lambda/2) (w_j - w_y)^T Sigma_y (w_j - w_y): hand-computed', () => {
    // w_0 = (1, 0), w_1 = (0, 1) (kernel columns); Sigma_0 = diag(2, 3); v = w_1 - w_0 = (-1, 1): v'Sv = 5.
    // lambda = 2.5: logit 1 gains 0.5 * 2.5 * 5 = 6.25; logit 0 (the true class) is unchanged.
    const logits = tf.tensor2d([[1, 2]]);
    const w = tf.tensor2d([[1, 0], [0, 1]]);
    const cov = tf.tensor3d([[[2, 0], [0, 3]], [[1, 0], [0, 1]]]);
    const out = isdaLogits(logits, w, [0], cov, 2.5);
    expectAllClose(out.dataSync(), [1, 8.25], 1e-6);
    tf.dispose([logits, w, cov, out]);
  });

  it('gradient w.r.t. the head weights (float64 reference)', () => {
    const d = 3;
    const c = 4;
    const covData = [pseudoRandom(9, 15), pseudoRandom(9, 16)].map((a) => {
      // A A^T + I: symmetric positive definite.
      const m: number[] = [];
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m.push((i === j ? 1 : 0) + [0, 1, 2].reduce((s, k) => s + a[i * d + k] * a[j * d + k], 0));
      return m;
    });
    const cov = tf.tensor3d(covData.flat(), [2, d, d]);
    const logitsData = pseudoRandom(2 * c, 17);
    const logits = tf.tensor2d(logitsData, [2, c]);
    const labels = [1, 0];
    const target = [3, 2]; // CE on the augmented logits, as IL2A trains them
    const refFn = (wFlat: number[]) => {
      const w = rows(wFlat, d, c);
      const aug = labels.map((yi, i) => Array.from({ length: c }, (_, j) => {
        const v = Array.from({ length: d }, (_, k) => w[k][j] - w[k][yi]);
        let q = 0;
        for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) q += v[a] * covData[yi][a * d + b] * v[b];
        return logitsData[i * c + j] + 0.5 * 2.5 * q;
      }));
      return ref.crossEntropy(aug, target);
    };
    checkGradient((wt) => crossEntropy(isdaLogits(logits, wt as tf.Tensor2D, labels, cov, 2.5), target), refFn, pseudoRandom(d * c, 18), [d, c]);
    tf.dispose([cov, logits]);
  });
});

describe('gradCam and attentionDistillation (LwM)', () => {
  it('gradCam matches hand-computed maps', () => {
    // One sample, 1x2 map, 2 channels: A(0,0) = [1, 2], A(0,1) = [3, -4]. W = [[1, 0.5], [1, -1]] (D x C).
    // Class 0: alpha = [1, 1] / 2 -> [1.5, -0.5] -> ReLU [1.5, 0]. Class 1: alpha = [0.5, -1] / 2 -> [-0.75, 2.75].
    const a = tf.tensor4d([1, 2, 3, -4], [1, 1, 2, 2]);
    const w = tf.tensor2d([[1, 0.5], [1, -1]]);
    const cam0 = gradCam(a, w, [0]);
    const cam1 = gradCam(a, w, [1]);
    expect(cam0.shape).toEqual([1, 1, 2]);
    expectAllClose(cam0.dataSync(), [1.5, 0], 1e-6);
    expectAllClose(cam1.dataSync(), [0, 2.75], 1e-6);
    tf.dispose([a, w, cam0, cam1]);
  });

  it('gradCam equals Grad-CAM computed from the actual gradient of a GAP + linear head', () => {
    const [n, h, wd, d, c] = [2, 2, 3, 4, 5];
    const a = tf.tensor4d(pseudoRandom(n * h * wd * d, 19), [n, h, wd, d]);
    const w = tf.tensor2d(pseudoRandom(d * c, 20), [d, c]);
    const bias = tf.tensor1d(pseudoRandom(c, 21));
    const classes = [3, 1];
    // Grad-CAM by definition: alpha_k = spatial mean of d logit_c / dA, cam = ReLU(sum_k alpha_k A_k).
    const byDefinition = tf.tidy(() => {
      const gradA = tf.grad((x: tf.Tensor) => {
        const logits = tf.add(tf.matMul(tf.mean(x, [1, 2]) as tf.Tensor2D, w), bias);
        return tf.sum(tf.mul(logits, tf.oneHot(tf.tensor1d(classes, 'int32'), c)));
      })(a);
      const alpha = tf.mean(gradA, [1, 2], true);
      return tf.relu(tf.sum(tf.mul(alpha, a), 3));
    });
    const closedForm = gradCam(a, w, classes);
    expectAllClose(closedForm.dataSync(), byDefinition.dataSync(), 1e-5);
    tf.dispose([a, w, bias, byDefinition, closedForm]);
  });

  it('attentionDistillation matches the hand-computed value', () => {
    // [3, 4] / 5 = [0.6, 0.8]; [0, 2] / 2 = [0, 1]; L1 = 0.6 + 0.2 = 0.8. Second sample identical maps: 0.
    const q = tf.tensor3d([[[3, 4]], [[1, 1]]]);
    const qOld = tf.tensor3d([[[0, 2]], [[2, 2]]]);
    expect(scalarValue(attentionDistillation(q, qOld))).toBeCloseTo(0.4, 6);
    tf.dispose([q, qOld]);
  });

  it('carries gradient into the new model\'s feature map and head (FACIL issue 37); gradient check', () => {
    const [n, h, wd, d, c] = [2, 2, 2, 3, 4];
    const oldMapData = pseudoRandom(n * h * wd * d, 22).map(Math.abs);
    const wData = pseudoRandom(d * c, 23).map((v) => Math.abs(v) + 0.1); // all pixels active
    const wOldData = pseudoRandom(d * c, 24);
    const classes = [2, 0]; // the old model's top-1 classes
    const oldMap = tf.tensor4d(oldMapData, [n, h, wd, d]);
    const w = tf.tensor2d(wData, [d, c]);
    const wOld = tf.tensor2d(wOldData, [d, c]);
    const loss = (map: tf.Tensor) => attentionDistillation(gradCam(map as tf.Tensor4D, w, classes), gradCam(oldMap, wOld, classes));
    const refFn = (x: number[]) => {
      const flat = (m: Vec[]) => m;
      const q = flat(ref.gradCam(x, n, h * wd, d, rows(wData, d, c), classes));
      const qOld = flat(ref.gradCam(oldMapData, n, h * wd, d, rows(wOldData, d, c), classes));
      return ref.attention(q, qOld);
    };
    const x0 = pseudoRandom(n * h * wd * d, 25).map((v) => Math.abs(v) + 0.05);
    checkGradient(loss, refFn, x0, [n, h, wd, d], 5e-4);
    const newMap = tf.tensor4d(x0, [n, h, wd, d]);
    const gMap = tf.grad(loss)(newMap);
    const gW = tf.grad((wt: tf.Tensor) => attentionDistillation(gradCam(newMap, wt as tf.Tensor2D, classes), gradCam(oldMap, wOld, classes)))(w);
    expect(tf.tidy(() => tf.max(tf.abs(gMap)).dataSync()[0])).toBeGreaterThan(1e-3);
    expect(tf.tidy(() => tf.max(tf.abs(gW)).dataSync()[0])).toBeGreaterThan(1e-3);
    // The old model's map gets none.
    const gOld = tf.grad((m: tf.Tensor) => attentionDistillation(gradCam(newMap, w, classes), gradCam(m as tf.Tensor4D, wOld, classes)))(oldMap);
    expect(tf.tidy(() => tf.max(tf.abs(gOld)).dataSync()[0])).toBe(0);
    tf.dispose([oldMap, w, wOld, newMap, gMap, gW, gOld]);
  });

  it('an all-zero map gives a finite loss and gradient', () => {
    const q = tf.zeros([1, 2, 2]);
    const qOld = tf.tensor3d([[[1, 0], [0, 0]]]);
    expect(scalarValue(attentionDistillation(q, qOld))).toBeCloseTo(1, 6);
    const g = tf.grad((x: tf.Tensor) => attentionDistillation(x, qOld))(q);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([q, qOld, g]);
  });
});

describe('PRAKA rotation aggregation and asymmetric KD', () => {
  it('aggregates the same-rotation joint logits (hand-computed)', () => {
    // R = 2, one sample: rows = rotations 0, 1; columns = (c0 r0, c0 r1, c1 r0, c1 r1).
    // agg c0 = (1 + 6) / 2 = 3.5; agg c1 = (3 + 8) / 2 = 5.5.
    const joint = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]]);
    const agg = aggregateRotationLogits(joint, 2);
    expectAllClose(agg.dataSync(), [3.5, 5.5], 1e-6);
    const col0 = rotationZeroColumns(tf.tensor2d([[1, 2, 3, 4]]), 2);
    expectAllClose(col0.dataSync(), [1, 3], 0);
    const row0 = rotationZeroRows(tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]), 2);
    expectAllClose(row0.dataSync(), [1, 2, 5, 6], 0);
    tf.dispose([joint, agg, col0, row0]);
  });

  it('R = 4 aggregation matches a loop reference', () => {
    const [b, n, r] = [2, 3, 4];
    const data = pseudoRandom(r * b * r * n, 26);
    const joint = tf.tensor2d(data, [r * b, r * n]);
    const agg = aggregateRotationLogits(joint);
    const expected: number[] = [];
    for (let i = 0; i < b; i++) {
      for (let c = 0; c < n; c++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += data[(i * r + k) * (r * n) + c * r + k];
        expected.push(s / r);
      }
    }
    expectAllClose(agg.dataSync(), expected, 1e-6);
    tf.dispose([joint, agg]);
  });

  it('asymmetricKD is KL(softmax(agg) || softmax(single)) with T = 1; only the single head gets gradient', () => {
    const aggData = pseudoRandom(6, 27, 2);
    const agg = tf.tensor2d(aggData, [2, 3]);
    checkGradient((s) => asymmetricKD(s as tf.Tensor2D, agg), (x) => ref.kl(rows(x, 2, 3), rows(aggData, 2, 3), 1), pseudoRandom(6, 28, 2), [2, 3]);
    const single = tf.tensor2d(pseudoRandom(6, 29), [2, 3]);
    const joint = tf.tensor2d(pseudoRandom(8 * 12, 30), [8, 12]);
    const gJoint = tf.grad((j: tf.Tensor) => asymmetricKD(single, aggregateRotationLogits(j as tf.Tensor2D)))(joint);
    expect(tf.tidy(() => tf.max(tf.abs(gJoint)).dataSync()[0])).toBe(0);
    tf.dispose([agg, single, joint, gJoint]);
  });
});

describe('tensor discipline', () => {
  it('no loss leaves tensors behind', () => {
    const z = tf.tensor2d(pseudoRandom(12, 31), [3, 4]);
    const t = tf.tensor2d(pseudoRandom(6, 32), [3, 2]);
    const replay = tf.tensor1d([0, 1, 0]);
    const y = tf.tensor1d([2, 1, 3], 'int32');
    const map = tf.tensor4d(pseudoRandom(3 * 2 * 2 * 4, 33), [3, 2, 2, 4]);
    const w = tf.tensor2d(pseudoRandom(16, 34), [4, 4]);
    const cov = tf.tensor3d(pseudoRandom(4 * 16, 35), [4, 4, 4]);
    const before = tf.memory().numTensors;
    const outputs: tf.Tensor[] = [
      crossEntropy(z, y), softTargetCE(z, t, 2), klDistillation(z, t, 2), taskwiseKD(z, t, [{ start: 0, end: 2 }]),
      logitL2(z, t), featureL2(z, z), featureCosine(z, z), bceWithLogits(z, z), icarlTargets(y, t, 4),
      separatedSoftmaxCE(z, y, replay, 1), marginRanking(z, [0, 1, 3], 2), isdaLogits(z, w, y, cov, 2.5),
      tf.tidy(() => attentionDistillation(gradCam(map, w, y), gradCam(map, w, y))), aggregateRotationLogits(z, 1),
      asymmetricKD(z, z), stopGradient(z),
    ];
    expect(tf.memory().numTensors).toBe(before + outputs.length);
    tf.dispose(outputs);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, t, replay, y, map, w, cov]);
  });
});
