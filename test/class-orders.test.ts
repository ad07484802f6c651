/**
 * Class orders against numpy: test/fixtures/numpy-permutations.json was made by Debian's python3-numpy with
 *   /usr/bin/python3 test/fixtures/numpy-permutations.py > test/fixtures/numpy-permutations.json
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MT19937, classOrder, numpyPermutation } from '../kernel-lib/data/class-orders';

interface Fixture {
  numpy: string;
  cases: { seed: number; n: number; order: number[] }[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/numpy-permutations.json', import.meta.url), 'utf8')) as Fixture;
const numpyOrder = (seed: number, n: number): number[] => {
  const found = fixture.cases.find((c) => c.seed === seed && c.n === n);
  if (!found) throw new Error(`no numpy fixture for seed ${seed}, n ${n}: add it to test/fixtures/numpy-permutations.py`);
  return found.order;
};

function expectPermutation(order: number[], n: number): void {
  expect(order).toHaveLength(n);
  expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe('MT19937', () => {
  it('matches the reference outputs of init_genrand(5489) (mt19937ar.c, and C++ std::mt19937 default seed)', () => {
    const mt = new MT19937(5489);
    const first = Array.from({ length: 5 }, () => mt.nextUint32());
    expect(first).toEqual([3499211612, 581869302, 3890346734, 3586334585, 545404204]);
    // std::mt19937's 10000th output for the default seed (C++11 [rand.predef]).
    for (let i = 5; i < 9999; i++) mt.nextUint32();
    expect(mt.nextUint32()).toBe(4123659995);
  });

  it('refuses seeds numpy refuses', () => {
    expect(() => new MT19937(-1)).toThrow(/seed must be an integer in \[0, 2\^32 - 1\]/);
    expect(() => new MT19937(2 ** 32)).toThrow(/seed/);
    expect(() => new MT19937(1.5)).toThrow(/seed/);
  });
});

describe("classOrder('seed1993')", () => {
  it('is numpy\'s np.random.seed(1993); np.random.permutation(100), all 100 values', () => {
    const order = classOrder('seed1993', 100);
    expect(order.slice(0, 5)).toEqual([68, 56, 78, 8, 23]);
    expect(order).toEqual(numpyOrder(1993, 100));
  });

  it.each([200, 50, 10, 1])('matches numpy for %i classes', (n) => {
    expect(classOrder('seed1993', n)).toEqual(numpyOrder(1993, n));
  });
});

describe('numpy permutations for other seeds and sizes', () => {
  it.each(fixture.cases.map((c) => [c.seed, c.n] as const))('seed %i, n %i', (seed, n) => {
    const order = numpyPermutation(seed, n);
    expect(order).toEqual(numpyOrder(seed, n));
    expectPermutation(order, n);
  });

  it('{ seed } is the numpy permutation for that seed', () => {
    expect(classOrder({ seed: 42 }, 100)).toEqual(numpyOrder(42, 100));
    expect(classOrder({ seed: 7 }, 1000)).toEqual(numpyOrder(7, 1000));
    expect(classOrder({ seed: 5 }, 10)).toEqual(classOrder({ seed: 5 }, 10));
    expect(classOrder({ seed: 5 }, 10)).not.toEqual(classOrder({ seed: 6 }, 10));
  });
});

describe("classOrder('icarl')", () => {
  it("is the original iCaRL CIFAR-100 order (PODNet's iCIFAR100.class_order)", () => {
    const order = classOrder('icarl', 100);
    expect(order.slice(0, 5)).toEqual([87, 0, 52, 58, 44]);
    expect(order.slice(-5)).toEqual([55, 54, 26, 35, 39]);
    expectPermutation(order, 100);
  });

  it('returns a copy', () => {
    classOrder('icarl', 100)[0] = -1;
    expect(classOrder('icarl', 100)[0]).toBe(87);
  });
});

describe('bad input', () => {
  it('names the field and how to fix it', () => {
    expect(() => classOrder('icarl', 200)).toThrow(/'icarl' is the fixed order of CIFAR-100's 100 classes, but numClasses is 200; use 'seed1993' or \{ seed \}/);
    expect(() => classOrder('seed1993', 0)).toThrow(/numClasses must be a positive integer/);
    expect(() => classOrder('seed1993', 2.5)).toThrow(/numClasses/);
    expect(() => classOrder({ seed: -3 }, 10)).toThrow(/\{ seed \} must be an integer in \[0, 2\^32 - 1\]/);
    expect(() => classOrder('random' as never, 10)).toThrow(/unknown order "random"; use 'seed1993', 'icarl' or \{ seed: <integer> \}/);
  });
});
