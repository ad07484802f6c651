/**
 * Subprocess probe for test/backend-agreement.test.ts: trains a small LwF run (two tasks) on the backend that
 * KDCL_BACKEND names and prints one JSON line with the loss of every training step (recovered from the trainer's
 * running means) and the final accuracy.
 */
import { initBackend } from '../../kernel-lib/backend/index';
import { createRun } from '../../kernel-lib/train/index';
import { classColouredDataset } from '../data-helpers';

const info = await initBackend({ log: false });
const dataset = classColouredDataset('agreement', { classes: 6, trainPerClass: 16, testPerClass: 6, size: 16 });
const losses: number[] = [];
let previousMean = 0;
const run = await createRun({
  dataset, scenario: { initial: 3, increment: 3 }, method: 'lwf', seed: 11,
  backbone: { kind: 'resnet32', width: 0.5, blocksPerStage: 1 }, initEpochs: 3, epochs: 3, batchSize: 16,
  optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: 'constant' }, quiet: true,
  onProgress: (e) => {
    if (e.type !== 'step') return;
    // e.loss is the running mean over the epoch so far: step k's own loss is k m_k - (k - 1) m_{k-1}.
    const k = e.step + 1;
    losses.push(k * e.loss - (k - 1) * (e.step === 0 ? 0 : previousMean));
    previousMean = e.loss;
  },
});
const metrics = await run.runAll();
run.dispose();
console.log(JSON.stringify({ backend: info.name, losses, last: metrics.last }));
