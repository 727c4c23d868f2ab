// `import Tessera` in a notebook cell brings in everything a cell needs: tensors and autodiff
// (TesseraCore), `display`, tables, run parameters and the run's seed.
@_exported import TesseraCore
