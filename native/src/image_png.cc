// PNG through libpng, for the files sharp would decode without colour management or rotation:
// 8-bit or lower grey, grey + alpha, RGB, RGBA and palette, with or without tRNS, interlaced or
// not. Anything carrying a colour profile, EXIF, animation or 16-bit samples is declined.
#include <png.h>

#include <csetjmp>
#include <cstring>

#include "image_target.h"

namespace loupe {
namespace {

struct Reader {
  const uint8_t* bytes;
  size_t length;
  size_t at;
  std::chrono::steady_clock::time_point deadline;
  bool warned;
  bool timedOut;
  jmp_buf jump;
};

[[noreturn]] void onError(png_structp png, png_const_charp) {
  longjmp(static_cast<Reader*>(png_get_error_ptr(png))->jump, 1);
}

// sharp refuses a file libpng warns about (failOn 'warning'): decline and let it say why.
void onWarning(png_structp png, png_const_charp) { static_cast<Reader*>(png_get_error_ptr(png))->warned = true; }

void onRead(png_structp png, png_bytep into, png_size_t n) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (n > r->length - r->at) png_error(png, "truncated");
  std::memcpy(into, r->bytes + r->at, n);
  r->at += n;
}

void onRow(png_structp png, png_uint_32, int) {
  auto* r = static_cast<Reader*>(png_get_error_ptr(png));
  if (std::chrono::steady_clock::now() > r->deadline) {
    r->timedOut = true;
    longjmp(r->jump, 1);
  }
}

uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

// A walk over the chunk headers (no inflating), before libpng sees the file: the size for the
// pixel limit, and the chunks that would make sharp's result differ from a plain decode.
Declined screen(const uint8_t* b, size_t n, const DecodeTarget& t) {
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (n < 8 + 25 || std::memcmp(b, signature, 8) != 0 || std::memcmp(b + 12, "IHDR", 4) != 0)
    return "png-error";
  const uint32_t width = be32(b + 16);
  const uint32_t height = be32(b + 20);
  if (static_cast<double>(width) * height > t.maxPixels) return "pixels";
  if (static_cast<int64_t>(width) != t.width || static_cast<int64_t>(height) != t.height) return "size";
  if (b[24] == 16) return "16-bit";
  for (size_t at = 8; at + 12 <= n;) {
    const uint32_t len = be32(b + at);
    const uint8_t* type = b + at + 4;
    // iCCP, sRGB, gAMA, cHRM, cICP: colour management that sharp may apply; eXIf: orientation;
    // acTL: an animated PNG.
    for (const char* refused : {"iCCP", "sRGB", "gAMA", "cHRM", "cICP", "eXIf", "acTL"})
      if (std::memcmp(type, refused, 4) == 0) return std::string("png-") + refused;
    if (std::memcmp(type, "IEND", 4) == 0) break;
    if (len > n - at - 12) break;  // truncated: libpng reports it
    at += size_t{len} + 12;
  }
  return {};
}

Declined run(png_structp png, png_infop info, Reader& r, Pixels& out, std::vector<png_bytep>& rows) {
  if (setjmp(r.jump)) return r.timedOut ? kTimedOut : "png-error";
  png_set_read_fn(png, &r, onRead);
  png_set_read_status_fn(png, onRow);
  png_read_info(png, info);
  const int type = png_get_color_type(png, info);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_bit_depth(png, info) != 8) return "bit-depth";
  out.width = static_cast<int>(png_get_image_width(png, info));
  out.height = static_cast<int>(png_get_image_height(png, info));
  out.bands = png_get_channels(png, info);
  const size_t stride = png_get_rowbytes(png, info);
  if (stride != static_cast<size_t>(out.width) * out.bands) return "png-layout";
  out.data.resize(stride * out.height);
  rows.resize(out.height);
  for (int y = 0; y < out.height; y++) rows[y] = out.data.data() + y * stride;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  return r.warned ? "png-warning" : "";
}

}  // namespace

Declined decodePng(const uint8_t* bytes, size_t length, const DecodeTarget& t, Pixels& out) {
  Declined screened = screen(bytes, length, t);
  if (!screened.empty()) return screened;
  Reader r{bytes, length, 0, t.deadline, false, false, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, onError, onWarning);
  if (!png) return "png-error";
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return "png-error";
  }
  std::vector<png_bytep> rows;
  Declined result = run(png, info, r, out, rows);
  png_destroy_read_struct(&png, &info, nullptr);
  return result;
}

}  // namespace loupe
