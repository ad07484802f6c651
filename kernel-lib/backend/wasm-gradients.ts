/** Gradient rewrites for kernels the wasm backend lacks. Placeholder until they land. */
export function registerWasmGradients(): void {}
