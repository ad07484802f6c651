/** The backend facts that the selector (index.ts) and each loader (native, webgpu) share. */
export const BACKEND_NAMES = ['tfjs-node-gpu', 'tfjs-node', 'native', 'wasm', 'cpu', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Arithmetic precisions (setPrecision in index.ts says what bf16 covers). */
export const PRECISIONS = ['fp32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface BackendInfo {
  /** kdcl's name for the engine (see BACKEND_NAMES). */
  name: BackendName;
  /** The tfjs backend name registered with the engine (e.g. 'tensorflow', 'kdcl-native', 'wasm'). */
  tfBackend: string;
  /** Version of the package or library behind it. */
  version: string;
  /** Compute threads it uses. */
  threads: number;
  /** Why each backend tried before it (or not tried) was skipped. */
  skipped: Partial<Record<BackendName, string>>;
  /** Extra facts a backend reports (e.g. the native path's library and ISA). */
  details?: Record<string, string | number | boolean>;
}

/** What a backend's loader reports once its engine is active. */
export interface LoadedBackend {
  tfBackend: string;
  version: string;
  threads: number;
  details?: BackendInfo['details'];
}
