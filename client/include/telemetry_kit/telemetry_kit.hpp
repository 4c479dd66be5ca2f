#pragma once
/// Everything of the C++ API: the client, the scope helper, the consent helper.
#include "telemetry_kit/client.hpp"
#include "telemetry_kit/consent.hpp"
#include "telemetry_kit/version.hpp"
