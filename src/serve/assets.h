/* serve/assets: the page's files (web/), compiled in by cmake/embed_web.cmake. */
#ifndef VV_SERVE_ASSETS_H
#define VV_SERVE_ASSETS_H

#include <stddef.h>

typedef struct serve_asset {
    const char *path;         /* URL path, e.g. "/app.js" ("/" is index.html) */
    const char *content_type;
    const unsigned char *data;
    size_t size;
} serve_asset;

extern const serve_asset serve_assets[];
extern const size_t serve_asset_count;

#endif
