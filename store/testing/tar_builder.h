// Builds ustar archives byte by byte for tests, including ones no careful tool would write
// (`../` names, entries through symlinks, truncation), and gzips them.
#pragma once

#include <cstdint>
#include <string>

namespace uvm::store::testing {

class TarBuilder {
 public:
  TarBuilder& File(const std::string& path, const std::string& content, uint32_t mode = 0644,
                   uint32_t uid = 0, uint32_t gid = 0);
  TarBuilder& Dir(const std::string& path, uint32_t mode = 0755, uint32_t uid = 0,
                  uint32_t gid = 0);
  TarBuilder& Symlink(const std::string& path, const std::string& target);
  TarBuilder& Hardlink(const std::string& path, const std::string& target);
  TarBuilder& CharDevice(const std::string& path, uint32_t major, uint32_t minor);
  TarBuilder& Fifo(const std::string& path);
  // The archive with its two end-of-archive blocks.
  std::string Finish() const;
  // The archive so far without the end blocks.
  const std::string& bytes() const { return out_; }

 private:
  void Header(const std::string& path, char type, uint32_t mode, uint32_t uid, uint32_t gid,
              uint64_t size, const std::string& link, uint32_t major = 0, uint32_t minor = 0);
  std::string out_;
};

std::string Gzip(const std::string& data);

// Writes `content` to `path` (test helper; aborts the test on failure via the return value).
bool WriteFile(const std::string& path, const std::string& content);

}  // namespace uvm::store::testing
