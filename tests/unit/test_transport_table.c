/* The per-loop demux index: ufrag keys, 5-tuple keys, takeover of a 5-tuple, removal. */
#include "sfu/err.h"
#include "sfu/transport_table.h"
#include "test.h"

static sfu_addr_t udp(const char *s) {
  sfu_addr_t a;
  sfu_addr_parse(&a, s);
  return a;
}

TEST(ufrag_add_lookup_remove) {
  sfu_transport_table_t t;
  REQUIRE(sfu_transport_table_init(&t) == 0);
  sfu_tt_ufrag_entry_t e1 = {0}, e2 = {0}, e3 = {0};
  int v1, v2;
  CHECK_EQ_INT(sfu_tt_add_ufrag(&t, &e1, "abcd", &v1), 0);
  CHECK_EQ_INT(sfu_tt_add_ufrag(&t, &e2, "abce", &v2), 0);
  CHECK_EQ_INT(sfu_tt_add_ufrag(&t, &e3, "abcd", &v2), SFU_EEXIST);
  CHECK_EQ_INT(sfu_tt_add_ufrag(&t, &e3, "", &v2), SFU_EINVAL);
  CHECK(sfu_tt_lookup_ufrag(&t, "abcd", 4) == &v1);
  CHECK(sfu_tt_lookup_ufrag(&t, "abce:xyz", 4) == &v2); /* a view, not NUL-terminated */
  CHECK(sfu_tt_lookup_ufrag(&t, "abc", 3) == NULL);
  CHECK(sfu_tt_lookup_ufrag(&t, "abcde", 5) == NULL);
  CHECK_EQ_INT(sfu_tt_ufrag_count(&t), 2);
  sfu_tt_remove_ufrag(&t, &e1);
  sfu_tt_remove_ufrag(&t, &e1); /* idempotent */
  CHECK(sfu_tt_lookup_ufrag(&t, "abcd", 4) == NULL);
  CHECK_EQ_INT(sfu_tt_ufrag_count(&t), 1);
  CHECK_EQ_INT(sfu_tt_add_ufrag(&t, &e1, "abcd", &v1), 0); /* re-usable after removal */
  CHECK(sfu_tt_lookup_ufrag(&t, "abcd", 4) == &v1);
  sfu_transport_table_free(&t);
}

TEST(addr_keys_include_proto_and_port) {
  sfu_transport_table_t t;
  REQUIRE(sfu_transport_table_init(&t) == 0);
  sfu_tt_addr_entry_t e1 = {0}, e2 = {0};
  int v1, v2;
  sfu_addr_t a = udp("127.0.0.1:5000"), b = udp("127.0.0.1:5001"), at = a;
  at.proto = SFU_PROTO_TCP;
  CHECK_EQ_INT(sfu_tt_add_addr(&t, &e1, &a, &v1, NULL), 0);
  CHECK_EQ_INT(sfu_tt_add_addr(&t, &e2, &at, &v2, NULL), 0);
  CHECK(sfu_tt_lookup_addr(&t, &a) == &v1);
  CHECK(sfu_tt_lookup_addr(&t, &at) == &v2); /* same ip:port over TCP is another 5-tuple */
  CHECK(sfu_tt_lookup_addr(&t, &b) == NULL);
  sfu_addr_t v6 = udp("[::1]:5000");
  CHECK(sfu_tt_lookup_addr(&t, &v6) == NULL);
  CHECK_EQ_INT(sfu_tt_addr_count(&t), 2);
  sfu_tt_remove_addr(&t, &e1);
  CHECK(sfu_tt_lookup_addr(&t, &a) == NULL);
  CHECK(sfu_tt_lookup_addr(&t, &at) == &v2);
  sfu_transport_table_free(&t);
}

static int g_released;
static void count_released(void *user, const sfu_addr_t *a) {
  (void)a;
  (*(int *)user)++;
}

TEST(addr_takeover_evicts_old_owner) {
  sfu_transport_table_t t;
  REQUIRE(sfu_transport_table_init(&t) == 0);
  g_released = 0;
  sfu_transport_table_set_hook(&t, count_released, &g_released);
  sfu_tt_addr_entry_t e1 = {0}, e2 = {0};
  int v1, v2;
  sfu_addr_t a = udp("10.0.0.1:4000");
  sfu_tt_addr_entry_t *ev = (void *)1;
  CHECK_EQ_INT(sfu_tt_add_addr(&t, &e1, &a, &v1, &ev), 0);
  CHECK(ev == NULL);
  CHECK_EQ_INT(sfu_tt_add_addr(&t, &e2, &a, &v2, &ev), 0);
  CHECK(ev == &e1);
  CHECK(!e1.linked);
  CHECK(sfu_tt_lookup_addr(&t, &a) == &v2);
  CHECK_EQ_INT(sfu_tt_addr_count(&t), 1);
  CHECK_EQ_INT(g_released, 0); /* still routed, to its new owner: the hook is not told */
  sfu_tt_remove_addr(&t, &e1); /* no-op: already evicted */
  CHECK(sfu_tt_lookup_addr(&t, &a) == &v2);
  CHECK_EQ_INT(g_released, 0);
  sfu_tt_remove_addr(&t, &e2); /* no longer routed at all: told once */
  CHECK_EQ_INT(g_released, 1);
  sfu_tt_remove_addr(&t, &e2);
  CHECK_EQ_INT(g_released, 1);
  sfu_transport_table_free(&t);
}

TEST(many_entries_grow) {
  sfu_transport_table_t t;
  REQUIRE(sfu_transport_table_init(&t) == 0);
  static sfu_tt_addr_entry_t es[2000];
  static sfu_tt_ufrag_entry_t us[2000];
  for (int i = 0; i < 2000; i++) {
    sfu_addr_t a;
    sfu_addr_from_ip(&a, "192.168.1.1", (uint16_t)(1000 + i), SFU_PROTO_UDP);
    CHECK_EQ_INT(sfu_tt_add_addr(&t, &es[i], &a, &es[i], NULL), 0);
    char uf[16];
    snprintf(uf, sizeof uf, "uf%d", i);
    CHECK_EQ_INT(sfu_tt_add_ufrag(&t, &us[i], uf, &us[i]), 0);
  }
  int bad = 0;
  for (int i = 0; i < 2000; i++) {
    sfu_addr_t a;
    sfu_addr_from_ip(&a, "192.168.1.1", (uint16_t)(1000 + i), SFU_PROTO_UDP);
    if (sfu_tt_lookup_addr(&t, &a) != &es[i]) bad++;
    char uf[16];
    int n = snprintf(uf, sizeof uf, "uf%d", i);
    if (sfu_tt_lookup_ufrag(&t, uf, (size_t)n) != &us[i]) bad++;
  }
  CHECK_EQ_INT(bad, 0);
  for (int i = 0; i < 2000; i++) {
    sfu_tt_remove_addr(&t, &es[i]);
    sfu_tt_remove_ufrag(&t, &us[i]);
  }
  CHECK_EQ_INT(sfu_tt_addr_count(&t), 0);
  CHECK_EQ_INT(sfu_tt_ufrag_count(&t), 0);
  sfu_transport_table_free(&t);
}

int main(void) {
  RUN(ufrag_add_lookup_remove);
  RUN(addr_keys_include_proto_and_port);
  RUN(addr_takeover_evicts_old_owner);
  RUN(many_entries_grow);
  return test_summary();
}
