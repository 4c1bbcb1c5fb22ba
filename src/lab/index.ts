/** `moat lab`: the measuring side (runLab) and the report's data model. */
export { runLab, type LabOptions, type LabTlsOptions } from './runner.js';
export * from './report.js';
