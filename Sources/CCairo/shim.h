// Cairo, the 2D graphics library that draws Tessera's figures (PNG and PDF surfaces).
#include <cairo/cairo.h>
#include <cairo/cairo-pdf.h>
