// tk::Result<T>: the project's one way for an operation to fail (docs/contributing.md).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <variant>

#include "tk/common/result.hpp"

namespace {
tk::Result<int> parse_digit(char c) {
    if (c < '0' || c > '9') return tk::Error{std::string("not a digit: ") + c};
    return c - '0';
}
tk::Result<void> check_even(int n) {
    if (n % 2 != 0) return tk::Error{"odd"};
    return {};
}
}  // namespace

TEST_CASE("Result: a value, or an error that says why") {
    const auto seven = parse_digit('7');
    REQUIRE(seven);
    CHECK(seven.ok());
    CHECK(*seven == 7);
    const auto bad = parse_digit('x');
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == "not a digit: x");
}

TEST_CASE("Result: asking for the wrong side is a programmer error, not undefined behaviour") {
    CHECK_THROWS_AS(parse_digit('x').value(), std::bad_variant_access);
    CHECK_THROWS_AS(parse_digit('1').error(), std::bad_variant_access);
    CHECK_THROWS_AS(check_even(2).error(), std::bad_optional_access);
}

TEST_CASE("Result<void>: success carries nothing") {
    CHECK(check_even(4).ok());
    const auto odd = check_even(3);
    REQUIRE_FALSE(odd);
    CHECK(odd.error() == "odd");
}

TEST_CASE("Result: holds move-only values and hands them out of a temporary") {
    auto make = []() -> tk::Result<std::unique_ptr<int>> { return std::make_unique<int>(5); };
    std::unique_ptr<int> owned = make().value();
    REQUIRE(owned);
    CHECK(*owned == 5);
    auto result = make();
    CHECK(**result == 5);
}

TEST_CASE("Result: an error may carry a code for a caller that tells failures apart") {
    const tk::Result<int> refused = tk::Error{"no agent", 3};
    REQUIRE_FALSE(refused);
    CHECK(refused.failure().code == 3);
    CHECK(refused.failure().message == "no agent");
    CHECK(parse_digit('x').failure().code == 0);
}
