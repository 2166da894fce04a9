/* Duplicate keys in a request (see control_keys.c). Control thread, no allocation kept. */
#ifndef SFU_CONTROL_KEYS_H
#define SFU_CONTROL_KEYS_H

#include <stddef.h>

typedef struct cJSON cJSON;

/* 0, or SFU_EINVAL with "<path>: duplicate key ..." in err when any object in the tree
 * (the root, or one nested at any depth, inside arrays too) has two keys equal up to
 * ASCII case. The tree must be at most SFU_CONTROL_MAX_DEPTH deep (the walk recurses). */
int sfu_control_check_keys(const cJSON *root, char *err, size_t errlen);

#endif
