/*
 * ketamaref prints reference placements from libmemcached's weighted ketama
 * (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED: MD5 key and point hash, 160 points per
 * server scaled by weight), for the Go tests in package sharding.
 *
 * It is our own test tool, not part of the build. Regenerate the vectors with
 * gen.sh in this directory (needs gcc and libmemcached-dev):
 *
 *   cd sharding/testdata/ketamaref && ./gen.sh
 *
 * Usage: ketamaref SCENARIO   (prints the vector file for SCENARIO to stdout)
 *
 * Output format, one record per line, fields separated by one tab:
 *   # comment
 *   server <host> <port> <weight>      (in the order they were added)
 *   key <server index> <key>
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct server {
  const char *host;
  unsigned port;
  unsigned weight;
};

static struct server equal3[] = {
    {"10.0.0.1", 11211, 1}, {"10.0.0.2", 11211, 1}, {"10.0.0.3", 11211, 1}, {NULL, 0, 0}};

static struct server ports[] = {{"127.0.0.1", 11211, 1},
                                {"127.0.0.1", 11212, 1},
                                {"127.0.0.1", 22122, 1},
                                {"cache-a.example.com", 11211, 1},
                                {"cache-b.example.com", 7000, 1},
                                {NULL, 0, 0}};

static struct server weights[] = {{"10.1.0.1", 11211, 1}, {"10.1.0.2", 11211, 2},
                                  {"10.1.0.3", 11211, 3}, {"10.1.0.4", 11212, 5},
                                  {"10.1.0.5", 11211, 7}, {"10.1.0.6", 11213, 1},
                                  {"10.1.0.7", 11211, 100}, {NULL, 0, 0}};

static struct server zeroweight[] = {
    {"10.2.0.1", 11211, 0}, {"10.2.0.2", 11211, 1}, {"10.2.0.3", 11211, 3}, {NULL, 0, 0}};

static struct server single[] = {{"10.3.0.1", 11211, 1}, {NULL, 0, 0}};

static void add_servers(memcached_st *memc, const struct server *list) {
  for (; list->host != NULL; list++) {
    memcached_return_t rc =
        memcached_server_add_with_weight(memc, list->host, (in_port_t) list->port, list->weight);
    if (rc != MEMCACHED_SUCCESS) {
      fprintf(stderr, "add %s:%u: %s\n", list->host, list->port, memcached_strerror(memc, rc));
      exit(1);
    }
  }
}

/* libmemcached asserts at most 100 servers (MEMCACHED_CONTINUUM_SIZE), so n <= 100.
 * many builds n servers named 10.9.<i/250>.<i%250+1>, every fourth on port 11300+i. */
static struct server *many(unsigned n, int weighted) {
  struct server *list = calloc(n + 1, sizeof(*list));
  for (unsigned i = 0; i < n; i++) {
    char *host = malloc(32);
    snprintf(host, 32, "10.9.%u.%u", i / 250, i % 250 + 1);
    list[i].host = host;
    list[i].port = (i % 4 == 3) ? 11300 + i : 11211;
    list[i].weight = weighted ? 1 + (i * 7) % 5 : 1;
  }
  return list;
}

/* next is a small deterministic generator for key text. */
static unsigned long long state = 0x9E3779B97F4A7C15ULL;
static unsigned long long next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static void make_key(unsigned i, char *buf, size_t size) {
  static const char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-.{}/|";
  switch (i % 4) {
  case 0:
    snprintf(buf, size, "key%u", i);
    break;
  case 1:
    snprintf(buf, size, "user:%u:profile", i * 7919u);
    break;
  default: {
    /* mostly 1..40 printable bytes, every 50th key 200..249 bytes */
    size_t len = (i % 50 == 2) ? 200 + next() % 50 : 1 + next() % 40;
    for (size_t j = 0; j < len; j++) {
      buf[j] = alphabet[next() % (sizeof(alphabet) - 1)];
    }
    buf[len] = '\0';
  }
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: ketamaref equal3|ports|weights|zeroweight|single|many100|many97w\n");
    return 2;
  }
  const char *name = argv[1];
  const struct server *list = NULL;
  unsigned nkeys = 3000;
  if (strcmp(name, "equal3") == 0) {
    list = equal3;
  } else if (strcmp(name, "ports") == 0) {
    list = ports;
  } else if (strcmp(name, "weights") == 0) {
    list = weights;
  } else if (strcmp(name, "zeroweight") == 0) {
    list = zeroweight;
  } else if (strcmp(name, "single") == 0) {
    list = single;
    nkeys = 100;
  } else if (strcmp(name, "many100") == 0) {
    list = many(100, 0);
    nkeys = 10000;
  } else if (strcmp(name, "many97w") == 0) {
    list = many(97, 1);
    nkeys = 10000;
  } else {
    fprintf(stderr, "unknown scenario %s\n", name);
    return 2;
  }

  memcached_st *memc = memcached_create(NULL);
  if (memc == NULL) {
    fprintf(stderr, "memcached_create failed\n");
    return 1;
  }
  /* Weighted ketama: MD5 for keys and points, 40 digests x 4 points per server. */
  if (memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1) != MEMCACHED_SUCCESS) {
    fprintf(stderr, "set KETAMA_WEIGHTED failed\n");
    return 1;
  }
  add_servers(memc, list);

  printf("# libmemcached %s weighted ketama (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED=1), scenario %s\n",
         LIBMEMCACHED_VERSION_STRING, name);
  printf("# generated by sharding/testdata/ketamaref/ketamaref.c; do not edit\n");
  for (const struct server *s = list; s->host != NULL; s++) {
    printf("server\t%s\t%u\t%u\n", s->host, s->port, s->weight);
  }
  char key[256];
  for (unsigned i = 0; i < nkeys; i++) {
    make_key(i, key, sizeof(key));
    uint32_t idx = memcached_generate_hash(memc, key, strlen(key));
    printf("key\t%u\t%s\n", idx, key);
  }
  memcached_free(memc);
  return 0;
}
