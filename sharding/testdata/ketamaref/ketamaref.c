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
 *   server <host> <port> <weight> <addr> <ketama name>
 *   key <server index> <key>
 * <host> is the host name exactly as libmemcached stores it (its points are
 * MD5("<host>-<i>") for port 11211, else MD5("<host>:<port>-<i>")). The
 * six-field form describes the Go node for that server when it is not the
 * default Node{Addr: JoinHostPort(host, port)}: its Addr and KetamaName, "-"
 * for an empty one. Scenarios ipv6brackets and override use it.
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct server {
  const char *host; /* as libmemcached stores it */
  unsigned port;
  unsigned weight;
  const char *addr; /* Go Node.Addr if not JoinHostPort(host, port); NULL for the default */
  const char *name; /* Go Node.KetamaName; NULL for none */
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

/* IPv6 hosts given to memcached_server_add_with_weight without brackets (the
 * API takes host and port apart): libmemcached names the points "::1-<i>" on
 * port 11211 and "::1:11212-<i>" on other ports. The Go nodes use the
 * bracketed "[::1]:11212" (and one bare "fe80::2", port 11211 implied). */
static struct server ipv6[] = {{"::1", 11211, 1},
                               {"::1", 11212, 2},
                               {"fe80::2", 11211, 1, "fe80::2"},
                               {"2001:db8::10", 22122, 3},
                               {"::ffff:10.0.0.1", 11213, 1},
                               {"10.0.0.3", 11211, 1},
                               {NULL, 0, 0}};

/* The same kind of list given as a string to memcached_servers_parse (as the
 * libmemcached tools' --servers option and MEMCACHED_SERVERS do): the brackets
 * stay in the host name, so the points are "[::1]-<i>" and "[::1]:11212-<i>",
 * and a Go node needs KetamaName to match. parse_check verifies that
 * libmemcached parsed ipv6brackets_list into exactly these hosts. */
static const char ipv6brackets_list[] =
    "[::1]:11211,[::1]:11212:2,[fe80::2]:11213:3,[2001:db8::10],10.0.0.3:11214";
static struct server ipv6brackets[] = {
    {"[::1]", 11211, 1, "[::1]:11211", "[::1]"},
    {"[::1]", 11212, 2, "[::1]:11212", "[::1]:11212"},
    {"[fe80::2]", 11213, 3, "[fe80::2]:11213", "[fe80::2]:11213"},
    {"[2001:db8::10]", 11211, 1, "[2001:db8::10]:11211", "[2001:db8::10]"},
    {"10.0.0.3", 11214, 1},
    {NULL, 0, 0}};

/* Per-node KetamaName override: libmemcached sees these hosts; the Go nodes
 * have other addresses (or none) and KetamaName set to the name libmemcached
 * uses, except the last, which derives it from its Addr. */
static struct server override[] = {
    {"shard-a", 11211, 1, "127.0.0.1:40001", "shard-a"},
    {"shard-b", 11211, 2, "-", "shard-b"},
    {"10.4.0.3", 11300, 3, "10.4.0.99:11211", "10.4.0.3:11300"},
    {"cache-d.example.com", 7000, 1, "[::1]:7000", "cache-d.example.com:7000"},
    {"10.4.0.5", 11211, 1},
    {NULL, 0, 0}};

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

/* push_parsed adds the servers of a server-list string with
 * memcached_servers_parse and checks that libmemcached parsed them into the
 * hosts, ports and weights of want. */
static void push_parsed(memcached_st *memc, const char *text, const struct server *want) {
  memcached_server_list_st parsed = memcached_servers_parse(text);
  unsigned n = 0;
  while (want[n].host != NULL) {
    n++;
  }
  if (parsed == NULL || memcached_server_list_count(parsed) != n) {
    fprintf(stderr, "parse %s: got %u servers, want %u\n", text,
            parsed ? memcached_server_list_count(parsed) : 0, n);
    exit(1);
  }
  for (unsigned i = 0; i < n; i++) {
    if (strcmp(parsed[i].hostname, want[i].host) != 0 || parsed[i].port != want[i].port
        || parsed[i].weight != want[i].weight)
    {
      fprintf(stderr, "parse %s: server %u is %s %u %u, want %s %u %u\n", text, i,
              parsed[i].hostname, parsed[i].port, parsed[i].weight, want[i].host, want[i].port,
              want[i].weight);
      exit(1);
    }
  }
  memcached_return_t rc = memcached_server_push(memc, parsed);
  if (rc != MEMCACHED_SUCCESS) {
    fprintf(stderr, "push %s: %s\n", text, memcached_strerror(memc, rc));
    exit(1);
  }
  memcached_server_list_free(parsed);
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
    fprintf(stderr, "usage: ketamaref "
                    "equal3|ports|weights|zeroweight|single|many100|many97w|ipv6|ipv6brackets|"
                    "override\n");
    return 2;
  }
  const char *name = argv[1];
  const struct server *list = NULL;
  const char *server_list = NULL; /* if set, added with memcached_servers_parse */
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
  } else if (strcmp(name, "ipv6") == 0) {
    list = ipv6;
  } else if (strcmp(name, "ipv6brackets") == 0) {
    list = ipv6brackets;
    server_list = ipv6brackets_list;
  } else if (strcmp(name, "override") == 0) {
    list = override;
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
  if (server_list != NULL) {
    push_parsed(memc, server_list, list);
  } else {
    add_servers(memc, list);
  }

  printf("# libmemcached %s weighted ketama (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED=1), scenario %s\n",
         LIBMEMCACHED_VERSION_STRING, name);
  printf("# generated by sharding/testdata/ketamaref/ketamaref.c; do not edit\n");
  if (server_list != NULL) {
    printf("# servers from memcached_servers_parse(\"%s\")\n", server_list);
  }
  for (const struct server *s = list; s->host != NULL; s++) {
    printf("server\t%s\t%u\t%u", s->host, s->port, s->weight);
    if (s->addr != NULL || s->name != NULL) {
      printf("\t%s\t%s", s->addr ? s->addr : "-", s->name ? s->name : "-");
    }
    printf("\n");
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
