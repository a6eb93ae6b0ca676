// zlib for AsyncCurlWebSocket's permessage-deflate (RFC 7692). Debian: zlib1g-dev.
// Only the header: `deflateInit2` and `inflateInit2` are macros over the *_ functions, which
// Swift calls directly with ZLIB_VERSION and sizeof(z_stream).
#include <zlib.h>
