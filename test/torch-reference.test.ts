/**
 * The training engine against PyTorch: a ResNet-32-layout network (quarter width, one block per stage, option-A
 * shortcuts) with weights and batches from test/fixtures/torch-resnet-gradients.json, whose generator computed, in
 * float64 with torch.nn.functional, the loss and every gradient of one training-mode step, then three steps of
 * torch.optim.SGD (momentum, weight decay) with the running BatchNorm statistics.
 *
 * This checks the whole chain kdcl trains with (the backend initBackend picks: convolutions and their gradients,
 * batch norm, shortcuts, pooling, head, cross-entropy, SGD), not each piece in isolation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { backendInfo, initBackend } from '../kernel-lib/backend/index';
import { Optimizer } from '../kernel-lib/train/index';
import { fixture, lossAndGrads, networkWithFixtureWeights, relativeError } from './helpers/torch-fixture';

/** float32 arithmetic against a float64 reference: relative to each tensor's largest magnitude. */
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initBackend({ log: false });
});

describe(`training engine against PyTorch (float64 reference)`, () => {
  it('loss and the gradient of every trainable variable match torch', () => {
    const net = networkWithFixtureWeights();
    const { loss, grads } = lossAndGrads(net, 0);
    expect(Math.abs(loss - fixture.loss) / fixture.loss).toBeLessThan(TOLERANCE);
    expect([...grads.keys()].sort()).toEqual(Object.keys(fixture.grads).sort());
    const errors = [...grads].map(([name, g]) => [name, relativeError(g.dataSync(), fixture.grads[name])] as const);
    const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a));
    console.log(`[torch-reference] ${backendInfo().name}: largest gradient error ${worst[1].toExponential(2)} (${worst[0]})`);
    for (const [name, err] of errors) expect(err, name).toBeLessThan(TOLERANCE);
    tf.dispose([...grads.values()]);
    net.dispose();
  });

  it('three SGD steps (momentum, weight decay) give torch.optim.SGD losses, weights and running statistics', () => {
    const net = networkWithFixtureWeights();
    const { lr, momentum, weightDecay } = fixture.sgd;
    const optimizer = new Optimizer({ kind: 'sgd', lr, momentum, weightDecay });
    const names = new Map<tf.Variable, string>();
    for (const [name, v] of net.namedVariables()) names.set(v, name);
    const variables = net.trainableVariables.map((variable) => ({ name: names.get(variable)!, variable }));
    const losses: number[] = [];
    for (let i = 1; i < fixture.batches.length; i++) {
      const { loss, grads } = lossAndGrads(net, i);
      losses.push(loss);
      optimizer.apply(variables, grads, lr);
      tf.dispose([...grads.values()]);
    }
    expect(relativeError(losses, fixture.sgd.losses)).toBeLessThan(TOLERANCE);
    for (const [name, variable] of net.namedVariables()) {
      expect(relativeError(variable.dataSync(), fixture.sgd.after[name]), name).toBeLessThan(TOLERANCE);
    }
    optimizer.dispose();
    net.dispose();
  });
});
