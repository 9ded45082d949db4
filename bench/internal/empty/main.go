// Command empty does nothing: the floor of BenchmarkRunOneTask is its
// start, the least any Go command pays before it does anything.
package main

func main() {}
