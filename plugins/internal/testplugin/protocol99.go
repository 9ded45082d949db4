//go:build testplugin_protocol99

package main

// protocol is a version no host speaks, for the handshake's tests.
const protocol = 99
