// Errors handed to JavaScript always carry a `code` (EINVAL, ERANGE, SIGBUS,
// EBADF, or an errno name) so callers can branch without parsing messages.
#pragma once

#include <napi.h>

#include <string>

namespace vgpu {

inline Napi::Error ErrorWithCode(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

inline Napi::Error RangeErrorWithCode(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::RangeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ERANGE"));
  return error;
}

inline Napi::Error TypeErrorWithCode(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, "EINVAL"));
  return error;
}

// Reads a non-negative integer (up to 2^53) from a JS value. Returns false for
// anything else (NaN, fractions, negatives, non-numbers).
inline bool ToIndex(const Napi::Value& value, uint64_t* out) {
  if (!value.IsNumber()) return false;
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

inline std::string ValueForMessage(const Napi::Value& value) {
  if (value.IsUndefined()) return "undefined";
  Napi::String text = value.ToString();
  return text.IsEmpty() ? std::string("?") : text.Utf8Value();
}

}  // namespace vgpu
