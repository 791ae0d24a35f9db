#pragma once
// `modelvet doctor`: what this host allows, checked by trying it, and the mode that will be used.
#include <nlohmann/json.hpp>

namespace modelvet {

nlohmann::json run_doctor();
std::string render_doctor_text(const nlohmann::json& report);

}  // namespace modelvet
