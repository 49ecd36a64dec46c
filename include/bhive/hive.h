#ifndef BHIVE_HIVE_H
#define BHIVE_HIVE_H
/* The hive engine: reflection, verifier, debate, aggregation. (in progress) */
#include "client.h"
#endif
