#include "store/testing/tar_builder.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>

namespace uvm::store::testing {
namespace {

// width-1 octal digits, zero-padded, then NUL.
void Octal(char* field, size_t width, uint64_t value) {
  for (size_t i = width - 1; i-- > 0; value >>= 3) field[i] = static_cast<char>('0' + (value & 7));
  field[width - 1] = '\0';
}

}  // namespace

// POSIX ustar header (pax spec, "ustar Interchange Format").
void TarBuilder::Header(const std::string& path, char type, uint32_t mode, uint32_t uid,
                        uint32_t gid, uint64_t size, const std::string& link, uint32_t major,
                        uint32_t minor) {
  char h[512] = {};
  std::strncpy(h, path.c_str(), 100);
  Octal(h + 100, 8, mode);
  Octal(h + 108, 8, uid);
  Octal(h + 116, 8, gid);
  Octal(h + 124, 12, size);
  Octal(h + 136, 12, 1700000000);
  std::memset(h + 148, ' ', 8);
  h[156] = type;
  std::strncpy(h + 157, link.c_str(), 100);
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  Octal(h + 329, 8, major);
  Octal(h + 337, 8, minor);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  Octal(h + 148, 7, sum);
  out_.append(h, sizeof h);
}

TarBuilder& TarBuilder::File(const std::string& path, const std::string& content, uint32_t mode,
                             uint32_t uid, uint32_t gid) {
  Header(path, '0', mode, uid, gid, content.size(), "");
  out_ += content;
  out_.append((512 - content.size() % 512) % 512, '\0');
  return *this;
}

TarBuilder& TarBuilder::Dir(const std::string& path, uint32_t mode, uint32_t uid, uint32_t gid) {
  Header(path, '5', mode, uid, gid, 0, "");
  return *this;
}

TarBuilder& TarBuilder::Symlink(const std::string& path, const std::string& target) {
  Header(path, '2', 0777, 0, 0, 0, target);
  return *this;
}

TarBuilder& TarBuilder::Hardlink(const std::string& path, const std::string& target) {
  Header(path, '1', 0644, 0, 0, 0, target);
  return *this;
}

TarBuilder& TarBuilder::CharDevice(const std::string& path, uint32_t major, uint32_t minor) {
  Header(path, '3', 0666, 0, 0, 0, "", major, minor);
  return *this;
}

TarBuilder& TarBuilder::Fifo(const std::string& path) {
  Header(path, '6', 0644, 0, 0, 0, "");
  return *this;
}

std::string TarBuilder::Finish() const { return out_ + std::string(1024, '\0'); }

std::string Gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  return static_cast<bool>(f);
}

}  // namespace uvm::store::testing
