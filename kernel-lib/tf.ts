/**
 * The one tfjs import for kernel-lib: tfjs-core plus the gradient registry and the cpu backend as the always-available reference. Import tf from here, not from
 * '@tensorflow/tfjs-core' directly.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; the union package's bundle registers them all (and the cpu backend).
import '@tensorflow/tfjs';

export { tf };
