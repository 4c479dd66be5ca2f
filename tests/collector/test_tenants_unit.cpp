// The pure parts of tools as tenants: the quota month and its reset, and the limits' syntax.
#include <catch2/catch.hpp>

#include "tk/collector/tenants.hpp"
#include "tk/common/clock.hpp"

TEST_CASE("tenants: the quota month and its reset are UTC calendar months", "[unit]") {
    constexpr std::int64_t kDec31Late = 1'798'761'599'999;  // 2026-12-31 23:59:59.999 UTC
    constexpr std::int64_t kJan1 = 1'798'761'600'000;       // 2027-01-01 00:00:00 UTC
    CHECK(tk::collector::quota_month(kDec31Late) == "2026-12-01");
    CHECK(tk::collector::quota_month(kJan1) == "2027-01-01");
    CHECK(tk::utc_next_month_start_ms(kDec31Late) == kJan1);
    CHECK(tk::utc_month_start_ms(kJan1) == kJan1);
    CHECK(tk::utc_next_month_start_ms(kJan1) == 1'801'440'000'000);              // 2027-02-01
    CHECK(tk::utc_next_month_start_ms(1'835'395'200'000) == 1'835'481'600'000);  // 2028-02-29 -> 2028-03-01
    CHECK(tk::collector::quota_month(0) == "1970-01-01");
}

TEST_CASE("tenants: limits are whole numbers from a minimum, or none", "[unit]") {
    using tk::collector::parse_limit;
    CHECK(parse_limit("30", 1)->value() == 30);
    CHECK(parse_limit("0", 0)->value() == 0);
    CHECK_FALSE(parse_limit("none", 1)->has_value());
    CHECK_FALSE(parse_limit("forever", 1)->has_value());
    CHECK(parse_limit("0", 1).error() == "must be at least 1, got 0");
    CHECK(parse_limit("12x", 0).error() == "expected a whole number or \"none\", got \"12x\"");
    CHECK_FALSE(parse_limit("", 0));
    CHECK_FALSE(parse_limit("-5", 0));
}
