module github.com/telemetry-kit/telemetry-kit/client/go

go 1.19
