/** The bias views in long form (one row per cell, bar or point): what the bias charts plot, and what tests check. */
import type { BiasViews } from '../analysis/bias';

export type Row = Record<string, string | number | null>;

/** Panel label of each view: the model, the variant, or both where both vary. */
export function panelLabels(views: readonly BiasViews[]): string[] {
  const models = new Set(views.map((v) => v.model)).size;
  const variants = new Set(views.map((v) => v.variant)).size;
  return views.map((v) => (models > 1 && variants > 1 ? `${v.model}: ${v.variant}` : models > 1 ? v.model : v.variant));
}

/** Confusion cells (non-zero) with row-normalised shares, and the task boundaries, of every view. */
export function confusionRows(views: readonly BiasViews[]): Row[] {
  const labels = panelLabels(views);
  return views.flatMap((v, i) => {
    const { classes, counts } = v.confusion;
    const owner = (c: number) => v.tasks.findIndex((t) => c >= t.start && c < t.end);
    const rows: Row[] = [];
    for (let y = 0; y < classes; y++) {
      let total = 0;
      for (let p = 0; p < classes; p++) total += counts[y * classes + p];
      for (let p = 0; p < classes; p++) {
        const count = counts[y * classes + p];
        if (count === 0) continue;
        rows.push({ kind: 'cell', panel: labels[i], task: v.task, trueClass: y, predictedClass: p, trueTask: owner(y), predictedTask: owner(p), count, share: count / total });
      }
    }
    for (const t of v.tasks.slice(1)) rows.push({ kind: 'boundary', panel: labels[i], task: v.task, boundary: t.start });
    return rows;
  });
}

/** Task-prediction histogram rows: samples of sampleTask predicted as predictedTask (count, share of the task's samples). */
export function taskHistogramRows(views: readonly BiasViews[]): Row[] {
  const labels = panelLabels(views);
  return views.flatMap((v, i) =>
    v.taskHistogram.flatMap((row, sampleTask) => {
      const total = row.reduce((a, b) => a + b, 0);
      return row.map((count, predictedTask) => ({ panel: labels[i], task: v.task, sampleTask, predictedTask, count, share: total ? count / total : 0 }));
    }),
  );
}

/** Per-class weight norm and bias with the class's task and old / new group (relative to the view's task). */
export function classifierRows(views: readonly BiasViews[]): Row[] {
  const labels = panelLabels(views);
  return views.flatMap((v, i) => {
    if (!v.classifier) return [];
    const current = v.tasks[v.task];
    const { weightNorms, biases } = v.classifier;
    return Array.from(weightNorms, (norm, c) => ({
      panel: labels[i],
      task: v.task,
      class: c,
      classTask: v.tasks.findIndex((t) => c >= t.start && c < t.end),
      group: c >= current.start ? 'new' : 'old',
      weightNorm: norm,
      bias: biases ? biases[c] : null,
    }));
  });
}

/** Mean logit of each task's classes (over all test samples), marked old / new. */
export function meanLogitRows(views: readonly BiasViews[]): Row[] {
  const labels = panelLabels(views);
  return views.flatMap((v, i) =>
    v.meanLogits.perTask.map((meanLogit, classTask) => ({
      panel: labels[i],
      task: v.task,
      classTask,
      group: classTask === v.task ? 'new' : 'old',
      meanLogit,
    })),
  );
}
