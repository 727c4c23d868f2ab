// jansson, the C JSON library that parses notebooks.
#include <jansson.h>
