// Built instead of the generated assets when -DTK_DASHBOARD=OFF: the collector then answers
// `/` with 404 and says how to build the dashboard in.
#include "tk/collector/dashboard.hpp"

namespace tk::collector {

const std::vector<StaticAsset>& dashboard_assets() {
    static const std::vector<StaticAsset> none;
    return none;
}

}  // namespace tk::collector
