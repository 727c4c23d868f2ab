// `import Tessera` in a notebook cell brings in everything a cell needs: tensors and autodiff
// (TesseraCore), figures and tables (TesseraPlot), `display`, run parameters and the run's seed.
@_exported import TesseraCore
@_exported import TesseraPlot
