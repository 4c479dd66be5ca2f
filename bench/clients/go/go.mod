module benchclientgo

go 1.19

require github.com/telemetry-kit/telemetry-kit/client/go v0.0.0

replace github.com/telemetry-kit/telemetry-kit/client/go => ../../../client/go
