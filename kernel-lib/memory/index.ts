/**
 * Exemplar memory and prototypes for class-incremental learning.
 *
 * - selection.ts: herdingSelection (iCaRL), randomSelection (seeded)
 * - exemplar-memory.ts: ExemplarMemory (class -> training indices in selection order; fixed per class or fixed
 *   total budget; reduce; JSON for checkpoints), exemplarsPerClass
 * - prototypes.ts: classMeans / nmeClassMeans, classCovariances (IL2A), prototypeRadius (PASS)
 * - nme.ts: nmeScores, nmePredict (iCaRL's nearest-mean-of-exemplars classifier)
 */
export { type FeatureMatrix, type FeaturesLike, matrixToTensor, normalizedRows } from './features';
export { herdingSelection, randomSelection } from './selection';
export { ExemplarMemory, type ExemplarMemoryJSON, type SelectionSources, exemplarsPerClass } from './exemplar-memory';
export { type CovarianceStack, classCovariances, classMeans, covarianceTensor, nmeClassMeans, prototypeRadius } from './prototypes';
export { nmePredict, nmeScores } from './nme';
export { type PrototypeStore, appendClassMeans, storedPrototypes } from './prototype-store';
