// JPEG through libjpeg-turbo, for the images whose decoding sharp would do the same way: 8-bit
// grey or YCbCr/RGB, baseline or progressive, no colour profile, upright. libvips decodes with
// the same library and defaults (islow IDCT, fancy upsampling), so the pixels are identical.
// jpeglib.h uses size_t and FILE without including their headers.
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>

#include <csetjmp>
#include <cstring>

#include "image_target.h"

namespace loupe {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  bool warned;
  bool timedOut;
};

struct Progress {
  jpeg_progress_mgr pub;
  std::chrono::steady_clock::time_point deadline;
};

[[noreturn]] void onError(j_common_ptr cinfo) {
  longjmp(reinterpret_cast<ErrorManager*>(cinfo->err)->jump, 1);
}

// Level −1 is a warning about corrupt data. sharp refuses such files (failOn 'warning'), so this
// decoder declines them and lets sharp say what is wrong.
void onMessage(j_common_ptr cinfo, int level) {
  if (level < 0) reinterpret_cast<ErrorManager*>(cinfo->err)->warned = true;
}

// Called between row groups and scans: a progressive file of thousands of scans must not hold
// the thread past the decode timeout.
void onProgress(j_common_ptr cinfo) {
  auto* p = reinterpret_cast<Progress*>(cinfo->progress);
  if (std::chrono::steady_clock::now() > p->deadline) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    err->timedOut = true;
    longjmp(err->jump, 1);
  }
}

uint16_t read16(const uint8_t* p, bool bigEndian) {
  return bigEndian ? static_cast<uint16_t>(p[0] << 8 | p[1]) : static_cast<uint16_t>(p[1] << 8 | p[0]);
}
uint32_t read32(const uint8_t* p, bool bigEndian) {
  return bigEndian ? (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3])
                   : (uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]);
}

// The EXIF orientation of an APP1 payload: 1 (upright) when the tag is absent, 0 when the
// block cannot be read (the caller then declines, and sharp with libexif decides).
int exifOrientation(const uint8_t* d, size_t n) {
  if (n < 14 || std::memcmp(d, "Exif\0\0", 6) != 0) return 1;  // XMP or other APP1: no orientation
  const uint8_t* tiff = d + 6;
  const size_t size = n - 6;
  bool big;
  if (tiff[0] == 'M' && tiff[1] == 'M') big = true;
  else if (tiff[0] == 'I' && tiff[1] == 'I') big = false;
  else return 0;
  if (read16(tiff + 2, big) != 42) return 0;
  const uint32_t ifd = read32(tiff + 4, big);
  if (ifd > size - 2) return 0;
  const uint16_t entries = read16(tiff + ifd, big);
  if (ifd + 2 + size_t{entries} * 12 > size) return 0;
  for (uint16_t i = 0; i < entries; i++) {
    const uint8_t* e = tiff + ifd + 2 + i * 12;
    if (read16(e, big) != 0x0112) continue;
    const uint16_t type = read16(e + 2, big);
    if (type != 3 || read32(e + 4, big) != 1) return 0;  // SHORT, one value
    const uint16_t v = read16(e + 8, big);
    return v >= 1 && v <= 8 ? v : 0;
  }
  return 1;
}

// Everything that can longjmp lives here, with no C++ object of its own to unwind.
Declined run(jpeg_decompress_struct& cinfo, ErrorManager& err, Progress& progress, const uint8_t* bytes,
             size_t length, const DecodeTarget& t, Pixels& out) {
  if (setjmp(err.jump)) return err.timedOut ? kTimedOut : "jpeg-error";
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress.pub;
  jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(length));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xffff);
  if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) return "jpeg-error";
  // Before any pixel is decoded: a decompression bomb is sharp's to refuse, with its message.
  if (static_cast<double>(cinfo.image_width) * cinfo.image_height > t.maxPixels) return "pixels";
  if (static_cast<int>(cinfo.image_width) != t.width || static_cast<int>(cinfo.image_height) != t.height)
    return "size";
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 2 && m->data_length >= 12 && std::memcmp(m->data, "ICC_PROFILE", 12) == 0)
      return "icc-profile";
    if (m->marker == JPEG_APP0 + 1 && exifOrientation(m->data, m->data_length) != 1) return "orientation";
  }
  int bands;
  if (cinfo.jpeg_color_space == JCS_GRAYSCALE && cinfo.num_components == 1) {
    bands = 1;
  } else if ((cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB) &&
             cinfo.num_components == 3) {
    bands = 3;
  } else {
    return "colour-space";  // CMYK, YCCK: sharp converts them through a colour profile
  }
  cinfo.out_color_space = bands == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const size_t stride = static_cast<size_t>(cinfo.output_width) * bands;
  out.width = static_cast<int>(cinfo.output_width);
  out.height = static_cast<int>(cinfo.output_height);
  out.bands = bands;
  out.data.resize(stride * cinfo.output_height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.data.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  return err.warned ? "jpeg-warning" : "";
}

}  // namespace

Declined decodeJpeg(const uint8_t* bytes, size_t length, const DecodeTarget& t, Pixels& out) {
  jpeg_decompress_struct cinfo;
  ErrorManager err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = onError;
  err.pub.emit_message = onMessage;
  Progress progress{};
  progress.pub.progress_monitor = onProgress;
  progress.deadline = t.deadline;
  Declined result = run(cinfo, err, progress, bytes, length, t, out);
  jpeg_destroy_decompress(&cinfo);
  return result;
}

}  // namespace loupe
