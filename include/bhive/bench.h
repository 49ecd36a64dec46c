#ifndef BHIVE_BENCH_H
#define BHIVE_BENCH_H
/* Benchmarks and optimisation. (in progress) */
#include "hive.h"
#endif
