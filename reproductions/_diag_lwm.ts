import { initBackend } from '../kernel-lib/backend/index';
import { getProfile, loadExperimentDataset } from '../kernel-lib/experiments/index';
import { runOptionsFor } from '../kernel-lib/experiments/runner-options';
import { createRun } from '../kernel-lib/train/index';
await initBackend({ log: false });
const method = process.argv[2] ?? 'lwm';
const gamma = process.argv[3];
const profile = { ...getProfile('standard'), classes: 30, initEpochs: 15, epochs: 12 };
const dataset = await loadExperimentDataset('embedded', profile);
const spec = { id: method, method, scenario: { initial: 10, increment: 10 }, config: gamma ? { gamma: Number(gamma) } : {} } as never;
const run = await createRun({ ...runOptionsFor(spec, 1993, profile, 'embedded', dataset), quiet: true, onProgress: (e) => {
  if (e.type === 'epoch' && e.task > 0 && (e.epoch % 3 === 2 || e.epoch === 0)) console.log(`task ${e.task} ep ${e.epoch} loss ${e.loss.toFixed(3)} ${JSON.stringify(Object.fromEntries(Object.entries(e.terms).map(([k, v]) => [k, +v.toFixed(4)])))}`);
} });
for (let t = 0; t < 3; t++) {
  const m = await run.trainTask();
  const M = run.state.metrics.accuracyMatrix ?? [];
  console.log(`after task ${t}: acc ${(100 * m.accuracy).toFixed(1)} perTask ${m.primary.perTask.map((a) => (100 * a).toFixed(0)).join(" ")}`);
}
run.dispose();
