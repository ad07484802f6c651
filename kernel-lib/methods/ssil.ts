/**
 * SS-IL, separated softmax for incremental learning (Ahn et al., ICCV 2021; official code
 * hongjoon0805/SS-IL-Official, trainer/ssil.py).
 *
 *   L = L_SS + L_TKD
 *   L_SS  = separated-softmax CE (Eq. 3): a new-task sample's CE over the new classes' logits only, a replayed
 *           sample's CE over the old classes' logits only, summed and divided by the whole batch size
 *           (losses/classification.ts separatedSoftmaxCE)
 *   L_TKD = task-wise KD (Eq. 4): for every old task, T^2 KL(softmax(t_b / T) || softmax(z_b / T)) within that
 *           task's block of logits, batch mean over all samples (new and replayed), summed over blocks, T = 2
 *           (losses/distillation.ts taskwiseKD)
 * Task 0 is plain CE. The head is one expandable linear layer (the official ResNet-18's `fc`).
 *
 * Ratio-preserving mini-batches (paper Sec. 4.2; trainer/ssil.py zips a drop-last loader of 128 new images with
 * a 32-image exemplar loader that cycles through the memory, trainer/trainer_factory.py ExemplarLoader): with
 * `replayBatchRatio` = 32 / 128, `trainingData` asks the trainer (TrainingData.replayRatio) for batches of
 * B new images plus round(B / 4) exemplars, floor(new / B) steps per epoch.
 *
 * Learning rate: the main stage of task t (0-based) trains at lr / (t + 1), the run's schedule applied on top
 * (official main.py: `lr = args.lr / (t+1)` when 'ssil' is in args.trainer, then `setup_training(lr)` and
 * `update_lr(epoch, schedule)` multiply it by the gammas at the milestones). Through the `mainStage()` hook.
 *
 * Exemplar memory: 'random' selection with a fixed total budget. The official code keeps the first
 * ceil(M / seen) images of each class in data order (data_handler/incremental_loader.py `update_exemplar`): no
 * feature-based herding, i.e. an arbitrary (random) subset, shrunk by dropping the last ones as classes arrive.
 *
 * KD removal: `kdTerms = ['task-kd']`. With `kd: false` the task-wise KD term is exactly 0; the separated
 * softmax CE, the memory and the batch composition are unchanged.
 */
import { tf } from '../tf';
import { separatedSoftmaxCE } from '../losses/classification';
import { taskwiseKD } from '../losses/distillation';
import { resolveMethodConfig } from '../train/method-config';
import { positiveNumber } from '../schema';
import type { TrainingRecipe } from '../train/settings';
import { expandLinearHead } from './shared/heads';
import { kdTerm, type MemoryPolicy, type Method, type StepContext, type TaskContext } from './types';

export interface SsilConfig {
  kd: boolean;
  /** Task-wise KD temperature. 2: trainer/ssil.py `T=2`. */
  temperature: number;
  /** Replay images per new image in a batch. 0.25: arguments.py `--batch-size 128`, `--replay-batch-size 32`. */
  replayBatchRatio: number;
  /**
   * Exemplar memory: a fixed total with random selection. The official ImageNet-1K runs use 20,000 for 1,000
   * classes (README.md `--memory-budget 20000`, 20 per class at the end); 2000 is the same 20 per class for a
   * 100-class dataset, the CIFAR-100 budget of the survey's replay methods.
   */
  memory: MemoryPolicy;
  /** Main-stage learning rate lr / (t + 1) on task t. true: main.py `lr = args.lr / (t+1)` for 'ssil'. */
  divideLrByTask: boolean;
}

export const SSIL_DEFAULTS: SsilConfig = {
  kd: true,
  temperature: 2,
  replayBatchRatio: 32 / 128,
  memory: { selection: 'random', total: 2000 },
  divideLrByTask: true,
};

/** The method's own training recipe (Method.recipe); `source` says where each number comes from. */
export const SSIL_RECIPE: TrainingRecipe = {
  optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 1e-4 },
  schedule: { kind: 'multistep', milestones: [40, 80], gamma: 0.1 },
  epochs: 100,
  batchSize: 128,
  resetOptimizerEachTask: false,
  source:
    'Training recipe of the official runs (README.md, SS-IL line; main.py; arguments.py): SGD lr 0.1 (divided by t + 1 on task t by the method itself, see `divideLrByTask`), momentum 0.9, weight decay 1e-4, 100 epochs on every task with x0.1 at 40 and 80 (README `--nepochs 100 --schedule 40 80 --gammas 0.1 0.1 --factor 1`: main.py\'s epoch division by `factor` from task 1 on is a no-op), batch 128 new images. One SGD optimiser serves every task (trainer/trainer_factory.py GenericTrainer builds it once; main.py only resets its lr per task), so its momentum carries over: `resetOptimizerEachTask: false`.',
};

interface SsilState {
  /** [start, end) of every task so far, by task index: the blocks of the task-wise KD. */
  ssilTasks?: [number, number][];
}

function taskBlocks(ctx: TaskContext): { start: number; end: number }[] {
  const tasks = (ctx.state as SsilState).ssilTasks ?? [];
  return tasks.slice(0, ctx.task.index).map(([start, end]) => ({ start, end }));
}

export function createSsil(overrides: Partial<SsilConfig> = {}): Method<SsilConfig> {
  const config = resolveMethodConfig('ssil', SSIL_DEFAULTS, overrides, { temperature: positiveNumber(), replayBatchRatio: positiveNumber() });
  return {
    name: 'ssil',
    recipe: SSIL_RECIPE,
    config,
    kdTerms: ['task-kd'],
    memory: config.memory,

    beforeTask(ctx) {
      expandLinearHead(ctx.net, ctx.seenClasses, 'ssil');
      const state = ctx.state as SsilState;
      const tasks = (state.ssilTasks ??= []);
      tasks[ctx.task.index] = [ctx.task.start, ctx.task.end];
      if (tasks.slice(0, ctx.task.index).some((t) => !t)) {
        throw new Error(`ssil: task ranges before task ${ctx.task.index} are missing from the method state (was the state reset?)`);
      }
    },

    trainingData(_ctx, defaults) {
      return { ...defaults, replayRatio: config.replayBatchRatio };
    },

    mainStage(ctx, defaults) {
      return config.divideLrByTask ? { learningRate: defaults.learningRate / (ctx.task.index + 1) } : {};
    },

    lossTerms(step: StepContext) {
      const all = step.student().logits;
      const logits = all.shape[1] === step.seenClasses ? all : (all.slice([0, 0], [-1, step.seenClasses]) as tf.Tensor2D);
      const ce = separatedSoftmaxCE(logits, step.batch.y, step.batch.replay, step.oldClasses);
      const taskKd = kdTerm(step, () =>
        step.oldClasses === 0 ? tf.scalar(0) : taskwiseKD(logits, step.teacherOut().logits, taskBlocks(step), config.temperature),
      );
      return { 'separated-ce': ce, 'task-kd': taskKd };
    },
  };
}
