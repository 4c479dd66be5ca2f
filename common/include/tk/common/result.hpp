#pragma once
/// tk::Result<T>: a value, or an error that says what went wrong. For failures that belong in a
/// function's signature (the project's rule: exceptions only for start-up and programmer errors).
/// A small stand-in for C++23's std::expected<T, std::string>.
///
///     tk::Result<int> parse(std::string_view s);      // return 42;  or  return tk::Error{"not a number"};
///     tk::Result<void> write();                       // return {};  or  return tk::Error{"disk full"};
///     if (auto n = parse(s)) use(*n); else log(n.error());

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tk {

/// Why an operation failed, in words for a log line or `tk status`.
struct Error {
    std::string message;
    int code = 0;  ///< for a caller that tells failures apart (an exit code, an errno); else 0
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit on purpose
    Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

    bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    /// The value; asking a failed result for it is a programmer error (std::bad_variant_access).
    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    /// By value from a temporary, so `for (auto& x : f().value())` does not dangle.
    T value() && { return std::get<0>(std::move(state_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    /// The error's message; asking a successful result for it is a programmer error.
    const std::string& error() const { return failure().message; }
    /// The whole error (message and code).
    const Error& failure() const { return std::get<1>(state_); }

private:
    std::variant<T, Error> state_;
};

/// Success carries nothing: `return {};`.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit on purpose

    bool ok() const noexcept { return !error_; }
    explicit operator bool() const noexcept { return ok(); }
    const std::string& error() const { return failure().message; }
    const Error& failure() const { return error_.value(); }

private:
    std::optional<Error> error_;
};

}  // namespace tk
