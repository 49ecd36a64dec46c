#ifndef BHIVE_VERSION_H
#define BHIVE_VERSION_H

#define BHIVE_VERSION_MAJOR 0
#define BHIVE_VERSION_MINOR 1
#define BHIVE_VERSION_PATCH 0
#define BHIVE_VERSION_STRING "0.1.0"
/* 0xMMmmpp: compare with >= in #if */
#define BHIVE_VERSION_NUM 0x000100

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library linked at run time, e.g. "0.1.0". Static. */
const char *bhive_version(void);

#ifdef __cplusplus
}
#endif
#endif
