/* limit_server.c - the benchmark's "limit" row: what this machine's kernel
 * and load client allow, with no framework in the way.
 *
 *     limit_server PORT
 *
 * One thread, one epoll set (level-triggered), non-blocking sockets.  It
 * follows the server contract of bench/README.md:
 *   GET /echo    every data frame is sent back as it arrives: the header
 *                first, then the payload unmasked in place, chunk by chunk
 *                (a fragmented message comes back fragmented the same way,
 *                which the contract allows);
 *   GET /fanout  every text message (assembled when fragmented) goes to every
 *                open /fanout connection, sender included; binary is ignored;
 *   other paths  404.
 * Pings are answered, a close is answered (same code) and the socket closed.
 * The replies of everything one read() brought are gathered and written with
 * one write() per connection.  It checks the framing rules the client relies
 * on (mask bit, RSV bits, opcodes, control frame length) but, unlike every
 * library of the benchmark, it does not validate UTF-8 nor limit sizes: it
 * is a floor for the cost per message, not a server to deploy.
 *
 * Built by bench/setup.sh (and run.py) as $BENCH_HOME/limit_server.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF_SIZE (256 * 1024)
#define HS_CAP 4096
#define STAGE_CAP (RBUF_SIZE + 64 * 1024)

enum { ST_HANDSHAKE, ST_OPEN, ST_CLOSED };

typedef struct conn {
    int fd;
    uint8_t state, fanout, closing;  /* closing: close once the output is written */
    uint8_t hdrlen, hdrneed;
    uint8_t hdr[14];
    /* the frame being read */
    uint8_t op, fin, mask[4];
    uint64_t left, off;
    /* a control frame's payload, or (fanout) the text message being gathered */
    uint8_t ctl[125];
    uint8_t ctllen;
    uint8_t *msg;
    size_t msglen, msgcap;
    uint8_t msg_op;
    /* the handshake head (freed once answered) */
    char *hs;
    uint32_t hslen;
    /* output the kernel did not take yet */
    uint8_t *out;
    size_t outlen, outcap, outpos;
    /* fanout set membership */
    struct conn *prev, *next;
} conn;

static int ep;
static uint8_t rbuf[RBUF_SIZE];
static uint8_t stage[STAGE_CAP];     /* replies gathered for the connection being read */
static size_t stagelen;
static conn *fan_head;
/* connections closed while handling a batch of events: freed after it, as a
 * later event of the same batch may still point at them */
static conn **dead;
static size_t ndead, capdead;

/* ------------------------------------------------------------------ SHA-1 */

typedef struct { uint32_t h[5]; uint64_t n; uint8_t b[64]; size_t bl; } sha1;

static uint32_t rol(uint32_t x, int k) { return x << k | x >> (32 - k); }

static void sha1_block(sha1 *s, const uint8_t *p)
{
    uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | p[4 * i + 1] << 16 | p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
        else { f = b ^ c ^ d; k = 0xca62c1d6; }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}

static void sha1_update(sha1 *s, const uint8_t *p, size_t n)
{
    s->n += n;
    while (n--) {
        s->b[s->bl++] = *p++;
        if (s->bl == 64) { sha1_block(s, s->b); s->bl = 0; }
    }
}

static void sha1_final(sha1 *s, uint8_t out[20])
{
    uint64_t bits = s->n * 8;
    uint8_t pad = 0x80, zero = 0, len[8];
    sha1_update(s, &pad, 1);
    while (s->bl != 56)
        sha1_update(s, &zero, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(s, len, 8);
    for (int i = 0; i < 20; i++)
        out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

static void accept_key(const char *key, size_t klen, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    sha1 s = {{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}, 0, {0}, 0};
    uint8_t d[21];
    sha1_update(&s, (const uint8_t *)key, klen);
    sha1_update(&s, (const uint8_t *)guid, sizeof guid - 1);
    sha1_final(&s, d);
    d[20] = 0;
    char *o = out;
    for (int i = 0; i < 21; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < 21 ? d[i + 1] << 8 : 0) | (i + 2 < 21 ? d[i + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[v >> 6 & 63];
        *o++ = b64[v & 63];
    }
    out[27] = '=';   /* 20 bytes: 27 characters and one '=' */
    out[28] = 0;
}

/* ------------------------------------------------------------------ output */

static void conn_free(conn *c);

static void want_out(conn *c, int on)
{
    struct epoll_event ev = {.events = on ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* write what c holds; returns 0 when the connection was freed */
static int flush_out(conn *c)
{
    while (c->outpos < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outpos, c->outlen - c->outpos, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 1;
            conn_free(c);
            return 0;
        }
        c->outpos += (size_t)w;
    }
    free(c->out);
    c->out = NULL;
    c->outlen = c->outcap = c->outpos = 0;
    if (c->closing) {
        conn_free(c);
        return 0;
    }
    want_out(c, 0);
    return 1;
}

static void keep(conn *c, const uint8_t *p, size_t n)
{
    if (c->outlen + n > c->outcap) {
        size_t cap = c->outcap ? c->outcap * 2 : 65536;
        while (cap < c->outlen + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out) { perror("realloc"); exit(1); }
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, p, n);
    c->outlen += n;
}

/* send now what the kernel takes, keep the rest (and stop reading c until
 * it is written); returns 0 when the connection was freed */
static int send_to(conn *c, const uint8_t *p, size_t n)
{
    if (c->state == ST_CLOSED)
        return 1;
    if (c->outlen) {
        keep(c, p, n);
        return 1;
    }
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            conn_free(c);
            return 0;
        }
        p += w;
        n -= (size_t)w;
    }
    if (n) {
        keep(c, p, n);
        want_out(c, 1);
    }
    return 1;
}

static int stage_flush(conn *c)
{
    size_t n = stagelen;
    stagelen = 0;
    return n ? send_to(c, stage, n) : 1;
}

static int stage_put(conn *c, const uint8_t *p, size_t n)
{
    if (stagelen + n > STAGE_CAP) {
        if (!stage_flush(c))
            return 0;
        if (n > STAGE_CAP)
            return send_to(c, p, n);
    }
    memcpy(stage + stagelen, p, n);
    stagelen += n;
    return 1;
}

static size_t put_header(uint8_t *h, uint8_t b0, uint64_t len)
{
    h[0] = b0;
    if (len < 126) { h[1] = (uint8_t)len; return 2; }
    if (len < 65536) { h[1] = 126; h[2] = (uint8_t)(len >> 8); h[3] = (uint8_t)len; return 4; }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

/* ------------------------------------------------------------------ frames */

static void unmask(uint8_t *p, size_t n, const uint8_t m[4], uint64_t off)
{
    uint8_t r[4] = {m[off & 3], m[(off + 1) & 3], m[(off + 2) & 3], m[(off + 3) & 3]};
    uint32_t m32;
    size_t i = 0;
    memcpy(&m32, r, 4);
    uint64_t m64 = (uint64_t)m32 << 32 | m32;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= m64;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++)
        p[i] ^= r[i & 3];
}

static void fan_remove(conn *c)
{
    if (!c->fanout)
        return;
    if (c->prev) c->prev->next = c->next; else fan_head = c->next;
    if (c->next) c->next->prev = c->prev;
    c->fanout = 0;
}

static void conn_free(conn *c)
{
    if (c->state == ST_CLOSED)
        return;
    c->state = ST_CLOSED;
    fan_remove(c);
    close(c->fd);
    free(c->hs);
    free(c->out);
    free(c->msg);
    c->hs = NULL;
    c->out = c->msg = NULL;
    c->outlen = c->outpos = c->outcap = 0;
    if (ndead == capdead) {
        capdead = capdead ? capdead * 2 : 64;
        if (!(dead = realloc(dead, capdead * sizeof *dead))) { perror("realloc"); exit(1); }
    }
    dead[ndead++] = c;
}

static void fanout_send(const uint8_t *p, size_t n, conn *sender)
{
    uint8_t h[10];
    size_t hl = put_header(h, 0x81, n);
    uint8_t *f = malloc(hl + n);
    if (!f) { perror("malloc"); exit(1); }
    memcpy(f, h, hl);
    memcpy(f + hl, p, n);
    for (conn *c = fan_head, *next; c; c = next) {
        next = c->next;
        if (c == sender) {
            stage_put(c, f, hl + n);   /* with the sender's other replies */
        } else {
            send_to(c, f, hl + n);
        }
    }
    free(f);
}

/* a complete header in h: returns 0 on a protocol error */
static int begin_frame(conn *c, const uint8_t *h)
{
    uint8_t l = h[1] & 0x7f;
    uint64_t len = l;
    if (!(h[1] & 0x80) || (h[0] & 0x70))
        return 0;
    if (l == 126)
        len = (uint64_t)h[2] << 8 | h[3];
    else if (l == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
    }
    size_t ml = 2 + (l == 126 ? 2 : l == 127 ? 8 : 0);
    memcpy(c->mask, h + ml, 4);
    c->fin = h[0] >> 7;
    c->op = h[0] & 0x0f;
    c->left = len;
    c->off = 0;
    if (c->op >= 8) {
        if (len > 125 || !c->fin || c->op > 10)
            return 0;
        c->ctllen = 0;
        return 1;
    }
    if (c->op > 2)
        return 0;
    if (!c->fanout) {
        /* echo: the frame goes back as it is, unmasked */
        uint8_t o[10];
        return stage_put(c, o, put_header(o, h[0], len)) ? 1 : -1;
    }
    if (c->op != 0)
        c->msg_op = c->op;
    if (c->op != 0)
        c->msglen = 0;
    return 1;
}

/* returns 0 when the connection was freed */
static int frame_done(conn *c)
{
    if (c->op == 9) {              /* ping: pong */
        uint8_t o[127];
        size_t hl = put_header(o, 0x8a, c->ctllen);
        memcpy(o + hl, c->ctl, c->ctllen);
        return stage_put(c, o, hl + c->ctllen);
    }
    if (c->op == 8) {              /* close: answer it, then close the socket */
        uint8_t o[4] = {0x88, 0};
        if (c->ctllen >= 2) { o[1] = 2; o[2] = c->ctl[0]; o[3] = c->ctl[1]; }
        if (!stage_put(c, o, 2 + o[1]) || !stage_flush(c))
            return 0;
        c->closing = 1;
        fan_remove(c);
        if (!c->outlen) {
            conn_free(c);
            return 0;
        }
        return 1;
    }
    if (c->op == 10)
        return 1;
    if (c->fanout && c->fin && c->msg_op == 1)
        fanout_send(c->msg, c->msglen, c);
    return c->state != ST_CLOSED;
}

/* feed received frame bytes; returns 0 when the connection was freed */
static int feed(conn *c, uint8_t *p, size_t n)
{
    while (n && !c->closing) {
        if (c->left) {
            size_t take = n < c->left ? n : (size_t)c->left;
            unmask(p, take, c->mask, c->off);
            if (c->op >= 8) {
                memcpy(c->ctl + c->ctllen, p, take);
                c->ctllen += (uint8_t)take;
            } else if (!c->fanout) {
                if (!stage_put(c, p, take))
                    return 0;
            } else if (c->msg_op == 1) {
                if (c->msglen + take > c->msgcap) {
                    size_t cap = c->msgcap ? c->msgcap : 256;
                    while (cap < c->msglen + take)
                        cap *= 2;
                    if (!(c->msg = realloc(c->msg, cap))) { perror("realloc"); exit(1); }
                    c->msgcap = cap;
                }
                memcpy(c->msg + c->msglen, p, take);
                c->msglen += take;
            }
            c->left -= take;
            c->off += take;
            p += take;
            n -= take;
            if (!c->left && !frame_done(c))
                return 0;
            continue;
        }
        const uint8_t *h;
        if (c->hdrlen == 0 && n >= 2 && n >= (size_t)(2 + ((p[1] & 0x7f) == 126 ? 2 : (p[1] & 0x7f) == 127 ? 8 : 0) + 4)) {
            h = p;
            size_t l = p[1] & 0x7f;
            size_t need = 6 + (l == 126 ? 2 : l == 127 ? 8 : 0);
            p += need;
            n -= need;
        } else {
            c->hdr[c->hdrlen++] = *p++;
            n--;
            if (c->hdrlen == 2) {
                uint8_t l = c->hdr[1] & 0x7f;
                c->hdrneed = 6 + (l == 126 ? 2 : l == 127 ? 8 : 0);
            }
            if (c->hdrlen < 2 || c->hdrlen < c->hdrneed)
                continue;
            c->hdrlen = 0;
            h = c->hdr;
        }
        int ok = begin_frame(c, h);
        if (ok < 0)
            return 0;
        if (!ok) {                      /* protocol error: close 1002 */
            uint8_t o[4] = {0x88, 2, 0x03, 0xea};
            stage_put(c, o, 4);
            stage_flush(c);
            if (c->state != ST_CLOSED)
                conn_free(c);
            return 0;
        }
        if (!c->left && !frame_done(c))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ handshake */

static const char *header_value(const char *head, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            if (!e)
                e = v + strlen(v);
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *len = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

/* returns 0 when the connection was freed */
static int handshake(conn *c)
{
    c->hs[c->hslen] = 0;
    char *end = strstr(c->hs, "\r\n\r\n");
    if (!end) {
        if (c->hslen >= HS_CAP - 1) {
            conn_free(c);
            return 0;
        }
        return 1;
    }
    end[2] = 0;
    size_t used = (size_t)(end - c->hs) + 4;
    int echo = !strncmp(c->hs, "GET /echo ", 10), fan = !strncmp(c->hs, "GET /fanout ", 12);
    size_t klen;
    const char *key = header_value(c->hs, "sec-websocket-key", &klen);
    if ((!echo && !fan) || !key) {
        static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        send(c->fd, nf, sizeof nf - 1, MSG_NOSIGNAL);
        conn_free(c);
        return 0;
    }
    char acc[29], resp[160];
    accept_key(key, klen, acc);
    int rl = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
    uint32_t extra = c->hslen - (uint32_t)used;
    char *hs = c->hs;
    c->hs = NULL;
    c->state = ST_OPEN;
    if (fan) {
        c->fanout = 1;
        c->next = fan_head;
        if (fan_head)
            fan_head->prev = c;
        fan_head = c;
    }
    int alive = send_to(c, (const uint8_t *)resp, (size_t)rl);
    if (alive && extra) {
        stagelen = 0;
        alive = feed(c, (uint8_t *)hs + used, extra) && stage_flush(c);
    }
    free(hs);
    return alive;
}

static void on_readable(conn *c)
{
    if (c->state == ST_HANDSHAKE) {
        if (!c->hs && !(c->hs = malloc(HS_CAP))) { perror("malloc"); exit(1); }
        ssize_t r = read(c->fd, c->hs + c->hslen, HS_CAP - 1 - c->hslen);
        if (r <= 0) {
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            conn_free(c);
            return;
        }
        c->hslen += (uint32_t)r;
        handshake(c);
        return;
    }
    ssize_t r = read(c->fd, rbuf, RBUF_SIZE);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_free(c);
        return;
    }
    stagelen = 0;
    if (feed(c, rbuf, (size_t)r))
        stage_flush(c);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) {
        perror("bind/listen");
        return 1;
    }
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("limit server listening on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c && c->state == ST_CLOSED)
                continue;
            if (!c) {
                for (;;) {        /* every pending connection, one wakeup */
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = calloc(1, sizeof *nc);
                    if (!nc) { perror("calloc"); exit(1); }
                    nc->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (!flush_out(c))
                    continue;
                if (c->outlen)
                    continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
        for (size_t k = 0; k < ndead; k++)
            free(dead[k]);
        ndead = 0;
    }
}
