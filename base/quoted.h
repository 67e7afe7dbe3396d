// Untrusted text (a digest or media type from an image, a name from a record file) inside an error
// message: errors are one line (README, "Commands"), so the text is quoted with its control
// characters, quotes and backslashes escaped (\\n, \\r, \\t, else \\xNN), and cut at kMaxQuoted
// bytes (`max`; std::string::npos: whole). The escapes are Go's strconv.Quote's too, which is how
// logrus quotes a text log field (uvm-runtime's log lines).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace uvm {

inline constexpr size_t kMaxQuoted = 200;

inline std::string Quoted(std::string_view text, size_t max = kMaxQuoted) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == max) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out += '\\';
      out += c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
    } else if (c < 0x20 || c == 0x7f) {
      char esc[5];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace uvm
