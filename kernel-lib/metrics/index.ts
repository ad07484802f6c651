/**
 * Class-incremental learning metrics, as plain typed data (and arquero tables for notebooks).
 *
 * Inputs are what an evaluation produces: predictions and labels (Int32Array, incremental labels: classes in
 * arrival order), the scenario's tasks (TaskSpec[]), logits as a Float32Array with its shape, head weights as a
 * Float32Array [featureDim, classes] (kdcl's LinearHead layout). Accuracies are fractions in [0, 1] (multiply by
 * 100 for the survey's percentages). A quantity with nothing to measure (old-class accuracy on the first task,
 * forgetting before the second) is NaN.
 */
export * from './accuracy';
export * from './predictions';
export * from './tables';
