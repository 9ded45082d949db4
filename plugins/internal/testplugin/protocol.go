//go:build !testplugin_protocol99

package main

import "github.com/cairnml/cairn/plugins/internal/wire"

// protocol is the wire protocol version this build speaks.
const protocol = wire.ProtocolVersion
