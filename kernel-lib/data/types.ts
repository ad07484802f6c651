/** The one in-memory form every loader returns. */

/** Images as uint8 NHWC (RGB), labels as integer class ids into `classNames`. */
export interface ImageSplit {
  /** count * height * width * 3 bytes, row-major NHWC. */
  images: Uint8Array;
  /** One class id per image, in [0, classNames.length). */
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: 3;
}

export interface ImageDataset {
  /** e.g. 'cifar100', 'tiny-imagenet', 'imagenet100', 'embedded'. */
  name: string;
  train: ImageSplit;
  test: ImageSplit;
  /** Human-readable names (or wnids), indexed by class id. */
  classNames: string[];
  /** Per-channel mean and std of the training images on the [0, 1] scale, for normalisation. */
  mean: [number, number, number];
  std: [number, number, number];
}
