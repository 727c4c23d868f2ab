// `import Tessera` in a notebook cell brings in everything a cell needs: tensors and autodiff
// (TesseraCore), layers and optimizers (TesseraNN), the architecture zoo (TesseraZoo), tasks
// (TesseraTasks), figures and tables (TesseraPlot), `display`, training loops, run parameters and
// the run's seed.
@_exported import TesseraCore
@_exported import TesseraNN
@_exported import TesseraPlot
@_exported import TesseraTasks
@_exported import TesseraZoo
