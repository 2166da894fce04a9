/* Unit tests for src/base: errors, hash map, ids and tokens, pool. */
#include <stdlib.h>

#include "sfu/err.h"
#include "sfu/hmap.h"
#include "sfu/ids.h"
#include "sfu/list.h"
#include "sfu/pool.h"
#include "test.h"

typedef struct {
  sfu_hnode_t node;
  int key;
} item_t;

static item_t *find(sfu_hmap_t *m, int key) {
  uint64_t h = sfu_hash_bytes(&key, sizeof key);
  for (sfu_hnode_t *n = sfu_hmap_first(m, h); n; n = sfu_hmap_next(n, h)) {
    item_t *it = sfu_container_of(n, item_t, node);
    if (it->key == key) return it;
  }
  return NULL;
}

TEST(strerror_covers_every_code) {
  CHECK_EQ_STR(sfu_strerror(0), "success");
  CHECK_EQ_STR(sfu_strerror(SFU_ENOENT), "not found");
  CHECK_EQ_STR(sfu_err_name(SFU_ELIMIT), "ELIMIT");
  CHECK_EQ_STR(sfu_strerror(12345), "unknown error");
  CHECK(SFU_EINTERNAL < 0);
}

TEST(hmap_insert_find_remove_grow) {
  sfu_hmap_t m;
  REQUIRE(sfu_hmap_init(&m, 4) == 0);
  enum { N = 1000 };
  item_t *items = calloc(N, sizeof *items);
  for (int i = 0; i < N; i++) {
    items[i].key = i * 7;
    CHECK(sfu_hmap_insert(&m, &items[i].node, sfu_hash_bytes(&items[i].key, sizeof(int))) == 0);
  }
  CHECK_EQ_INT(m.count, N);
  CHECK(m.mask + 1 >= N);
  for (int i = 0; i < N; i++) CHECK(find(&m, i * 7) == &items[i]);
  CHECK(find(&m, 3) == NULL);
  for (int i = 0; i < N; i += 2) sfu_hmap_remove(&m, &items[i].node);
  CHECK_EQ_INT(m.count, N / 2);
  CHECK(find(&m, 0) == NULL);
  CHECK(find(&m, 7) == &items[1]);
  size_t b, seen = 0;
  for (sfu_hnode_t *n = sfu_hmap_iter_first(&m, &b); n; n = sfu_hmap_iter_next(&m, n, &b)) seen++;
  CHECK_EQ_INT(seen, N / 2);
  sfu_hmap_free(&m);
  free(items);
}

TEST(uuid_and_token) {
  char a[SFU_UUID_LEN + 1], b[SFU_UUID_LEN + 1];
  CHECK(sfu_uuid_v4(a) == 0 && sfu_uuid_v4(b) == 0);
  CHECK(sfu_uuid_valid(a));
  CHECK(strcmp(a, b) != 0);
  CHECK(a[14] == '4');
  CHECK(!sfu_uuid_valid("not-a-uuid"));
  CHECK(!sfu_uuid_valid("0000000-00000-0000-0000-000000000000"));
  char t[SFU_TOKEN_LEN + 1], u[SFU_TOKEN_LEN + 1];
  CHECK(sfu_token_new(t) == 0 && sfu_token_new(u) == 0);
  CHECK_EQ_INT(strlen(t), SFU_TOKEN_LEN);
  CHECK(strcmp(t, u) != 0);
  CHECK(sfu_ct_equal(t, strlen(t), t, strlen(t)));
  CHECK(!sfu_ct_equal(t, strlen(t), u, strlen(u)));
  CHECK(!sfu_ct_equal(t, strlen(t) - 1, t, strlen(t)));
  CHECK(!sfu_ct_equal("", 0, t, strlen(t)));
  char ice[17];
  CHECK(sfu_random_ice_chars(ice, 16) == 0 && strlen(ice) == 16);
}

TEST(pool_reuses_blocks_and_respects_max) {
  sfu_pool_t p;
  sfu_pool_init(&p, 100, 4, 6);
  void *blocks[6];
  for (int i = 0; i < 6; i++) CHECK((blocks[i] = sfu_pool_get(&p)) != NULL);
  CHECK(sfu_pool_get(&p) == NULL);
  CHECK_EQ_INT(p.in_use, 6);
  sfu_pool_put(&p, blocks[3]);
  CHECK(sfu_pool_get(&p) == blocks[3]);
  for (int i = 0; i < 6; i++) sfu_pool_put(&p, blocks[i]);
  CHECK_EQ_INT(p.in_use, 0);
  sfu_pool_destroy(&p);
}

TEST(list_basics) {
  sfu_list_t h, a, b;
  sfu_list_init(&h);
  CHECK(sfu_list_empty(&h));
  sfu_list_insert_tail(&h, &a);
  sfu_list_insert_tail(&h, &b);
  CHECK(h.next == &a && h.prev == &b);
  sfu_list_remove(&a);
  CHECK(h.next == &b);
  sfu_list_remove(&b);
  CHECK(sfu_list_empty(&h));
}

int main(void) {
  RUN(strerror_covers_every_code);
  RUN(hmap_insert_find_remove_grow);
  RUN(uuid_and_token);
  RUN(pool_reuses_blocks_and_respects_max);
  RUN(list_basics);
  return test_summary();
}
