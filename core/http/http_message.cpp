#include "core/http/http_message.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/util/strings.hpp"

namespace gatedrill {

std::string_view find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

HttpResponse json_error(int status, std::string_view code, std::string_view message) {
  boost::json::object error;
  error["code"] = code;
  error["message"] = message;
  boost::json::object body;
  body["error"] = std::move(error);
  HttpResponse response;
  response.status = status;
  response.body = boost::json::serialize(body);
  return response;
}

HttpResponse json_ok(std::string body) {
  HttpResponse response;
  response.body = std::move(body);
  return response;
}

}  // namespace gatedrill
