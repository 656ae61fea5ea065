/* data/byte_reader.c — plain or gzip'ed memory reads (see byte_reader.h). */
#include "data/byte_reader.h"

#include <string.h>

#include "core/error.h"

int br_open(ByteReader *r, const uint8_t *buf, size_t n, const char *name) {
    *r = (ByteReader){.buf = buf, .n = n, .name = name};
    r->gz = n >= 2 && buf[0] == 0x1F && buf[1] == 0x8B;
    if (!r->gz) return 0;
    if (inflateInit2(&r->zs, 15 + 16) != Z_OK) { /* 15-bit window, gzip wrapper only */
        r->gz = 0;
        return ldm_error("data", "%s: zlib cannot start", name);
    }
    r->zs.next_in = (Bytef *)buf;
    r->zs.avail_in = n > 0x7FFFFFFFu ? 0x7FFFFFFFu : (uInt)n;
    return 0;
}

long long br_read(ByteReader *r, void *dst, size_t len, const char *op) {
    if (!r->gz) {
        size_t k = r->n - r->pos < len ? r->n - r->pos : len;
        memcpy(dst, r->buf + r->pos, k);
        r->pos += k;
        return (long long)k;
    }
    size_t got = 0;
    while (got < len && !r->ended) {
        size_t want = len - got > 0x40000000u ? 0x40000000u : len - got;
        r->zs.next_out = (Bytef *)dst + got;
        r->zs.avail_out = (uInt)want;
        int zr = inflate(&r->zs, Z_NO_FLUSH);
        got += want - r->zs.avail_out;
        if (zr == Z_STREAM_END) r->ended = 1;
        else if (zr == Z_BUF_ERROR && r->zs.avail_in == 0)
            return ldm_error(op, "%s: gzip data ends early (truncated .gz)", r->name);
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return ldm_error(op, "%s: corrupt gzip data (%s)", r->name, r->zs.msg ? r->zs.msg : zError(zr));
    }
    return (long long)got;
}

size_t br_max_remaining(const ByteReader *r) {
    if (!r->gz) return r->n - r->pos;
    if (r->ended) return 0;
    size_t left = r->zs.avail_in;
    return left > SIZE_MAX / 1032 - 1 ? SIZE_MAX : left * 1032 + 1024;
}

long long br_skip(ByteReader *r, size_t len, const char *op) {
    uint8_t scratch[4096];
    size_t done = 0;
    while (done < len) {
        size_t k = len - done < sizeof scratch ? len - done : sizeof scratch;
        long long g = br_read(r, scratch, k, op);
        if (g < 0) return -1;
        done += (size_t)g;
        if ((size_t)g < k) break;
    }
    return (long long)done;
}

void br_close(ByteReader *r) {
    if (r->gz) inflateEnd(&r->zs);
    r->gz = 0;
}
