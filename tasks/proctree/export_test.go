package proctree

// KillCgroup is killCgroup, for the tests.
var KillCgroup = killCgroup
