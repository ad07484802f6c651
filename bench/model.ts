/**
 * The benchmarked workload: kdcl's ResNet-32 (models helper) + a 100-class linear head, SGD with momentum 0.9,
 * and the two steps the bench times. bench/torch_resnet32.py runs the same steps in PyTorch.
 */
import { tf } from '../kernel-lib/tf';
import { createBackbone, LinearHead } from '../kernel-lib/models/index';
import { crossEntropy, klDistillation } from '../kernel-lib/losses/index';

export const BENCH_CLASSES = 100;
export const KD_TEMPERATURE = 2;

export interface BenchModel {
  /** One SGD step on cross-entropy (student in training mode). */
  trainStep(x: tf.Tensor4D, y: tf.Tensor1D): void;
  /** Teacher forward in eval mode, then one student step on CE + T^2 KL(teacher || student), T = 2. */
  kdStep(x: tf.Tensor4D, y: tf.Tensor1D): void;
  dispose(): void;
}

export function createBenchModel(seed: number, classes = BENCH_CLASSES): BenchModel {
  const backbone = createBackbone({ kind: 'resnet32' }, seed);
  const head = new LinearHead(backbone.featureDim, classes, seed);
  const teacherBackbone = backbone.clone(false);
  const teacherHead = head.clone(false);
  const optimizer = tf.train.momentum(0.01, 0.9);
  const variables = [...backbone.trainableVariables, ...head.trainableVariables];

  const studentLogits = (x: tf.Tensor4D) => head.apply(backbone.apply(x, { training: true }).features, { training: true });
  const step = (loss: () => tf.Scalar): void => {
    optimizer.minimize(loss, false, variables);
  };

  return {
    trainStep(x, y) {
      tf.tidy(() => step(() => crossEntropy(studentLogits(x), y)));
    },
    kdStep(x, y) {
      tf.tidy(() => {
        // Outside minimize(): the teacher's forward is not recorded for backprop (PyTorch: torch.no_grad()).
        const teacher = teacherHead.apply(teacherBackbone.apply(x, { training: false }).features);
        step(() => {
          const logits = studentLogits(x);
          return tf.add(crossEntropy(logits, y), klDistillation(logits, teacher, KD_TEMPERATURE)) as tf.Scalar;
        });
      });
    },
    dispose() {
      optimizer.dispose();
      for (const m of [backbone, head, teacherBackbone, teacherHead]) m.dispose();
    },
  };
}
