// Package pluginpb is the Go code generated from plugin.proto, the wire
// protocol between the cairn host and its plugins (`make proto`
// regenerates it; it is committed so that a build needs no protoc). Only
// packages under plugins/ use it.
package pluginpb
