/**
 * kdcl's import rules, checked in `npm test` (test/dependency-rules.test.ts) and by `npm run deps`.
 * Type-only imports count (tsPreCompilationDeps): a circle through `import type` is still a circle of concerns.
 */
/** A method file: one file per method directly in kernel-lib/methods (the contract and the registry are not methods). */
const METHOD_FILE = '^kernel-lib/methods/(?!types\\.ts$|registry\\.ts$)[^/]+\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import circles: types two layers share live below both.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-method-to-method',
      severity: 'error',
      comment: 'A method file holds only what differs; what several methods use lives in kernel-lib/methods/shared/.',
      from: { path: METHOD_FILE },
      to: { path: METHOD_FILE },
    },
    {
      name: 'shared-below-methods',
      severity: 'error',
      comment: "The methods' shared machinery must not reach back into a method file.",
      from: { path: '^kernel-lib/methods/shared/' },
      to: { path: METHOD_FILE },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
