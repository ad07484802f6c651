/**
 * Dataset entry point: `loadDataset(name, opts)` returns the in-memory ImageDataset (uint8 NHWC RGB, Int32 labels,
 * class names, train mean/std) of one of the supported datasets.
 *
 * | name          | source                                                          | default size |
 * | ------------- | --------------------------------------------------------------- | ------------ |
 * | embedded      | data/embedded/ (committed 100-class 32x32 Tiny ImageNet subset) | 32           |
 * | cifar100      | CIFAR-100 binary version (downloaded if missing)                | 32           |
 * | tiny-imagenet | Tiny ImageNet-200 folder or its two .tar.gz archives            | 64           |
 * | imagenet100   | ImageNet train/val folders + the PODNet 100-class list          | 224          |
 *
 * Environment: KDCL_DATA_DIR (parent of cifar-100/, tiny-imagenet-200/, imagenet100/), KDCL_CACHE_DIR,
 * KDCL_CIFAR100_URL (mirror), KDCL_DECODE_THREADS (JPEG decode workers; default 1 below 4 cores).
 *
 * Options: `dataDir` (where the data is; defaults per loader, see each module), `cacheDir` (extracted archives and
 * decoded images; default $KDCL_CACHE_DIR or <repo>/.cache), `imageSize`, `classesLimit` (first N classes of the
 * loader's class order), `log` (progress lines; false silences). Loader-specific options pass through.
 */
import type { ImageDataset } from './types';
import { DatasetError, type LoadOptions } from './common';
import { type Cifar100Options, loadCifar100 } from './cifar100';
import { type EmbeddedOptions, loadEmbedded } from './embedded';
import { type ImageNet100Options, loadImageNet100 } from './imagenet100';
import { type TinyImageNetOptions, loadTinyImageNet } from './tiny-imagenet';

export type { ImageDataset, ImageSplit } from './types';
export { DatasetError, channelStats, resolveCacheDir, type LoadOptions } from './common';
export { resizeArea, resizeShorterSide, centerCrop, crop } from './resize';
export { decodeJpeg, JpegEncoder } from './jpeg';
export { loadCifar100, loadEmbedded, loadImageNet100, loadTinyImageNet };
export type { Cifar100Options, EmbeddedOptions, ImageNet100Options, TinyImageNetOptions };

export const DATASET_NAMES = ['embedded', 'cifar100', 'tiny-imagenet', 'imagenet100'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface DatasetOptions extends LoadOptions {
  /** cifar100: download when missing (default true), archive URL and expected MD5 (for mirrors and tests). */
  download?: boolean;
  url?: string;
  md5?: string;
  /** imagenet100: class list, resize and crop settings. */
  classListFile?: string;
  resizeShorter?: number;
  trainCrop?: 'center' | 'random';
  seed?: number;
  /** Decode every time instead of using the decoded-image cache. */
  noCache?: boolean;
}

export async function loadDataset(name: DatasetName, opts: DatasetOptions = {}): Promise<ImageDataset> {
  switch (name) {
    case 'embedded':
      return loadEmbedded(opts);
    case 'cifar100':
      return loadCifar100(opts);
    case 'tiny-imagenet':
      return loadTinyImageNet(opts);
    case 'imagenet100':
      return loadImageNet100(opts);
    default:
      throw new DatasetError(
        `Unknown dataset '${String(name)}'`,
        'argument name of loadDataset',
        `use one of: ${DATASET_NAMES.join(', ')}`,
      );
  }
}
