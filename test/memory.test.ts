/**
 * Exemplar memory tests: herding against a brute-force reference, random selection, budgets, reduce, JSON round
 * trip, prototypes / covariances / radius against hand-computed values, and NME = nearest class mean.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import {
  ExemplarMemory, classCovariances, classMeans, exemplarsPerClass, herdingSelection, nmeClassMeans, nmePredict,
  nmeScores, prototypeRadius, randomSelection,
} from '../kernel-lib/memory/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function pseudoRandom(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296 * 2 - 1) * scale;
  });
}

function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tol) throw new Error(`index ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}

/**
 * Brute-force herding: at step k, for every candidate not yet chosen, form the chosen set plus that candidate,
 * recompute its mean from scratch, and take the candidate whose set mean is nearest the class mean.
 */
function bruteForceHerding(rows: number[][], m: number): number[] {
  const unit = rows.map((r) => {
    const norm = Math.sqrt(r.reduce((s, v) => s + v * v, 0));
    return r.map((v) => v / norm);
  });
  const dim = rows[0].length;
  const mean = (set: number[][]) => Array.from({ length: dim }, (_, d) => set.reduce((s, r) => s + r[d], 0) / set.length);
  const mu = mean(unit);
  const chosen: number[] = [];
  while (chosen.length < m) {
    let best = -1;
    let bestDistance = Infinity;
    for (let i = 0; i < unit.length; i++) {
      if (chosen.includes(i)) continue;
      const m2 = mean([...chosen, i].map((j) => unit[j]));
      const distance = Math.sqrt(m2.reduce((s, v, d) => s + (v - mu[d]) ** 2, 0));
      if (distance < bestDistance) {
        bestDistance = distance;
        best = i;
      }
    }
    chosen.push(best);
  }
  return chosen;
}

describe('herdingSelection', () => {
  it('matches a brute-force reference on small data', () => {
    for (const seed of [1, 2, 3]) {
      const [n, dim, m] = [14, 5, 9];
      const data = pseudoRandom(n * dim, seed);
      const rows = Array.from({ length: n }, (_, i) => data.slice(i * dim, (i + 1) * dim));
      const order = herdingSelection({ data: Float32Array.from(data), rows: n, dim }, m);
      expect(Array.from(order)).toEqual(bruteForceHerding(rows, m));
      expect(new Set(order).size).toBe(m);
    }
  });

  it('works on L2-normalised features: per-row scaling does not change the order; tensors and arrays agree', () => {
    const [n, dim] = [10, 4];
    const data = pseudoRandom(n * dim, 7);
    const scales = pseudoRandom(n, 8).map((v) => 0.5 + 3 * Math.abs(v));
    const scaled = data.map((v, i) => v * scales[Math.floor(i / dim)]);
    const a = herdingSelection({ data: Float32Array.from(data), rows: n, dim }, 6);
    const b = herdingSelection({ data: Float32Array.from(scaled), rows: n, dim }, 6);
    expect(Array.from(b)).toEqual(Array.from(a));
    const t = tf.tensor2d(data, [n, dim]);
    expect(Array.from(herdingSelection(t, 6))).toEqual(Array.from(a));
    t.dispose();
  });

  it('picks first the sample nearest the class mean (hand example)', () => {
    // Unit vectors at angles -40, 5, 30, 90 degrees: the mean points at about 21 degrees; the 30-degree
    // sample is nearest. Then the one that best re-centres the pair.
    const deg = [-40, 5, 30, 90].map((a) => (a * Math.PI) / 180);
    const data = Float32Array.from(deg.flatMap((a) => [Math.cos(a), Math.sin(a)]));
    const order = herdingSelection({ data, rows: 4, dim: 2 }, 4);
    expect(order[0]).toBe(2);
    expect(Array.from(order).sort()).toEqual([0, 1, 2, 3]);
    expect(() => herdingSelection({ data, rows: 4, dim: 2 }, 5)).toThrow(/cannot select 5 exemplars from 4/);
  });
});

describe('randomSelection', () => {
  it('is seeded, without replacement, and in range', () => {
    const a = randomSelection(50, 20, generator(42));
    const b = randomSelection(50, 20, generator(42));
    const c = randomSelection(50, 20, generator(43));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(new Set(a).size).toBe(20);
    expect(Array.from(a).every((i) => i >= 0 && i < 50)).toBe(true);
    expect(Array.from(randomSelection(6, 6, generator(1))).sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('exemplarsPerClass', () => {
  it('fixed per class, and fixed total shrinking as classes arrive', () => {
    expect(exemplarsPerClass({ selection: 'herding', perClass: 20 }, 70)).toBe(20);
    expect(exemplarsPerClass({ selection: 'herding', total: 2000 }, 10)).toBe(200);
    expect(exemplarsPerClass({ selection: 'herding', total: 2000 }, 30)).toBe(66);
    expect(exemplarsPerClass({ selection: 'herding', total: 2000 }, 100)).toBe(20);
    expect(() => exemplarsPerClass({ selection: 'herding', total: 2000, perClass: 20 }, 10)).toThrow(/exactly one of perClass or total/);
    expect(() => exemplarsPerClass({ selection: 'herding' }, 10)).toThrow(/exactly one/);
  });
});

describe('ExemplarMemory', () => {
  // Training set: 30 samples, labels i % 3; features: a deterministic 3-d vector per index.
  const featureData = pseudoRandom(30 * 3, 99);
  const featuresOf = (indices: Int32Array) => tf.tensor2d(Array.from(indices).flatMap((i) => featureData.slice(3 * i, 3 * i + 3)), [indices.length, 3]);
  const candidates = (cls: number) => Int32Array.from({ length: 10 }, (_, k) => 3 * k + cls);

  it('fixed total: selects by herding, shrinks old classes to the head of their order, round-trips through JSON', () => {
    const memory = new ExemplarMemory();
    const policy = { selection: 'herding' as const, total: 8 };
    const before = tf.memory().numTensors;
    expect(memory.update(policy, new Map([[0, candidates(0)], [1, candidates(1)]]), { features: featuresOf })).toBe(4);
    expect(tf.memory().numTensors).toBe(before); // the features tensors were disposed
    const first = memory.get(0) as Int32Array;
    expect(first.length).toBe(4);
    // Same as herding the class directly.
    const direct = herdingSelection({ data: Float32Array.from(Array.from(candidates(0)).flatMap((i) => featureData.slice(3 * i, 3 * i + 3))), rows: 10, dim: 3 }, 4);
    expect(Array.from(first)).toEqual(Array.from(direct, (p) => candidates(0)[p]));
    const class1Before = Array.from(memory.get(1) as Int32Array);

    expect(memory.update(policy, new Map([[2, candidates(2)]]), { features: featuresOf })).toBe(2); // floor(8 / 3)
    expect(Array.from(memory.get(0) as Int32Array)).toEqual(Array.from(first.slice(0, 2)));
    expect(Array.from(memory.get(1) as Int32Array)).toEqual(class1Before.slice(0, 2));
    expect(memory.size).toBe(6);
    expect(memory.classes()).toEqual([0, 1, 2]);

    const all = memory.all();
    expect(Array.from(all.labels)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(Array.from(all.indices).every((i, k) => i % 3 === all.labels[k])).toBe(true);

    const restored = ExemplarMemory.fromJSON(JSON.parse(JSON.stringify(memory)));
    expect(restored.toJSON()).toEqual(memory.toJSON());
    expect([...restored.toMap().entries()].map(([c, v]) => [c, Array.from(v)])).toEqual([...memory.toMap().entries()].map(([c, v]) => [c, Array.from(v)]));
  });

  it('fixed per class with seeded random selection; small classes keep all their samples', () => {
    const policy = { selection: 'random' as const, perClass: 4 };
    const a = new ExemplarMemory();
    const b = new ExemplarMemory();
    a.update(policy, new Map([[0, candidates(0)], [1, Int32Array.from([1, 4])]]), { random: generator(5) });
    b.update(policy, new Map([[0, candidates(0)], [1, Int32Array.from([1, 4])]]), { random: generator(5) });
    expect(a.toJSON()).toEqual(b.toJSON());
    expect((a.get(0) as Int32Array).length).toBe(4);
    expect(Array.from(a.get(1) as Int32Array).sort()).toEqual([1, 4]);
    expect(Array.from(a.get(0) as Int32Array).every((i) => i % 3 === 0)).toBe(true);
    a.update(policy, new Map([[2, candidates(2)]]), { random: generator(6) });
    expect((a.get(0) as Int32Array).length).toBe(4); // per-class budget does not shrink
  });

  it('rejects bad input with clear errors', () => {
    const memory = new ExemplarMemory();
    memory.set(0, Int32Array.from([3, 6]));
    expect(() => memory.update({ selection: 'herding', perClass: 2 }, new Map([[0, candidates(0)]]), { features: featuresOf })).toThrow(/class 0 is already in memory/);
    expect(() => memory.update({ selection: 'herding', perClass: 2 }, new Map([[1, candidates(1)]]), {})).toThrow(/needs sources.features/);
    expect(() => memory.update({ selection: 'random', perClass: 2 }, new Map([[1, candidates(1)]]), {})).toThrow(/needs sources.random/);
    expect(() => ExemplarMemory.fromJSON({ classes: [] })).toThrow(/not a kdcl exemplar memory/);
    expect(() => ExemplarMemory.fromJSON({ format: 'kdcl-exemplar-memory', version: 1, classes: [[0, [1, -2]]] })).toThrow(/classes\[0\]/);
    expect(() => memory.set(1, Int32Array.from([2, 2]))).toThrow(/duplicates/);
  });
});

describe('prototypes', () => {
  it('class means: plain, and NME (mean of normalised features, renormalised)', () => {
    // Class 0: [3, 4], [0, 2] -> plain mean [1.5, 3]; normalised rows [0.6, 0.8], [0, 1] -> mean [0.3, 0.9] ->
    // / sqrt(0.9) = [0.316228, 0.948683]. Class 1: [2, 0] -> [2, 0] and [1, 0].
    const features = { data: Float32Array.from([3, 4, 2, 0, 0, 2]), rows: 3, dim: 2 };
    const labels = Int32Array.from([0, 1, 0]);
    const plain = classMeans(features, labels, [1, 0]);
    expectAllClose(plain.data, [2, 0, 1.5, 3]);
    const nme = nmeClassMeans(features, labels, [0, 1]);
    expectAllClose(nme.data, [0.3 / Math.sqrt(0.9), 0.9 / Math.sqrt(0.9), 1, 0]);
    expect(() => classMeans(features, labels, [2])).toThrow(/class 2 has 0 feature rows/);
  });

  it('covariances are unbiased (np.cov) and the PASS radius is sqrt(mean trace / D)', () => {
    // Class 0: [0,0], [2,0], [1,3]: mean [1,1]; centred [-1,-1], [1,-1], [0,2] -> [[2, 0], [0, 6]] / 2 = diag(1, 3).
    // Class 1: [1,2], [3,6]: centred [-1,-2], [1,2] -> [[2, 4], [4, 8]] / 1.
    // Radius: traces / D = 4/2 = 2 and 10/2 = 5 -> sqrt(3.5).
    const features = { data: Float32Array.from([0, 0, 1, 2, 2, 0, 3, 6, 1, 3]), rows: 5, dim: 2 };
    const labels = Int32Array.from([0, 1, 0, 1, 0]);
    const cov = classCovariances(features, labels, [0, 1]);
    expect([cov.classes, cov.dim]).toEqual([2, 2]);
    expectAllClose(cov.data, [1, 0, 0, 3, 2, 4, 4, 8]);
    expect(prototypeRadius(features, labels, [0, 1])).toBeCloseTo(Math.sqrt(3.5), 10);
    expect(() => classCovariances(features, labels, [0, 2])).toThrow(/class 2 has 0 feature rows, needs at least 2/);
  });
});

describe('NME classifier', () => {
  it('scores are negative squared distances of normalised features (hand example)', () => {
    // f = [3, 4] -> [0.6, 0.8]: to [1, 0]: 0.16 + 0.64 = 0.8; to [0, 1]: 0.36 + 0.04 = 0.4.
    const f = tf.tensor2d([[3, 4]]);
    const means = { data: Float32Array.from([1, 0, 0, 1]), rows: 2, dim: 2 };
    const scores = nmeScores(f, means);
    expectAllClose(scores.dataSync(), [-0.8, -0.4], 1e-6);
    expect(Array.from(nmePredict(f, means))).toEqual([1]);
    tf.dispose([f, scores]);
  });

  it('predictions equal the nearest class mean (brute force), for both metrics', () => {
    const [n, dim, classes] = [40, 6, 5];
    const data = pseudoRandom(n * dim, 11);
    const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
    const means = nmeClassMeans({ data: Float32Array.from(data), rows: n, dim }, labels, [0, 1, 2, 3, 4]);
    const queries = pseudoRandom(25 * dim, 12);
    const expected = Array.from({ length: 25 }, (_, i) => {
      const q = queries.slice(i * dim, (i + 1) * dim);
      const norm = Math.sqrt(q.reduce((s, v) => s + v * v, 0));
      let best = -1;
      let bestDistance = Infinity;
      for (let c = 0; c < classes; c++) {
        let d2 = 0;
        for (let d = 0; d < dim; d++) d2 += (q[d] / norm - means.data[c * dim + d]) ** 2;
        if (d2 < bestDistance) {
          bestDistance = d2;
          best = c;
        }
      }
      return best;
    });
    const f = tf.tensor2d(queries, [25, dim]);
    const before = tf.memory().numTensors;
    expect(Array.from(nmePredict(f, means))).toEqual(expected);
    expect(Array.from(nmePredict(f, means, 'cosine'))).toEqual(expected);
    expect(tf.memory().numTensors).toBe(before);
    f.dispose();
  });
});
