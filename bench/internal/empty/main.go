// Command empty does nothing: its start, the least any Go command pays
// before it does anything, is measured beside BenchmarkRunOneTask's floor
// (runfloor).
package main

func main() {}
