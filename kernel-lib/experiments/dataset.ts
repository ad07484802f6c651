/**
 * The dataset of an experiment run: loaded through kernel-lib/data's loadDataset, then cut to the profile's slice
 * (first N classes, first N images of each class), with instructions when the data is missing.
 */
import fs from 'node:fs';
import type { ImageDataset, ImageSplit } from '../data/types';
import { loadDataset } from '../data/index';
import type { DatasetName, Profile } from './profiles';

/** loadDataset's signature (kernel-lib/data/index.ts); tests pass their own. */
export type DatasetLoader = (
  name: DatasetName,
  options: { dataDir?: string; imageSize?: number; classesLimit?: number },
) => Promise<ImageDataset>;

/** How to get each dataset, for the error a missing data folder gets. */
export const DATA_INSTRUCTIONS: Record<DatasetName, string> = {
  embedded:
    'The embedded dataset ships with the repository under data/embedded/. If that folder is empty, your checkout is incomplete: ' +
    'clone the repository again (or run `npx tsx scripts/build-embedded.ts` with the Tiny ImageNet archives, see data/embedded/README.md).',
  'tiny-imagenet':
    'Download tiny-imagenet-200.zip from the CS231n site (http://cs231n.stanford.edu/tiny-imagenet-200.zip), unzip it, and pass ' +
    '--data-dir /path/to/tiny-imagenet-200 (the folder holding wnids.txt, train/ and val/).',
  cifar100:
    'kdcl downloads CIFAR-100 (binary version) into its cache on first use. Offline: download cifar-100-binary.tar.gz from ' +
    'https://www.cs.toronto.edu/~kriz/cifar.html and pass --data-dir with the folder that holds it (or its extracted cifar-100-binary/).',
  imagenet100:
    'ImageNet-100 is the 100-class subset of ILSVRC 2012 used by PODNet/PyCIL. Get ILSVRC 2012 from https://image-net.org (account ' +
    'needed), build the subset, and pass --data-dir with its train/ and val/ folders (one sub-folder per class).',
};

/** An error that tells the user how to get the data. */
export class MissingDataError extends Error {
  constructor(dataset: DatasetName, problem: string) {
    super(`${problem}\n  how to get '${dataset}': ${DATA_INSTRUCTIONS[dataset]}`);
    this.name = 'MissingDataError';
  }
}

/** Keeps the images of classes < `classes` and, of each class, the first `perClass` (in dataset order). */
export function sliceSplit(split: ImageSplit, classes: number, perClass: number | null): ImageSplit {
  const taken = new Int32Array(classes);
  const keep: number[] = [];
  for (let i = 0; i < split.count; i++) {
    const y = split.labels[i];
    if (y >= classes) continue;
    if (perClass !== null && taken[y] >= perClass) continue;
    taken[y]++;
    keep.push(i);
  }
  const pixel = split.height * split.width * split.channels;
  const images = new Uint8Array(keep.length * pixel);
  const labels = new Int32Array(keep.length);
  keep.forEach((src, dst) => {
    images.set(split.images.subarray(src * pixel, (src + 1) * pixel), dst * pixel);
    labels[dst] = split.labels[src];
  });
  return { ...split, images, labels, count: keep.length };
}

/** The profile's slice of a dataset: first `profile.classes` classes, first N train / test images per class. */
export function sliceDataset(ds: ImageDataset, profile: Pick<Profile, 'classes' | 'trainPerClass' | 'testPerClass'>): ImageDataset {
  const classes = Math.min(profile.classes ?? ds.classNames.length, ds.classNames.length);
  if (classes === ds.classNames.length && profile.trainPerClass === null && profile.testPerClass === null) return ds;
  return {
    ...ds,
    train: sliceSplit(ds.train, classes, profile.trainPerClass),
    test: sliceSplit(ds.test, classes, profile.testPerClass),
    classNames: ds.classNames.slice(0, classes),
  };
}


/** Loads a dataset for a profile and cuts it to the profile's slice; a missing folder gets instructions. */
export async function loadExperimentDataset(
  name: DatasetName,
  profile: Profile,
  options: { dataDir?: string; loader?: DatasetLoader } = {},
): Promise<ImageDataset> {
  if (options.dataDir && !fs.existsSync(options.dataDir)) {
    throw new MissingDataError(name, `data folder ${options.dataDir} (--data-dir) does not exist`);
  }
  const loader = options.loader ?? loadDataset;
  let ds: ImageDataset;
  try {
    ds = await loader(name, {
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(profile.imageSize[name] !== undefined ? { imageSize: profile.imageSize[name] } : {}),
      ...(profile.classes !== null ? { classesLimit: profile.classes } : {}),
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new MissingDataError(name, `cannot load dataset '${name}': ${message}`);
  }
  if (profile.classes !== null && ds.classNames.length < profile.classes) {
    throw new Error(`profile '${profile.name}' needs ${profile.classes} classes but dataset '${name}' has ${ds.classNames.length}`);
  }
  return sliceDataset(ds, profile);
}
