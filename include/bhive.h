/*
 * bhive.h - the umbrella header of libbhive.
 *
 * libbhive spends extra inference-time compute on Amazon Bedrock's Converse
 * API: self-reflection, verifier feedback, multi-model debate and
 * aggregation, with every token, dollar and millisecond accounted for.
 *
 * What is declared under include/ is the API; nothing else is.
 */
#ifndef BHIVE_H
#define BHIVE_H

#include "bhive/version.h"
#include "bhive/error.h"
#include "bhive/client.h"
#include "bhive/hive.h"
#include "bhive/bench.h"
#include "bhive/cost.h"
#include "bhive/verify.h"

#endif
