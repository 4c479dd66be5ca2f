#pragma once
/// Environment variables whose presence marks a CI run. The client reports which are set;
/// the agent decides (DESIGN.md: CI events are dropped unless the tool allows CI).

#include <array>

namespace tk {

inline constexpr std::array<const char*, 18> kCiVariables = {
    "CI",
    "CONTINUOUS_INTEGRATION",
    "BUILD_NUMBER",
    "RUN_ID",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "TF_BUILD",
    "APPVEYOR",
    "CODEBUILD_BUILD_ID",
    "BITBUCKET_BUILD_NUMBER",
    "DRONE",
    "SEMAPHORE",
    "HEROKU_TEST_RUN_ID",
};

}  // namespace tk
