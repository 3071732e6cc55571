// Public API of the metrics: pure functions over typed arrays, no model or file access.

export { COSINE_EPS, type Vec, cosine, dot, norm, normalize, sub, sumVectors } from './cosine.ts';
export { type Correctness, type Ratio, type Rec2ftpResult, accuracy, correctness, ratio, rec2ftp } from './accuracy.ts';
export { BASELINE_KINDS, type BaselineKind, expectedUniformCosine, gaussianVector, randomVector, uniformVector } from './baselines.ts';
export { type SimaouExample, type SimaouResult, type SimaouVariant, type SimaouVariantResult, simaou, simaouNorm, simaouRaw, simaouUpdates } from './simaou.ts';
export { SIMAM_METRICS, type SimamExample, type SimamMetric, type SimamResult, simam, simamHead } from './simam.ts';
export {
  type KendallExample, type KendallLevelResult, type KendallResult, type Span,
  concatSpans, demoTokenSpans, dualFormScores, gatherSpans, kendall, kendallTauB, softmax, sumPerSpan,
} from './kendall.ts';
export {
  type LayerExampleMatrix, atRelativeDepth, exampleMeans, headMeans, layerAverage, layerMeans, meanDefined, newMatrix, relativeDepth,
} from './aggregate.ts';
export {
  type BootstrapOptions, type Interval, type PairedInterval, type Statistic,
  bootstrap, bootstrapMean, pairedBootstrap, pairedBootstrapMeanDiff, quantileSorted,
} from './bootstrap.ts';
export {
  accuracyJson, intervalJson, jsonNumber, layerAverageAt, layerAverageComparison, layerAverageInterval, layerCurve, rec2ftpJson, ratioJson, similarityMetric,
} from './summarize.ts';
export {
  ANALYSIS_POSITIONS, BASELINES, METRICS_SCHEMA_VERSION, MetricsSchemaError, SETTINGS, SIMILARITY_METRICS,
  type AnalysisPosition, type BaselineName, type ComparisonJson, type IntervalJson, type LayerCurveJson, type MetricsRecord,
  type RatioJson, type Setting, type SimilarityMetricJson, type SimilarityMetricName,
  comparisonSchema, formatPath, intervalSchema, layerCurveSchema, metricsRecordSchema, parseMetricsRecord, ratioSchema, similarityMetricSchema,
} from './schema.ts';
export { type FixtureOptions, makeMetricsFixture } from './fixture.ts';
