/**
 * Notebooks 00 (quickstart) and 05 (classification bias), picked up by scripts/make-notebooks.ts:
 *
 *   npx tsx scripts/make-notebooks.ts            writes them with the others (no outputs)
 *
 * Cells are thin calls into kernel-lib (kernel-lib/analysis/*, kernel-lib/viz/bias-charts); the markdown explains
 * each step for students. They import './kernel-lib/...': the kdcl tslab kernel starts in the checkout's root.
 */
import { code, md, type NotebookDefinition } from '../make-notebooks';

const quickstart: NotebookDefinition = {
  file: '00-quickstart.ipynb',
  cells: [
    md(`
# Quickstart: class-incremental learning, step by step

In **class-incremental learning** (CIL) a model meets the classes of a dataset a few at a time, in *tasks*. After
each task it must recognise every class seen so far, and at test time nobody tells it which task an image comes
from. Trained naively on the new task's images, a network quickly **forgets** the old classes ("catastrophic
forgetting"). **Knowledge distillation** (KD) methods keep a frozen copy of the previous model (the *teacher*) and
train the new model to keep answering like it on the old classes.

This notebook trains **3 tasks of 5 classes** with **LwF** (Learning without Forgetting, Li & Hoiem 2016: KD on the
old classes' outputs, no stored images), looks at what the model knows after each task, and then measures
forgetting. It takes about two minutes on 2 CPU cores.

Run the cells from top to bottom (Shift+Enter). The kernel is kdcl's tslab kernel (\`npm run kernel:install\`); it
starts in the repository's root folder, so cells import the library as \`./kernel-lib/...\`.
`),
    md(`
## 1. The compute backend

\`initBackend\` picks the fastest TensorFlow.js backend available here (kdcl's native oneDNN backend on a CPU, the
WebAssembly one otherwise) and prints which one it chose.
`),
    code(`
import { initBackend } from './kernel-lib/index';

const backend = await initBackend();
`),
    md(`
## 2. The data

The **embedded dataset** ships with the repository (\`data/embedded/\`): 100 Tiny ImageNet classes at 32x32 pixels,
400 training and 50 test images per class. To keep this quick we take the first 15 classes, 100 training images and
all 50 test images of each.
`),
    code(`
import { loadDataset } from './kernel-lib/index';
import { sliceDataset } from './kernel-lib/experiments/dataset';

const data = sliceDataset(await loadDataset('embedded', { classesLimit: 15 }), { classes: 15, trainPerClass: 100, testPerClass: 50 });
console.log(\`\${data.classNames.length} classes, \${data.train.count} training and \${data.test.count} test images of \${data.train.height}x\${data.train.width} pixels\`);
`),
    md(`
## 3. The run

\`createRun\` sets everything up without training anything yet:

- **scenario** \`{ initial: 5, increment: 5 }\`: 3 tasks of 5 classes. The classes arrive in a fixed random order
  (PyCIL's seed-1993 order); from now on, class *k* means the *k*-th class to arrive.
- **method** \`'lwf'\`: cross-entropy on the new task plus KD from the teacher on the old classes' logits.
  Try \`'finetune'\` (no KD at all) or \`'icarl'\` (KD plus a memory of old images) and compare.
- **backbone**: ResNet-32 with a quarter of the channels (\`width: 0.25\`), small enough for a CPU.
- **training**: 8 epochs on the first task and 5 on each later one, SGD with a cosine learning-rate schedule.
`),
    code(`
import { createRun } from './kernel-lib/index';

const run = await createRun({
  dataset: data,
  scenario: { initial: 5, increment: 5 },
  method: 'lwf',
  backbone: { kind: 'resnet32', width: 0.25 },
  seed: 1993,
  initEpochs: 8,
  epochs: 5,
  batchSize: 32,
  optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
  schedule: { kind: 'cosine' },
});
run.state.tasks.map((t) => \`task \${t.index}: \${run.state.classOrder.slice(t.start, t.end).map((c) => data.classNames[c]).join(', ')}\`);
`),
    md(`
## 4. Task 0

\`run.trainTask()\` trains the next task (printing a line per epoch), then evaluates the model on the test images of
**every class seen so far** and returns that task's metrics. After task 0 that is just 5 classes.
`),
    code(`
const task0 = await run.trainTask();
console.log(\`after task 0: \${(100 * task0.accuracy).toFixed(1)}% of the test images of the \${task0.classes[1]} classes seen so far are right\`);
`),
    md(`
### What the model knows so far

The **accuracy matrix**: row *t* is the evaluation after training task *t*, column *j* the accuracy on the test
images of task *j*'s classes (the model chooses among all classes seen so far). "all seen" is the accuracy on all of
them together. For now it has a single cell.
`),
    code(`
import { showProgress } from './kernel-lib/analysis/progress';

await showProgress(run);
`),
    md(`
## 5. Task 1: new classes arrive

Before training task 1 the run freezes a copy of the current model as the teacher (\`run.state.teacher\`). LwF's loss
now has two terms, printed per epoch: \`ce\`, the cross-entropy on the new images, and \`kd\`, how far the model's
answers on the old classes drift from the teacher's. Watch the first row of the matrix: does task 0's accuracy hold?
`),
    code(`
const task1 = await run.trainTask();
console.log(\`after task 1: \${(100 * task1.accuracy).toFixed(1)}% on all 10 classes; last epoch's loss terms:\`, task1.terms);
await showProgress(run);
`),
    md(`
## 6. Task 2
`),
    code(`
const task2 = await run.trainTask();
console.log(\`after task 2: \${(100 * task2.accuracy).toFixed(1)}% on all 15 classes\`);
await showProgress(run);
`),
    md(`
## 7. Forgetting

For each old task *j*, **forgetting** is the best accuracy it ever had before the last step minus its accuracy now
(the definition of FACIL, Masana et al. 2022); the table averages it over the old tasks. Also shown:

- **AIA**, average incremental accuracy: the "all seen" accuracy averaged over the steps (the survey's main number);
- **last accuracy**: the "all seen" accuracy after the last task;
- **BWT**, backward transfer (Lopez-Paz & Ranzato 2017): how much accuracy on old tasks changed since they were
  learnt, on average (negative means forgetting).
`),
    code(`
import { showForgetting } from './kernel-lib/analysis/progress';

await showForgetting(run);
`),
    md(`
## 8. Where do the old classes' images go?

Forgetting has a direction: a CIL model tends to label old classes' images as **new** classes (*task-recency bias*).
The task-prediction histogram shows it: for the test images of each task, which task's classes the model predicted.
Notebook \`05-classification-bias\` looks at this bias in detail and at how BiC and SS-IL reduce it.
`),
    code(`
import { analyseRun } from './kernel-lib/analysis/bias';
import { showBiasCharts } from './kernel-lib/viz/bias-charts';

await showBiasCharts([analyseRun(run, { model: 'LwF' })], { charts: ['task-histogram'] });
`),
    md(`
## 9. Clean up

A run holds its networks' weights as tensors: free them when you are done (or restart the kernel).
`),
    code(`
run.dispose();
`),
  ],
};

const bias: NotebookDefinition = {
  file: '05-classification-bias.ipynb',
  cells: [
    md(`
# Classification bias in class-incremental learning

After a few tasks, a class-incremental model prefers the **newest classes**: it has seen many images of them and
only a few stored exemplars (or none) of the old ones, so old classes' images are often labelled as new classes.
This *task-recency bias* shows in four views:

1. the **confusion matrix** with classes in arrival order: predictions pile up in the columns of the newest task;
2. the **task-prediction histogram**: for each task's test images, which task's classes were predicted;
3. the classifier's **weight norms and biases** per class: new classes can get larger ones (LUCIR, Hou et al. 2019);
4. the **mean logits** of old and new classes: new classes' logits are larger (BiC, Wu et al. 2019).

Two remedies are compared on the same data:

- **BiC** (bias correction) learns two numbers per task, *q = alpha * logit + beta* on the new classes' logits, on a
  small balanced validation set: the views **before and after** the correction;
- **SS-IL** (separated softmax, Ahn et al. 2021) computes the cross-entropy of new images over the new classes only
  and of replayed images over the old classes only, so training on new images does not push old logits down: SS-IL
  against a replay method with the usual **global softmax** (the survey's Tables 5a and 5b).

The runs are small: 12 classes of the embedded dataset in 3 tasks of 4, 100 training images per class, 10 stored
exemplars per old class, a small ResNet. Training all of them takes a few minutes on 2 CPU cores; the results are
cached (under \`.cache/bias-study/\`), so running the notebook again only redraws.
`),
    md(`
## Parameters

Change them and run the notebook again (*Run > Run All Cells*). In JupyterLab the charts also carry a dropdown
below them to switch the task, tooltips on every mark, and legends you can click to highlight one group.
`),
    code(`
import { methodNames } from './kernel-lib/methods/registry';

// The method to look at: any registered method, e.g. 'lucir', 'icarl', 'eeil', 'lwf', 'finetune', 'bic', 'ssil'.
const METHOD = 'lucir';
// The task after which to look: 0, 1 or 2 (after task 0 there is nothing to be biased against yet).
const TASK = 2;

console.log(\`methods: \${methodNames().join(', ')}\`);
`),
    md(`
## Load (or train) the runs

The picked method, BiC, SS-IL, and "Replay + KD" with a global softmax (the same exemplar memory and KD, plain
cross-entropy over all classes). The bias views are recorded after every task. By default the runs come from
\`reproductions/results/bias-study/\`, committed with the repository (\`npm run bias-study\` made them; \`-- --methods
icarl,eeil\` adds other picks), so nothing trains; a pick that is not there trains here in a few minutes and is
cached. **\`KDCL_RETRAIN=1\` trains every run here instead.** \`KDCL_PROFILE=ci\` in the environment selects a much
smaller setting (used by the tests).
`),
    code(`
import { notebookStudyModels, runBiasStudy } from './kernel-lib/analysis/bias-study';

// [METHOD, 'bic', 'ssil', replay-kd with { softmax: 'global', kdLoss: 'ce' }]
const study = await runBiasStudy(notebookStudyModels(METHOD));
study.runs.map((r) => \`\${r.label}: accuracy after each task \${r.accuracy.map((a) => (100 * a).toFixed(1) + '%').join(', ')}\${r.cached ? ' (loaded)' : ''}\`);
`),
    md(`
## The four views of the picked method

The table gives the numbers behind the charts for every task: accuracy on old and new classes, the share of
predictions that fall on the newest task's classes against the share of test images that belong there, mean
logits, weight norms and biases of old and new classes. The views use the network's logits (the CNN prediction);
methods that predict otherwise (iCaRL's nearest-mean classifier, BiC's corrected logits) are shown without that.
`),
    code(`
import { showBiasCharts, showBiasSummary, showBiasVerdict } from './kernel-lib/viz/bias-charts';

const picked = study.run(METHOD).history;
showBiasSummary(picked);
showBiasVerdict(picked, TASK);
await showBiasCharts(picked, { task: TASK });
`),
    md(`
## Before and after BiC's bias correction

Left: BiC's network as trained (raw logits). Right: the same network with the learned correction applied, which is
how BiC predicts. The correction acts on the logits of each new task's classes, so in the weight and bias view it
appears as scaled weights (*alpha* times) and shifted biases (*alpha * b + beta*).
`),
    code(`
const bic = study.run('bic');
const bicViews = [...bic.history, ...(bic.corrected ?? [])];
showBiasSummary(bicViews);
showBiasVerdict(bicViews, TASK);
await showBiasCharts(bicViews, { task: TASK });
`),
    md(`
## Separated softmax (SS-IL) against a global softmax

Both replay 10 exemplars per old class. With a global softmax, every new image's cross-entropy pushes all old
classes' logits down; SS-IL's separated softmax does not, and its task-wise KD keeps the old logits in place.
`),
    code(`
const softmaxViews = [...study.run('ssil').history, ...study.run('Replay + KD (global softmax)').history];
showBiasSummary(softmaxViews);
showBiasVerdict(softmaxViews, TASK);
await showBiasCharts(softmaxViews, { task: TASK });
`),
    md(`
## Reading the views

- A model without bias has most of each task's histogram bar in its own task's colour, and about a third of its
  predictions on the newest task's classes after task 2 (they hold a third of the test images).
- The confusion matrix's dashed lines separate tasks; mass right of the diagonal block, in the last task's columns,
  is old images labelled as new classes.
- The weight-norm and bias bars are per class (old blue, new red; dashed lines are each group's mean). The survey's
  story is "new classes get larger weights and biases", but in short runs like these the larger new logits can come
  from the biases or the features as much as from the norms: look at all four views, not one.
- The sentences above each chart are computed from this run's numbers, so they change with the parameters.
`),
  ],
};

export const notebooks: NotebookDefinition[] = [quickstart, bias];
