/** Config checks the methods share (a clear error naming the method and the field). */

function positiveNumber(method: string, field: string, value: number, allowZero: boolean): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new Error(`${method}: config '${field}' must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(value)}`);
  }
}

export function checkWeight(method: string, field: string, value: number): void {
  positiveNumber(method, field, value, true);
}

export function checkTemperature(method: string, field: string, value: number): void {
  positiveNumber(method, field, value, false);
}

function checkWeights(method: string, config: Record<string, unknown>, names: string[]): void {
  for (const name of names) {
    const v = config[name];
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new Error(`${method}: ${name} must be a finite number >= 0, got ${JSON.stringify(v)}`);
  }
}

/** Config checks shared by the prototype family: weights >= 0 and a positive temperature. */
export function checkPrototypeConfig(method: string, config: { temperature: number }, weights: string[]): void {
  checkWeights(method, config as unknown as Record<string, unknown>, weights);
  if (!(config.temperature > 0) || !Number.isFinite(config.temperature)) {
    throw new Error(`${method}: temperature must be a positive number, got ${JSON.stringify(config.temperature)}`);
  }
}

