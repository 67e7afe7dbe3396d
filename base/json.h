// Typed, exception-free reads of untrusted JSON (image manifests and configs come from whoever
// made the image): a missing or null member is "absent", a member of the wrong type is an error.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace uvm {

// Parses `text` as one JSON value, refusing trailing data and anything not an object.
Result<nlohmann::json> ParseJsonObject(std::string_view text, const std::string& what);

Result<std::optional<std::string>> OptString(const nlohmann::json& obj, const char* key,
                                             const std::string& what);
Result<std::string> ReqString(const nlohmann::json& obj, const char* key, const std::string& what);
Result<std::vector<std::string>> OptStrings(const nlohmann::json& obj, const char* key,
                                            const std::string& what);
Result<std::optional<int64_t>> OptInt(const nlohmann::json& obj, const char* key,
                                      const std::string& what);
// A required integer member within [min, max].
Result<int64_t> ReqIntInRange(const nlohmann::json& obj, const char* key, int64_t min, int64_t max,
                              const std::string& what);
// An array member (empty when absent or null).
Result<nlohmann::json> OptArray(const nlohmann::json& obj, const char* key,
                                const std::string& what);
// An object member (empty object when absent or null).
Result<nlohmann::json> OptObject(const nlohmann::json& obj, const char* key,
                                 const std::string& what);

}  // namespace uvm
